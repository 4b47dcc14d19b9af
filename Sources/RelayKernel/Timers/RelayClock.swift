public import Foundation
import Synchronization

/// The time a relay and its plugins read: `context.clock` in a plugin.
///
/// It answers wall-clock time (what crosses nodes and the wire: expiry times, timestamps) and a
/// monotonic instant (what timers and throttles measure), both from one source, so a test can
/// move time forward and see TTLs expire and timers fire without waiting. A plugin reads time
/// only here, never from `Date()` or `ContinuousClock.now`.
///
/// ```swift
/// let expiresAt = context.clock.millisecondsSince1970 + 60_000
/// ```
public final class RelayClock: Sendable {
    /// The system's clocks; what a running relay uses.
    public static let system = RelayClock(manualStart: nil)

    /// For a manual clock: wall time at creation (milliseconds since 1970).
    private let manualStart: Double?
    /// How far a manual clock was moved.
    private let offset = Mutex(Duration.zero)
    /// The monotonic instant a manual clock started at.
    private let origin = ContinuousClock.now

    private init(manualStart: Double?) {
        self.manualStart = manualStart
    }

    /// A clock that stands still until ``advance(by:)`` moves it, starting at `millisecondsSince1970`
    /// (by default the system's time now, so tokens it stamps still verify); for tests.
    public static func manual(startingAt millisecondsSince1970: Int64? = nil) -> RelayClock {
        RelayClock(manualStart: millisecondsSince1970.map(Double.init) ?? Self.system.preciseMillisecondsSince1970.rounded())
    }

    /// Whether this clock only moves when ``advance(by:)`` is called.
    public var isManual: Bool { self.manualStart != nil }

    /// Wall-clock milliseconds since 1970, with fractions (to the microsecond on the system clock).
    public var preciseMillisecondsSince1970: Double {
        guard let manualStart else { return (Date().timeIntervalSince1970 * 1_000_000).rounded() / 1000 }
        return manualStart + self.offset.withLock { $0 }.milliseconds
    }

    /// Wall-clock whole milliseconds since 1970 (rounded).
    public var millisecondsSince1970: Int64 { Int64(self.preciseMillisecondsSince1970.rounded()) }

    /// Wall-clock whole seconds since 1970 (rounded down), as JWT `iat`/`exp` carry them.
    public var secondsSince1970: Int64 { Int64((self.preciseMillisecondsSince1970 / 1000).rounded(.down)) }

    /// Wall-clock now as a `Date`.
    public var date: Date { Date(timeIntervalSince1970: self.preciseMillisecondsSince1970 / 1000) }

    /// The monotonic instant timers and throttles measure from.
    public var instant: ContinuousClock.Instant {
        guard self.isManual else { return ContinuousClock.now }
        return self.origin + self.offset.withLock { $0 }
    }

    /// Moves a manual clock forward by `duration` (wall time and instant alike). The system
    /// clock cannot be moved: calling this on it is a programming error.
    public func advance(by duration: Duration) {
        precondition(self.isManual, "the system clock cannot be advanced; use RelayClock.manual()")
        precondition(duration >= .zero, "a clock only moves forward")
        self.offset.withLock { $0 += duration }
    }
}

extension Duration {
    /// This duration in milliseconds, with fractions.
    fileprivate var milliseconds: Double {
        let (seconds, attoseconds) = self.components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }
}
