import NIOCore
import NIOWebSocket

/// The `socketio` codec: Engine.IO v4 (open packet, ping/pong) and Socket.IO v5 (namespaces,
/// events, binary attachments, acknowledgements) over the WebSocket transport. An event's name
/// is the message type and its first argument the body; plugins also see every argument and
/// attachment.
final class SocketIOCodec: Codec {
    static let name = "socketio"

    /// A binary event waiting for its attachments.
    private var pendingBinary: (packet: SocketIOPacket, attachments: [ByteBuffer])?
    /// When the last Engine.IO ping went out, and whether its pong is still awaited.
    private var lastPing: NIODeadline?
    private var pongPending = false

    static func make() -> SocketIOCodec { SocketIOCodec() }

    static func sweepInterval(for endpoint: EndpointSettings) -> Duration? {
        .milliseconds(max(10, min(endpoint.socketio.pingInterval, endpoint.socketio.pingTimeout) / 4))
    }

    static func httpRefusal() -> RelayError? {
        RelayError(.invalidMessage, "only the websocket transport is supported")
    }

    // MARK: Engine.IO

    func start(_ connection: ConnectionHandler, request: UpgradeRequest) {
        guard request.query["EIO"] == "4", request.query["transport"] == "websocket" else {
            return connection.close(CloseReason(.protocolError, "Socket.IO needs EIO=4 and transport=websocket"))
        }
        if connection.endpoint.settings.auth != .none, let token = request.token {
            connection.perform { connection in
                guard await connection.authenticate(token) != nil else { return }
                (connection.codec as? SocketIOCodec)?.open(connection)
            }
        } else {
            self.open(connection)
        }
    }

    /// Sends the Engine.IO open packet and waits for a namespace CONNECT.
    private func open(_ connection: ConnectionHandler) {
        let settings = connection.endpoint.settings.socketio
        let open =
            "0{\"sid\":\"\(RandomToken.make(length: 20))\",\"upgrades\":[],\"pingInterval\":\(settings.pingInterval),"
            + "\"pingTimeout\":\(settings.pingTimeout),\"maxPayload\":\(connection.limits.maxMessageBytes)}"
        connection.sendDirect(.raw(open))
        connection.awaitAuthentication(within: .milliseconds(Int64(settings.connectTimeout)), reason: "no namespace connected in time")
        self.lastPing = .now()
    }

    /// Server pings every `pingInterval`; a client that does not answer within `pingTimeout` is dropped.
    func sweep(_ connection: ConnectionHandler, at time: SweepTime) {
        guard let lastPing else { return }
        let settings = connection.endpoint.settings.socketio
        if self.pongPending {
            if time.now - lastPing > .milliseconds(Int64(settings.pingTimeout)) { connection.abort() }
        } else if time.now - lastPing >= .milliseconds(Int64(settings.pingInterval)) {
            self.lastPing = time.now
            self.pongPending = true
            connection.sendDirect(.raw("2"))
        }
    }

    func receive(_ message: WebSocketMessage, on connection: ConnectionHandler) {
        if message.kind == .binary {
            guard var pending = self.pendingBinary else {
                return connection.close(CloseReason(.protocolError, "binary frame without a binary packet"))
            }
            pending.attachments.append(message.data)
            guard pending.attachments.count == pending.packet.attachments else {
                self.pendingBinary = pending
                return
            }
            self.pendingBinary = nil
            return self.event(pending.packet, attachments: pending.attachments, on: connection)
        }
        guard self.pendingBinary == nil else {
            return connection.close(CloseReason(.protocolError, "expected a binary attachment"))
        }
        let inbound: SocketIOPacket.Inbound
        do {
            inbound = try SocketIOPacket.parse(message.data)
        } catch {
            connection.metrics.error(.invalidMessage)
            return connection.close(CloseReason(.protocolError, "malformed Socket.IO packet: \(error.reason)"))
        }
        switch inbound {
        case .close:
            connection.clientLeft()
            connection.close(CloseReason(.normal, "closed by client"))
        case .ping(let payload):
            connection.sendDirect(.raw("3" + payload))
        case .pong:
            self.pongPending = false
        case .upgrade, .noop:
            break
        case .message(let packet):
            self.receive(packet, on: connection)
        }
    }

    func forEachFrame(of message: OutboundMessage, namespace: String, _ body: (WebSocketFrame) -> Void) {
        for frame in message.forms.socketIO(of: message, namespace: namespace.isEmpty ? "/" : namespace) {
            body(WebSocketFrame(fin: true, opcode: frame.isText ? .text : .binary, data: frame.bytes))
        }
    }

    // MARK: Socket.IO

    private func receive(_ packet: SocketIOPacket, on connection: ConnectionHandler) {
        switch packet.kind {
        case .connect:
            self.connect(packet, on: connection)
        case .disconnect:
            guard let session = connection.session(namespace: packet.namespace) else { return }
            connection.unregister(namespace: packet.namespace)
            connection.perform { await ClientLifecycle.leaveForGood(session, state: $0.state) }
        case .event, .binaryEvent:
            if packet.attachments > 0 {
                self.pendingBinary = (packet, [])
            } else {
                self.event(packet, attachments: [], on: connection)
            }
        case .ack, .binaryAck, .connectError:
            // The relay never asks clients for acknowledgements; nothing waits for these.
            break
        }
    }

    private func connect(_ packet: SocketIOPacket, on connection: ConnectionHandler) {
        let namespace = packet.namespace
        guard connection.endpoint.settings.socketio.namespaces.contains(namespace) else {
            return connection.sendDirect(SocketIOPacket.text(.connectError, namespace: namespace, payload: SocketIOPacket.errorPayload("Invalid namespace")))
        }
        guard connection.session(namespace: namespace) == nil else { return }
        connection.authenticationArrived()
        let handshake = packet.payload.flatMap { try? JSONParser.parse($0.readableBytesView).objectValue } ?? [:]
        connection.perform { connection in
            let auth = connection.endpoint.settings.auth
            var identity = connection.identity ?? .anonymous
            if identity == .anonymous, auth != .none, let token = handshake["token"]?.stringValue {
                let refuse: (String) -> Void = { reason in
                    connection.sendDirect(SocketIOPacket.text(.connectError, namespace: namespace, payload: SocketIOPacket.errorPayload(reason)))
                }
                guard let verified = await connection.authenticate(token, refusal: refuse) else { return }
                identity = verified
            }
            if auth == .required, identity == .anonymous {
                connection.sendDirect(SocketIOPacket.text(.connectError, namespace: namespace, payload: SocketIOPacket.errorPayload("authentication required")))
                return connection.refuse(.authRequired, CloseReason(.policyViolation, "authentication required"))
            }
            await SessionOpener.openFresh(connection, identity: identity, resumeAttempted: false, namespace: namespace, handshake: handshake)
        }
    }

    private func event(_ packet: SocketIOPacket, attachments: [ByteBuffer], on connection: ConnectionHandler) {
        guard let session = connection.session(namespace: packet.namespace) else {
            return connection.close(CloseReason(.protocolError, "event for a namespace that is not connected"))
        }
        guard connection.limiter.admitMessage() else { return connection.rateLimited(ref: nil, session: session) }
        guard let payload = packet.payload, let elements = JSONArrayScanner.elements(of: payload),
            let type = elements.first.flatMap({ try? JSONParser.parse($0.readableBytesView) })?.stringValue
        else {
            return connection.close(CloseReason(.protocolError, "malformed event"))
        }
        let arguments = Array(elements.dropFirst())
        let first = arguments.first.flatMap { try? JSONParser.parse($0.readableBytesView) }
        let body = first?.objectValue ?? [:]
        if type == "refresh" {
            // The kernel's own event: `emit("refresh", {token}, ack)` (or the token alone).
            let token = body["token"]?.stringValue ?? first?.stringValue
            let answer = packet.id.map(TokenRefresh.Answer.acknowledgement(id:)) ?? .message
            return TokenRefresh.refresh(connection, token: token, session: session, answer: answer)
        }
        let message = RelayMessage(
            type: type,
            body: body,
            raw: payload,
            kind: .text,
            sender: session.info,
            arguments: arguments,
            attachments: attachments,
            ackID: packet.id
        )
        connection.dispatch(message, session: session)
    }
}
