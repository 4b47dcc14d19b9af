import Foundation

/// Reconnect delays: exponential backoff with full jitter, capped.
///
/// Attempt `n` (0 for the first retry) waits a uniformly random time in
/// `0 ... min(maximum, initial · factorⁿ)`, so clients that lost the relay together do not come
/// back together.
public struct Backoff: Sendable, Hashable {
    /// The window of the first retry.
    public var initial: Duration
    /// The largest window.
    public var maximum: Duration
    /// How much the window grows per failed attempt.
    public var factor: Double

    /// Backoff with the given bounds (defaults: 250 ms, growing ×2, capped at 10 s).
    public init(initial: Duration = .milliseconds(250), maximum: Duration = .seconds(10), factor: Double = 2) {
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
    }

    /// The upper bound of attempt `attempt`'s delay: `min(maximum, initial · factor^attempt)`.
    public func window(attempt: Int) -> Duration {
        let seconds = min(Self.seconds(self.maximum), Self.seconds(self.initial) * pow(self.factor, Double(max(0, attempt))))
        return .nanoseconds(Int64((seconds * 1e9).rounded()))
    }

    /// A delay for attempt `attempt`: uniformly random in `0 ... window(attempt:)`.
    public func delay(attempt: Int, using generator: inout some RandomNumberGenerator) -> Duration {
        let window = self.window(attempt: attempt)
        let nanoseconds = Int64(Self.seconds(window) * 1e9)
        return .nanoseconds(nanoseconds > 0 ? Int64.random(in: 0...nanoseconds, using: &generator) : 0)
    }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
