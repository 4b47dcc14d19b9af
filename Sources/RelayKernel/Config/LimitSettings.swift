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
    /// Origins allowed to upgrade, and to call the REST API from a browser (see ``OriginPattern``).
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
    init(from decoder: any Decoder, base: LimitSettings) throws {
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
        // Only what this block sets is checked; inherited values were checked where they were set.
        func check(_ key: Keys, _ valid: Bool, _ message: String) {
            if fields.isPresent(key), !valid { fields.invalid(key, message) }
        }
        check(.maxMessageBytes, self.maxMessageBytes >= 16, "must be at least 16")
        check(.maxMessageBytes, self.maxMessageBytes <= 64 << 20, "must be at most 67108864")
        check(.messagesPerSecond, self.messagesPerSecond >= 0, "must not be negative")
        check(.burst, self.burst >= 1, "must be at least 1")
        check(.queueMessages, self.queueMessages >= 1, "must be at least 1")
        check(.queueBytes, self.queueBytes >= 1024, "must be at least 1024")
        check(.writeTimeout, self.writeTimeout > 0, "must be positive")
        if fields.isPresent(.allowedOrigins) {
            for origin in self.allowedOrigins where OriginPattern(origin) == nil {
                fields.invalid(
                    .allowedOrigins,
                    "'\(origin)' is not an origin pattern: scheme://host[:port] with host exact or '*.' + domain, port digits or '*' (IDNs in xn-- form), or null, or *"
                )
            }
        }
        try fields.finish()
    }

    public init(from decoder: any Decoder) throws {
        try self.init(from: decoder, base: LimitSettings())
    }
}
