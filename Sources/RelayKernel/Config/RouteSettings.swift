/// One entry of `routes:` — which plugin instance handles a message type on an endpoint.
public struct RouteSettings: Sendable, Equatable {
    /// What happens when a recipient's outbound queue is full.
    public enum OverflowPolicy: String, Sendable, Decodable, CaseIterable {
        /// Close the recipient with 1013; it resumes and replays (control messages).
        case close
        /// Drop the oldest droppable queued message (media: latest wins).
        case dropOldest = "drop-oldest"
    }

    /// Endpoint path template.
    public var endpoint: String
    /// Type pattern (exact or glob).
    public var type: String
    /// Plugin instance name.
    public var plugin: String
    /// Claim name → accepted values.
    public var requireClaims: [String: [JSONValue]] = [:]
    /// A route-level size limit (answered with `too_large`).
    public var maxMessageBytes: Int?
    /// Overflow policy for what this route delivers.
    public var overflow = OverflowPolicy.close
    /// Tell the sender when recipients dropped its message.
    public var reportDrops = false
    /// Whether binary frames whose header names this type are accepted.
    public var binary = false
    /// A per-connection rate for this route's messages, on top of the endpoint's.
    public var messagesPerSecond: Double?
    /// Bucket size for ``messagesPerSecond`` (defaults to the rate, at least 1).
    public var burst: Int?

    /// A route with default settings.
    public init(endpoint: String, type: String, plugin: String) {
        self.endpoint = endpoint
        self.type = type
        self.plugin = plugin
    }
}

extension RouteSettings: Decodable {
    enum Keys: String, CodingKey, CaseIterable {
        case endpoint, type, plugin, requireClaims, maxMessageBytes, overflow, reportDrops, binary, messagesPerSecond, burst
    }

    public init(from decoder: any Decoder) throws {
        let fields = ConfigFields(decoder, keys: Keys.self)
        self.endpoint = fields.required(.endpoint) ?? ""
        self.type = fields.required(.type) ?? ""
        self.plugin = fields.required(.plugin) ?? ""
        let claims: [String: JSONValue] = fields.value(.requireClaims, default: [:])
        self.requireClaims = claims.mapValues { $0.arrayValue ?? [$0] }
        self.maxMessageBytes = fields.optional(.maxMessageBytes)
        let overflowText: String = fields.value(.overflow, default: OverflowPolicy.close.rawValue)
        if let policy = OverflowPolicy(rawValue: overflowText) {
            self.overflow = policy
        } else {
            fields.invalid(.overflow, "must be close or drop-oldest")
        }
        self.reportDrops = fields.value(.reportDrops, default: false)
        self.binary = fields.value(.binary, default: false)
        self.messagesPerSecond = fields.optional(.messagesPerSecond)
        self.burst = fields.optional(.burst)
        if let rate = self.messagesPerSecond, rate <= 0 { fields.invalid(.messagesPerSecond, "must be positive") }
        if let burst = self.burst, burst < 1 { fields.invalid(.burst, "must be at least 1") }
        if let limit = self.maxMessageBytes, limit < 1 { fields.invalid(.maxMessageBytes, "must be positive") }
        if fields.isPresent(.type), TypePattern(self.type) == nil { fields.invalid(.type, "is not a type pattern") }
        try fields.finish()
    }
}
