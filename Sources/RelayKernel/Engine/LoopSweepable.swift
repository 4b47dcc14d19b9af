import Foundation
import NIOCore

/// Something on an event loop with deadlines (time-outs, heartbeats) that the loop's one timer
/// sweep checks, instead of a timer of its own.
protocol LoopSweepable: AnyObject {
    /// Checks the deadlines against `time`; runs on the event loop.
    func sweep(at time: SweepTime)
}

/// The clocks at one sweep, read once for every member.
struct SweepTime {
    /// Monotonic time, for time-outs.
    var now: NIODeadline
    /// Seconds since 1970, for token expiry.
    var wallClock: Double

    /// The clocks now.
    static func current() -> SweepTime {
        SweepTime(now: .now(), wallClock: Date().timeIntervalSince1970)
    }
}
