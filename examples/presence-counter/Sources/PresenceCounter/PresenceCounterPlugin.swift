public import RelayKernel

/// Counts the clients of each room of `/ws/rooms/:room` and tells the room, once per burst of
/// joins and leaves.
public struct PresenceCounterPlugin: RelayPlugin {
    /// `plugins.<instance>.config`.
    public struct Configuration: Decodable, Sendable {
        /// Most clients one room holds; one more is refused (close 1008).
        public var maxClients = 50
        /// Seconds from the first join or leave of a burst to the one `presence` announcement.
        public var announceDelay = 1.0

        enum CodingKeys: String, CodingKey, CaseIterable { case maxClients, announceDelay }

        /// The defaults.
        public init() {}

        public init(from decoder: any Decoder) throws {
            let fields = ConfigFields(decoder, keys: CodingKeys.self)
            self.maxClients = fields.value(.maxClients, default: self.maxClients)
            self.announceDelay = fields.value(.announceDelay, default: self.announceDelay)
            fields.check(self.maxClients > 0, .maxClients, "must be positive")
            fields.check(self.announceDelay >= 0, .announceDelay, "must not be negative")
            try fields.finish()
        }
    }

    public static let name = "presence-counter"
    public static let messageTypes: [String]? = ["presence.get"]

    let configuration: Configuration

    public init(configuration: Configuration, setup: inout PluginSetup) throws {
        self.configuration = configuration
    }

    public func clientJoined(_ client: ClientInfo, context: PluginContext) async throws -> [String: JSONValue] {
        let room = Self.room(of: client)
        guard context.memberCount(of: room) < self.configuration.maxClients else {
            throw RelayError(.forbidden, "room '\(room)' is full")
        }
        context.join(room, client: client.id)
        await self.announceSoon(room, context: context)
        return ["room": .string(room)]
    }

    public func handle(_ message: RelayMessage, context: PluginContext) async throws {
        guard message.type == "presence.get" else {
            throw RelayError(.unknownType, "presence-counter does not handle '\(message.type)'")
        }
        context.reply(Self.presence(in: Self.room(of: message.sender), context: context))
    }

    public func clientLeft(_ client: ClientInfo, context: PluginContext) async {
        await self.announceSoon(Self.room(of: client), context: context)
    }

    /// The first join or leave of a burst arms one timer; the room hears the count when it fires.
    private func announceSoon(_ room: String, context: PluginContext) async {
        let delay = Duration.milliseconds(Int64(self.configuration.announceDelay * 1000))
        // A key that lives as long as the delay marks the burst (in every node's shared store).
        guard (try? await context.store.insert("burst:\(room)", true, ttl: delay)) != nil else { return }
        context.schedule(after: delay) { timerContext in
            timerContext.publish(Self.presence(in: room, context: timerContext), to: room)
        }
    }

    private static func presence(in room: String, context: PluginContext) -> OutboundMessage {
        .json(type: "presence", [
            "room": .string(room),
            "count": .int(context.memberCount(of: room)),
            "at": .int(Int(context.clock.millisecondsSince1970)),
        ])
    }

    private static func room(of client: ClientInfo) -> String {
        client.parameters["room"] ?? ""
    }
}
