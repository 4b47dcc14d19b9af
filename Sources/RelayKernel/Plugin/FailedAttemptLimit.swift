/// How many failed attempts (a wrong pairing code, a wrong password) one client address may
/// make in a window, across REST and WebSocket and, in a cluster, across nodes (the counts live
/// in the shared store). Beyond it every attempt from that address is refused with
/// `rate_limited` (HTTP 429) and a retry time, until the window that began with its first
/// failure ends. See ``PluginContext/limitingFailedAttempts(_:from:limit:failureCodes:_:)``.
public struct FailedAttemptLimit: Sendable, Equatable {
    /// Failed attempts allowed per window.
    public var failures: Int
    /// The window, from an address's first failure.
    public var window: Duration

    /// A limit of `failures` per `window` (default: 10 per minute).
    public init(failures: Int = 10, window: Duration = .seconds(60)) {
        self.failures = failures
        self.window = window
    }
}
