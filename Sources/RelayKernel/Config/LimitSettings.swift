/// `limits:` — per-connection limits; endpoints override any of them.
public struct LimitSettings: Sendable, Equatable {
    /// Largest message in bytes (inclusive, decompressed); larger closes with 1009.
    public var maxMessageBytes = 65_536
    /// Token bucket refill per second; 0 disables rate limiting.
    public var messagesPerSecond = 100.0
    /// Token bucket size.
    public var burst = 200
    /// Connections one user may hold; 0 is unlimited.
    public var connectionsPerUser = 0
    /// Connections one IP address may hold; 0 is unlimited.
    public var connectionsPerIP = 0
    /// Outbound queue bound per client, in messages.
    public var queueMessages = 1024
    /// Outbound queue bound per client, in bytes.
    public var queueBytes = 8 << 20
    /// Seconds a socket write may block before the peer is closed.
    public var writeTimeout = 10.0
    /// Origins allowed to upgrade (`*` matches within host or port).
    public var allowedOrigins = ["http://localhost:*", "http://127.0.0.1:*"]

    /// The defaults.
    public init() {}
}

extension LimitSettings: Decodable {
    enum Keys: String, CodingKey, CaseIterable {
        case maxMessageBytes, messagesPerSecond, burst, connectionsPerUser, connectionsPerIP, queueMessages, queueBytes
        case writeTimeout, allowedOrigins
    }

    /// Decodes a `limits:` block over `base` (the server-wide defaults for endpoint blocks).
    init(from decoder: any Decoder, base: LimitSettings) {
        self = base
        let fields = ConfigFields(decoder, keys: Keys.self)
        self.maxMessageBytes = fields.value(.maxMessageBytes, default: self.maxMessageBytes)
        self.messagesPerSecond = fields.value(.messagesPerSecond, default: self.messagesPerSecond)
        self.burst = fields.value(.burst, default: self.burst)
        self.connectionsPerUser = fields.value(.connectionsPerUser, default: self.connectionsPerUser)
        self.connectionsPerIP = fields.value(.connectionsPerIP, default: self.connectionsPerIP)
        self.queueMessages = fields.value(.queueMessages, default: self.queueMessages)
        self.queueBytes = fields.value(.queueBytes, default: self.queueBytes)
        self.writeTimeout = fields.value(.writeTimeout, default: self.writeTimeout)
        self.allowedOrigins = fields.value(.allowedOrigins, default: self.allowedOrigins)
        if self.maxMessageBytes < 16 { fields.invalid(.maxMessageBytes, "must be at least 16") }
        if self.maxMessageBytes > 64 << 20 { fields.invalid(.maxMessageBytes, "must be at most 67108864") }
        if self.messagesPerSecond < 0 { fields.invalid(.messagesPerSecond, "must not be negative") }
        if self.burst < 1 { fields.invalid(.burst, "must be at least 1") }
        if self.queueMessages < 1 { fields.invalid(.queueMessages, "must be at least 1") }
        if self.queueBytes < 1024 { fields.invalid(.queueBytes, "must be at least 1024") }
        if self.writeTimeout <= 0 { fields.invalid(.writeTimeout, "must be positive") }
        for origin in self.allowedOrigins where OriginPattern(origin) == nil {
            fields.invalid(.allowedOrigins, "'\(origin)' is not an origin pattern (scheme://host[:port])")
        }
    }

    public init(from decoder: any Decoder) throws {
        self.init(from: decoder, base: LimitSettings())
    }
}
