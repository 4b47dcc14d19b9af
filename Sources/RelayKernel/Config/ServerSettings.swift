/// `server:` — the listener, time-outs, resume and logging.
public struct ServerSettings: Sendable, Equatable {
    /// Bind address.
    public var host = "0.0.0.0"
    /// Port (0 picks a free one).
    public var port = 8080
    /// Certificate and key for TLS, when set.
    public var tls: TLSSettings?
    /// Connection cap; beyond it new clients are closed with 1013.
    public var maxConnections = 10_000
    /// Seconds a TCP client has to send a complete upgrade request.
    public var handshakeTimeout = 10.0
    /// Server ping period in seconds; 0 disables the heartbeat.
    public var heartbeatInterval = 30.0
    /// Seconds to wait for the peer's close frame after ours.
    public var closeTimeout = 5.0
    /// Seconds SIGTERM allows for flushing queues before exit.
    public var drainTimeout = 10.0
    /// Seconds a dropped client may resume.
    public var resumeGrace = 30.0
    /// Messages kept per client for replay on resume.
    public var resumeBufferMessages = 1000
    /// Log level name.
    public var logLevel = "info"
    /// `text` or `json`.
    public var logFormat = "text"
    /// Reverse proxies (CIDR networks) whose `X-Forwarded-For` / `Forwarded` and
    /// `X-Forwarded-Proto` headers are believed; empty: the TCP peer is the client.
    public var trustedProxies: [String] = []

    /// The defaults.
    public init() {}
}

extension ServerSettings: Decodable {
    enum Keys: String, CodingKey, CaseIterable {
        case host, port, tls, maxConnections, handshakeTimeout, heartbeatInterval, closeTimeout, drainTimeout
        case resumeGrace, resumeBufferMessages, logLevel, logFormat, trustedProxies
    }

    public init(from decoder: any Decoder) throws {
        let fields = ConfigFields(decoder, keys: Keys.self)
        self.host = fields.value(.host, default: self.host)
        self.port = fields.value(.port, default: self.port)
        self.tls = fields.optional(.tls)
        self.maxConnections = fields.value(.maxConnections, default: self.maxConnections)
        self.handshakeTimeout = fields.value(.handshakeTimeout, default: self.handshakeTimeout)
        self.heartbeatInterval = fields.value(.heartbeatInterval, default: self.heartbeatInterval)
        self.closeTimeout = fields.value(.closeTimeout, default: self.closeTimeout)
        self.drainTimeout = fields.value(.drainTimeout, default: self.drainTimeout)
        self.resumeGrace = fields.value(.resumeGrace, default: self.resumeGrace)
        self.resumeBufferMessages = fields.value(.resumeBufferMessages, default: self.resumeBufferMessages)
        self.logLevel = fields.value(.logLevel, default: self.logLevel)
        self.logFormat = fields.value(.logFormat, default: self.logFormat)
        self.trustedProxies = fields.value(.trustedProxies, default: self.trustedProxies)
        for proxy in self.trustedProxies where IPNetwork(proxy) == nil {
            fields.invalid(.trustedProxies, "'\(proxy)' is not an IP address or CIDR network (10.0.0.0/8, fd00::/8)")
        }
        if !(0...65535).contains(self.port) { fields.invalid(.port, "must be 0...65535") }
        if self.maxConnections < 1 { fields.invalid(.maxConnections, "must be at least 1") }
        if !["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(self.logLevel) {
            fields.invalid(.logLevel, "must be one of trace, debug, info, notice, warning, error, critical")
        }
        if !["text", "json"].contains(self.logFormat) { fields.invalid(.logFormat, "must be text or json") }
        if self.resumeBufferMessages < 0 { fields.invalid(.resumeBufferMessages, "must not be negative") }
        for (key, value) in [
            (Keys.handshakeTimeout, self.handshakeTimeout), (.heartbeatInterval, self.heartbeatInterval),
            (.closeTimeout, self.closeTimeout), (.drainTimeout, self.drainTimeout), (.resumeGrace, self.resumeGrace),
        ] where value < 0 {
            fields.invalid(key, "must not be negative")
        }
        try fields.finish()
    }
}

/// `server.tls:` — certificate chain and private key files (PEM).
public struct TLSSettings: Sendable, Equatable, Decodable {
    /// PEM certificate chain.
    public var certificateFile: String
    /// PEM private key.
    public var keyFile: String

    enum Keys: String, CodingKey, CaseIterable { case certificateFile, keyFile }

    public init(from decoder: any Decoder) throws {
        let fields = ConfigFields(decoder, keys: Keys.self)
        self.certificateFile = fields.required(.certificateFile) ?? ""
        self.keyFile = fields.required(.keyFile) ?? ""
        try fields.finish()
    }
}
