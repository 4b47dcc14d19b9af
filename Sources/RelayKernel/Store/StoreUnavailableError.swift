/// A store (or the cluster's database) cannot be reached right now. The kernel answers the
/// client with `unavailable` (HTTP 503) instead of treating it as a plugin failure.
public struct StoreUnavailableError: Error, Sendable, CustomStringConvertible {
    /// Why, for logs.
    public let reason: String

    /// Creates the error.
    public init(_ reason: String) {
        self.reason = reason
    }

    public var description: String { "store unavailable: \(self.reason)" }
}
