import Foundation

/// The server's wall clock in milliseconds since 1970, with sub-millisecond fractions: what
/// `time_sync` answers and `startAt` is expressed in (clients compare it with their own
/// `Date.now()` / `performance.timeOrigin + performance.now()`).
enum RecordingClock {
    /// Now, in milliseconds, rounded to the microsecond.
    static var now: Double { (Date().timeIntervalSince1970 * 1_000_000).rounded() / 1000 }

    /// Now, in whole milliseconds (the seed's `timestamp` fields).
    static var milliseconds: Int64 { Int64(Self.now.rounded(.down)) }
}
