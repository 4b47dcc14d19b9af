/// Settings of a `pubsub` instance.
public struct PubSubConfiguration: Decodable, Sendable {
    /// Deliver a publish to its sender too.
    public var echo = false
    /// Announce `joined` and `left` to a topic's subscribers.
    public var presence = false
    /// Allow publishing to a topic without subscribing to it.
    public var openPublish = false
    /// Longest topic name.
    public var maxTopicLength = 128

    enum CodingKeys: String, CodingKey {
        case echo, presence, openPublish, maxTopicLength
    }

    public init() {}

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.echo = try container.decodeIfPresent(Bool.self, forKey: .echo) ?? self.echo
        self.presence = try container.decodeIfPresent(Bool.self, forKey: .presence) ?? self.presence
        self.openPublish = try container.decodeIfPresent(Bool.self, forKey: .openPublish) ?? self.openPublish
        self.maxTopicLength = try container.decodeIfPresent(Int.self, forKey: .maxTopicLength) ?? self.maxTopicLength
        guard self.maxTopicLength > 0 else {
            throw DecodingError.dataCorruptedError(forKey: .maxTopicLength, in: container, debugDescription: "must be positive")
        }
    }
}
