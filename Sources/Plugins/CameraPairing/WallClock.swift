import Foundation

/// Wall-clock time in milliseconds since 1970 (what `expiresAt` carries on the wire, and what
/// every node of a cluster agrees on, unlike a monotonic clock).
enum WallClock {
    static var now: Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }
}
