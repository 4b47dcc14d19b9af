import Foundation

/// Wall-clock times as the wire and the store carry them.
enum MLTimestamp {
    private static let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    /// ISO 8601 with milliseconds, UTC (`2025-10-26T10:30:00.000Z`).
    static func iso(milliseconds: Int64) -> String {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000).formatted(Self.style)
    }
}
