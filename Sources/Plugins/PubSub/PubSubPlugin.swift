public import RelayKernel

/// Topics and direct messages: `subscribe`, `unsubscribe`, `publish`, `direct`.
///
/// A small, generic plugin on the kernel's public API only; see `docs/plugins/pubsub.md`.
public struct PubSubPlugin: RelayPlugin {
    public static let name = "pubsub"
    public static let messageTypes: [String]? = ["subscribe", "unsubscribe", "publish", "direct"]

    let configuration: PubSubConfiguration

    public init(configuration: PubSubConfiguration, setup: inout PluginSetup) throws {
        self.configuration = configuration
        let maxTopicLength = configuration.maxTopicLength
        // Server-side publish for the product's backend, guarded by the server API key.
        setup.http("POST", "/api/\(setup.instanceName)/topics/:topic/publish") { request, context in
            try context.requireAPIKey(request)
            let topic = request.parameters["topic"] ?? ""
            guard !topic.isEmpty, topic.count <= maxTopicLength else {
                throw RelayError(.invalidMessage, "'topic' must be 1 to \(maxTopicLength) characters")
            }
            guard let data = try request.jsonObject()["data"] else { throw RelayError.invalidField("data", expected: "present") }
            let delivered = context.publish(.json(type: "message", ["topic": .string(topic), "from": .null, "data": data]), to: topic)
            return .json(["delivered": .int(delivered)])
        }
    }

    public func handle(_ message: RelayMessage, context: PluginContext) async throws {
        let sender = message.sender.id
        switch message.type {
        case "subscribe":
            let topic = try self.topic(of: message)
            context.join(topic, client: sender)
            context.reply(.json(type: "subscribed", ["topic": .string(topic)]))
            if self.configuration.presence {
                context.publish(.json(type: "joined", ["topic": .string(topic), "clientId": .string(sender.rawValue)]), to: topic, except: sender)
            }
        case "unsubscribe":
            let topic = try self.topic(of: message)
            context.leave(topic, client: sender)
            context.reply(.json(type: "unsubscribed", ["topic": .string(topic)]))
            if self.configuration.presence {
                context.publish(.json(type: "left", ["topic": .string(topic), "clientId": .string(sender.rawValue)]), to: topic)
            }
        case "publish":
            let topic = try self.topic(of: message)
            let data = try message.value("data")
            guard self.configuration.openPublish || context.isMember(sender, of: topic) else {
                throw RelayError(.forbidden, "subscribe to '\(topic)' before publishing to it")
            }
            let outbound = OutboundMessage.json(
                type: "message",
                ["topic": .string(topic), "from": .string(sender.rawValue), "data": data]
            )
            context.publish(outbound, to: topic, except: self.configuration.echo ? nil : sender)
        case "direct":
            let target = ClientID(try message.string("to"))
            let data = try message.value("data")
            guard await context.findClient(target) != nil else { throw RelayError(.notFound, "no client '\(target)'") }
            context.send(.json(type: "direct", ["from": .string(sender.rawValue), "data": data]), to: target)
        default:
            throw RelayError(.unknownType, "pubsub does not handle '\(message.type)'")
        }
    }

    public func clientLeft(_ client: ClientInfo, context: PluginContext) async {
        guard self.configuration.presence else { return }
        for topic in context.rooms(of: client.id) {
            context.publish(.json(type: "left", ["topic": .string(topic), "clientId": .string(client.id.rawValue)]), to: topic, except: client.id)
        }
    }

    private func topic(of message: RelayMessage) throws(RelayError) -> String {
        let topic = try message.string("topic")
        guard !topic.isEmpty, topic.count <= self.configuration.maxTopicLength else {
            throw RelayError(.invalidMessage, "'topic' must be 1 to \(self.configuration.maxTopicLength) characters")
        }
        return topic
    }
}
