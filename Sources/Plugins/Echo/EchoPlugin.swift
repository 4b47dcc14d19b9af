public import RelayKernel

/// Echoes what clients send: a diagnostic plugin, and the server side of the published
/// Socket.IO v5 protocol test suite.
///
/// - `message` → the sender gets `message-back` with the same arguments and attachments;
/// - `message-with-ack` → acknowledged with the same arguments and attachments;
/// - on join, the client gets an `auth` event carrying its Socket.IO CONNECT payload.
public struct EchoPlugin: RelayPlugin {
    public static let name = "echo"
    public static let messageTypes: [String]? = ["message", "message-with-ack"]

    public init(configuration: NoConfiguration, setup: inout PluginSetup) throws {}

    public func clientJoined(_ client: ClientInfo, context: PluginContext) async throws -> [String: JSONValue] {
        if client.codec == "socketio" {
            context.send(.event(type: "auth", values: [.object(client.handshake)]), to: client.id)
        }
        return [:]
    }

    public func handle(_ message: RelayMessage, context: PluginContext) async throws {
        switch message.type {
        case "message":
            context.reply(.event(type: "message-back", arguments: message.arguments, attachments: message.attachments))
        case "message-with-ack":
            if !context.acknowledge(message, arguments: message.arguments, attachments: message.attachments) {
                context.reply(.event(type: "message-with-ack-back", arguments: message.arguments, attachments: message.attachments))
            }
        default:
            throw RelayError(.unknownType, "echo does not handle '\(message.type)'")
        }
    }
}
