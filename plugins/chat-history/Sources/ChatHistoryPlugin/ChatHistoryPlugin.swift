// `Logging` comes with `RelayKernel` (its `PluginContext.logger` is a swift-log `Logger`); with
// `MemberImportVisibility` on, calling the logger needs the module imported in this file.
import Logging
public import RelayKernel

/// Chat rooms with a bounded message history: `chat.join`, `chat.say`, `chat.leave`.
///
/// Written against the kernel's public API only (`RelayKernel`), as every out-of-tree plugin is.
///
/// | client sends | the relay answers |
/// | --- | --- |
/// | `{"type":"chat.join","room":"r"}` | the sender: `{"type":"chat.history","room":"r","messages":[…]}` (the last `historySize`, oldest first) |
/// | `{"type":"chat.say","room":"r","text":"…"}` | every member, sender included: `{"type":"chat.message","room","from","user","text","seq"}` |
/// | `{"type":"chat.leave","room":"r"}` | every member, sender included: `{"type":"chat.left","room","clientId","user"}` |
///
/// A client that leaves the relay for good is announced with `chat.left` in each room it was in.
/// Errors: saying in a room not joined is `forbidden`, text over `maxTextLength` is `too_large`,
/// leaving a room not joined is `not_found`, a bad `room` or `text` is `invalid_message`.
///
/// REST: `GET <httpPrefix>/rooms/:room/history` with the server API key answers
/// `{"room":"r","messages":[…]}`.
///
/// A member may see a message both in `chat.history` and as a `chat.message` when it was said
/// while the member joined; `seq` tells them apart.
public struct ChatHistoryPlugin: RelayPlugin {
    public static let name = "chat-history"

    let configuration: ChatHistoryConfiguration
    let history: ChatHistory

    public init(configuration: ChatHistoryConfiguration, setup: inout PluginSetup) throws {
        self.configuration = configuration
        let history = ChatHistory(size: configuration.historySize, ttl: configuration.historyTTL)
        self.history = history
        setup.http("GET", configuration.historyRoute) { request, context in
            try context.requireAPIKey(request)
            guard let room = request.parameters["room"], !room.isEmpty, room.count <= configuration.maxRoomLength else {
                throw RelayError(.invalidMessage, "room names are 1 to \(configuration.maxRoomLength) characters")
            }
            let messages = try await history.messages(in: room, from: context.store)
            return .json(["room": .string(room), "messages": .array(messages.map(\.json))])
        }
    }

    public func handle(_ message: RelayMessage, context: PluginContext) async throws {
        switch message.type {
        case "chat.join":
            try await self.join(message, context: context)
        case "chat.say":
            try await self.say(message, context: context)
        case "chat.leave":
            try self.leave(message, context: context)
        default:
            throw RelayError(.unknownType, "chat-history does not handle '\(message.type)'")
        }
    }

    public func clientLeft(_ client: ClientInfo, context: PluginContext) async {
        for room in context.rooms(of: client.id) {
            context.publish(Self.left(room, client: client), to: room, except: client.id)
        }
    }

    // MARK: Messages

    private func join(_ message: RelayMessage, context: PluginContext) async throws {
        let room = try self.room(of: message)
        // Join before reading, so a message said meanwhile is seen at least once (by `seq`).
        context.join(room, client: message.sender.id)
        let messages = try await self.history.messages(in: room, from: context.store)
        context.reply(.json(type: "chat.history", ["room": .string(room), "messages": .array(messages.map(\.json))]))
    }

    private func say(_ message: RelayMessage, context: PluginContext) async throws {
        let room = try self.room(of: message)
        let text = try message.string("text")
        let sender = message.sender
        guard context.isMember(sender.id, of: room) else {
            throw RelayError(.forbidden, "join '\(room)' before saying something in it")
        }
        guard !text.isEmpty else { throw RelayError(.invalidMessage, "'text' must not be empty") }
        let limit = self.configuration.maxTextLength
        guard text.utf8.count <= limit || text.count <= limit else {
            throw RelayError(.tooLarge, "'text' is over \(limit) characters")
        }
        let entry = try await self.history.append(to: room, from: sender.id, user: sender.userId, text: text, in: context.store)
        context.logger.debug("chat message stored", metadata: ["relay.room.id": "\(room)", "chat.seq": "\(entry.seq)"])
        context.publish(
            .json(
                type: "chat.message",
                [
                    "room": .string(room), "from": .string(sender.id.rawValue), "user": sender.userId.map(JSONValue.string) ?? .null,
                    "text": .string(text), "seq": .int(entry.seq),
                ]
            ),
            to: room
        )
    }

    private func leave(_ message: RelayMessage, context: PluginContext) throws {
        let room = try self.room(of: message)
        let sender = message.sender
        guard context.isMember(sender.id, of: room) else { throw RelayError(.notFound, "not in room '\(room)'") }
        // Published before leaving: the sender's copy is its acknowledgement.
        context.publish(Self.left(room, client: sender), to: room)
        context.leave(room, client: sender.id)
    }

    // MARK: Helpers

    private func room(of message: RelayMessage) throws(RelayError) -> String {
        let room = try message.string("room")
        guard !room.isEmpty, room.count <= self.configuration.maxRoomLength else {
            throw RelayError(.invalidMessage, "'room' must be 1 to \(self.configuration.maxRoomLength) characters")
        }
        return room
    }

    private static func left(_ room: String, client: ClientInfo) -> OutboundMessage {
        .json(
            type: "chat.left",
            ["room": .string(room), "clientId": .string(client.id.rawValue), "user": client.userId.map(JSONValue.string) ?? .null]
        )
    }
}
