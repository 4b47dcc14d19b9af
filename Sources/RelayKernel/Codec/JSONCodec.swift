import Foundation
import NIOCore
import NIOWebSocket

/// The `json` codec: a text frame carries one JSON object with a string `type`; a binary frame
/// carries a 4-byte header length, a JSON header and a payload. The kernel answers `ping`,
/// `leave`, `auth`, `resume` and `refresh` itself; every other type goes to its route's plugin.
///
/// It keeps nothing per connection: one instance serves them all.
final class JSONCodec: Codec, Sendable {
    static let name = "json"
    private static let shared = JSONCodec()

    static func make() -> JSONCodec { Self.shared }

    func start(_ connection: ClientConnection, request: UpgradeRequest) {
        if request.query["EIO"] != nil {
            return connection.close(CloseReason(.unsupportedData, "this endpoint speaks json, not Socket.IO"))
        }
        let auth = connection.endpoint.settings.auth
        let resume = ResumeRequest(query: request.query)
        if auth != .none, let token = request.token {
            connection.perform { connection in
                guard let identity = await connection.authenticate(token) else { return }
                await SessionOpener.open(connection, identity: identity, resume: resume)
            }
        } else if auth == .required {
            connection.awaitAuthentication(within: TimeAmount(seconds: connection.settings.auth.authTimeout), reason: "authentication timed out")
        } else {
            connection.perform { await SessionOpener.open($0, identity: .anonymous, resume: resume) }
        }
    }

    func receive(_ message: WebSocketMessage, on connection: ClientConnection) {
        guard connection.limiter.admitMessage() else {
            return connection.rateLimited(ref: nil, session: connection.session())
        }
        if message.kind == .binary, !connection.endpoint.acceptsBinary {
            return connection.close(CloseReason(.unsupportedData, "this endpoint takes no binary frames"))
        }
        let decoded = JSONInboundDecoder.decode(message.kind, message.data)
        guard let session = connection.session() else { return self.beforeAuthentication(decoded, on: connection) }
        switch decoded {
        case .error(let error, let ref):
            connection.replyError(error, ref: ref, session: session)
        case .message(let type, let body, let payload):
            if message.kind == .text, self.handleKernelMessage(type, body, session: session, on: connection) { return }
            let relayMessage = RelayMessage(type: type, body: body, raw: message.data, kind: message.kind, payload: payload, sender: session.info)
            connection.dispatch(relayMessage, session: session)
        }
    }

    func forEachFrame(of message: OutboundMessage, namespace: String, sequence: Int?, _ body: (WebSocketFrame) -> Void) {
        body(WebSocketFrame(fin: true, opcode: message.kind == .text ? .text : .binary, data: message.bytes))
    }

    /// The kernel's own message types; returns whether `type` was one of them.
    private func handleKernelMessage(_ type: String, _ body: [String: JSONValue], session: ClientSession, on connection: ClientConnection) -> Bool {
        switch type {
        case "ping":
            connection.metrics.kernelMessageIn()
            connection.reply(session, .json(type: "pong", ["timestamp": .int(Int(Date().timeIntervalSince1970 * 1000))]))
        case "leave":
            connection.metrics.kernelMessageIn()
            connection.clientLeft()
            connection.close(CloseReason(.normal, "left"))
        case "auth":
            connection.metrics.kernelMessageIn()
            connection.replyError(RelayError(.invalidMessage, "already authenticated"), ref: type, session: session)
        case "resume":
            connection.metrics.kernelMessageIn()
            guard let token = body["token"]?.stringValue else {
                connection.replyError(.invalidField("token", expected: "a string"), ref: type, session: session)
                return true
            }
            let resume = ResumeRequest(token: token, lastSeen: body["lastSeen"]?.intValue ?? 0)
            connection.perform { await SessionOpener.resumeInPlace($0, resume, fresh: session) }
        case "refresh":
            TokenRefresh.refresh(connection, token: body["token"]?.stringValue, session: session, answer: .message)
        default:
            return false
        }
        return true
    }

    /// Before authentication only `{"type":"auth","token":…}` is accepted; anything else closes
    /// with 1008.
    private func beforeAuthentication(_ decoded: JSONInboundDecoder.Result, on connection: ClientConnection) {
        guard case .message(let type, let body, _) = decoded, type == "auth", let token = body["token"]?.stringValue else {
            return connection.refuse(.authRequired, CloseReason(.policyViolation, "authentication required"))
        }
        connection.metrics.kernelMessageIn()
        connection.authenticationArrived()
        connection.perform { connection in
            guard let identity = await connection.authenticate(token) else { return }
            connection.sendDirect(.json(type: "authenticated", ["userId": identity.userId.map(JSONValue.string) ?? .null]))
            await SessionOpener.open(connection, identity: identity, resume: nil)
        }
    }
}
