import RelayKernel

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

    enum CodingKeys: String, CodingKey, CaseIterable {
        case echo, presence, openPublish, maxTopicLength
    }

    public init() {}

    public init(from decoder: any Decoder) throws {
        let fields = ConfigFields(decoder, keys: CodingKeys.self)
        self.echo = fields.value(.echo, default: self.echo)
        self.presence = fields.value(.presence, default: self.presence)
        self.openPublish = fields.value(.openPublish, default: self.openPublish)
        self.maxTopicLength = fields.value(.maxTopicLength, default: self.maxTopicLength)
        fields.check(self.maxTopicLength > 0, .maxTopicLength, "must be positive")
        try fields.finish()
    }
}
