/// Settings of a ``RelayClient``; every field has a default.
public struct RelayClientConfiguration: Sendable {
    /// How the token from ``getToken`` reaches the relay (docs/protocol.md, "Connecting").
    public enum TokenTransport: Sendable, Hashable {
        /// `Authorization: Bearer <token>` on the upgrade request. Works on every endpoint and
        /// keeps the token out of URLs (and so out of access logs).
        case header
        /// `?token=<token>` in the upgrade URL (what browsers must use).
        case query
        /// A first message `{"type":"auth","token":…}` after the upgrade, answered
        /// `authenticated` then `connected`. Only on endpoints with `auth: required`.
        case firstMessage
    }

    /// The token hook, called before every connection attempt (first connect and each
    /// reconnect), so an app hands out a fresh token each time: `{ try await auth.currentToken() }`.
    /// `nil`: connect without a token. An error it throws fails that attempt (retried with
    /// backoff).
    ///
    /// It is also called when the relay sends `token_expiring` on an open connection: its
    /// token goes out as `{"type":"refresh","token":…}` (answered `refreshed`), so the
    /// connection outlives its token. If that fails, the relay closes at the token's `exp` and
    /// the client reconnects with a token from this hook and resumes (see ``RelayClient``).
    public var getToken: (@Sendable () async throws -> String)?
    /// How the token is sent.
    public var tokenTransport: TokenTransport
    /// Extra query parameters of the upgrade URL.
    public var parameters: [String: String]
    /// Reconnect after a drop (and resume). `false`: a lost connection closes the client.
    public var reconnect: Bool
    /// Delays between attempts.
    public var backoff: Backoff
    /// Consecutive failed attempts before the client gives up (`nil`: never).
    public var maxAttempts: Int?
    /// Messages kept while disconnected; they go out, in order, once connected.
    public var queueLimit: Int
    /// Default time-out of ``RelayClient/request(_:replyType:timeout:where:)``.
    public var requestTimeout: Duration
    /// WebSocket ping period; a connection whose pong does not arrive before the next ping is
    /// dropped (and resumed). Finds dead TCP connections on mobile networks. `nil`: no pings.
    public var pingInterval: Duration?
    /// Time allowed for the TCP connection and the WebSocket upgrade of one attempt.
    public var openTimeout: Duration
    /// Largest WebSocket frame accepted from the relay, in bytes.
    public var maxFrameSize: Int
    /// How long ``RelayClient/close()`` waits for the relay to answer the close.
    public var closeTimeout: Duration

    /// Settings with the given values; the defaults are those documented in docs/clients/swift.md.
    public init(
        getToken: (@Sendable () async throws -> String)? = nil,
        tokenTransport: TokenTransport = .header,
        parameters: [String: String] = [:],
        reconnect: Bool = true,
        backoff: Backoff = Backoff(),
        maxAttempts: Int? = nil,
        queueLimit: Int = 256,
        requestTimeout: Duration = .seconds(5),
        pingInterval: Duration? = .seconds(25),
        openTimeout: Duration = .seconds(10),
        maxFrameSize: Int = 16 << 20,
        closeTimeout: Duration = .seconds(2)
    ) {
        self.getToken = getToken
        self.tokenTransport = tokenTransport
        self.parameters = parameters
        self.reconnect = reconnect
        self.backoff = backoff
        self.maxAttempts = maxAttempts
        self.queueLimit = queueLimit
        self.requestTimeout = requestTimeout
        self.pingInterval = pingInterval
        self.openTimeout = openTimeout
        self.maxFrameSize = maxFrameSize
        self.closeTimeout = closeTimeout
    }
}
