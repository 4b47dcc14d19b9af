import Logging

/// An upgrade, connection or request the relay refused: logged once at WARN (`request refused`,
/// with the reason, what failed, the path, the origin, the client address and the user where
/// known) and counted in `relay_refusals_total{reason}`. Nothing secret is logged: no token, no
/// API key, no query string.
struct Refusal {
    /// Why, as the `reason` label says it (a fixed list, so clients cannot add series).
    enum Reason: String, Sendable, CaseIterable {
        /// A WebSocket handshake that breaks RFC 6455 (HTTP 400), or HTTP that does not parse.
        case malformedUpgrade = "malformed_upgrade"
        /// A WebSocket version other than 13 (HTTP 426).
        case unsupportedVersion = "unsupported_version"
        /// No WebSocket endpoint at the path (HTTP 404).
        case unknownPath = "unknown_path"
        /// An `Origin` not on the endpoint's `allowedOrigins` (HTTP 403).
        case origin
        /// The server is shutting down (close 1001).
        case draining
        /// `server.maxConnections` reached (close 1013).
        case capacity
        /// `connectionsPerIP` reached (close 1008).
        case addressLimit = "ip_limit"
        /// `connectionsPerUser` reached (close 1008).
        case userLimit = "user_limit"
        /// A token that does not verify, or no keys to verify it with (close 1008).
        case token
        /// No authentication (or Socket.IO namespace) within the time allowed (close 1008).
        case authTimeout = "auth_timeout"
        /// A message before authentication, or an anonymous client where a token is required
        /// (close 1008).
        case authRequired = "auth_required"
        /// A plugin refused the client when it joined (close 1008).
        case joinRefused = "join_refused"
        /// A server API call without the right API key (HTTP 401).
        case apiKey = "api_key"
        /// Too many failed attempts from one address (HTTP 429 / `rate_limited`).
        case tooManyFailures = "too_many_failures"
    }

    /// Longest value of a client-chosen field (path, origin) written to the log.
    static let maximumFieldLength = 256

    var reason: Reason
    /// What failed, as the client was told.
    var detail: String
    /// The request path or the endpoint's template.
    var path: String?
    /// The `Origin` header.
    var origin: String?
    /// The client's address (proxies accounted for).
    var clientAddress: String?
    /// The user, when a token named one.
    var user: String?
    /// The scheme the client used (`http`/`https`), when a trusted proxy said.
    var forwardedScheme: String?

    /// Logs and counts the refusal.
    func record(metrics: RelayMetrics, logger: Logger) {
        metrics.refused(self.reason)
        var metadata: Logger.Metadata = [
            "relay.refusal.reason": .string(self.reason.rawValue),
            "relay.refusal.detail": .string(self.detail),
        ]
        if let path { metadata["url.path"] = .string(Self.clipped(path)) }
        if let origin { metadata["http.request.header.origin"] = .string(Self.clipped(origin)) }
        if let clientAddress { metadata["client.address"] = .string(clientAddress) }
        if let user { metadata["enduser.id"] = .string(Self.clipped(user)) }
        if let forwardedScheme { metadata["url.scheme"] = .string(forwardedScheme) }
        logger.warning("request refused", metadata: metadata)
    }

    private static func clipped(_ text: String) -> String {
        text.utf8.count <= Self.maximumFieldLength ? text : String(decoding: text.utf8.prefix(Self.maximumFieldLength), as: UTF8.self) + "…"
    }
}
