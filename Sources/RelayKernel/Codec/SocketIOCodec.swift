import HTTPTypes
import Hummingbird
import Metrics
import NIOCore
import NIOWebSocket

/// The `socketio` codec: Engine.IO v4 (open packet, heartbeat, the upgrade from long-polling to
/// WebSocket) and Socket.IO v5 (namespaces, events, binary attachments, acknowledgements,
/// connection-state recovery) over either transport. An event's name is the message type and
/// its first argument the body; plugins also see every argument and attachment.
final class SocketIOCodec: Codec {
    static let name = "socketio"

    /// A binary event waiting for its attachments.
    private var pendingBinary: (packet: SocketIOPacket, attachments: [ByteBuffer])?
    private var heartbeat: EngineIOHeartbeat?
    /// On a WebSocket opened to take over a long-polling session: that session, until the upgrade.
    private var probing: Probing?
    /// Connection-state recovery is on: events carry their offset.
    private var recovery = false

    static func make() -> SocketIOCodec { SocketIOCodec() }

    /// Only with connection-state recovery can a Socket.IO client come back to its session.
    var sessionsCanResume: Bool { self.recovery }

    /// A Socket.IO client leaves a namespace with a DISCONNECT packet; a transport it closes
    /// without one ("transport close") may recover, as with Socket.IO's reference server.
    var transportCloseIsLeave: Bool { false }

    static func sweepInterval(for endpoint: EndpointSettings) -> Duration? {
        .milliseconds(max(10, min(endpoint.socketio.pingInterval, endpoint.socketio.pingTimeout) / 4))
    }

    static func serveHTTP(
        _ request: Request,
        context: RelayRequestContext,
        endpoint: CompiledEndpoint,
        parameters: [String: String],
        state: RelayState
    ) async -> Response? {
        await EngineIOPolling.serve(request, context: context, endpoint: endpoint, parameters: parameters, state: state)
    }

    // MARK: Engine.IO

    func start(_ connection: ClientConnection, request: UpgradeRequest) {
        let settings = connection.endpoint.settings.socketio
        self.recovery = settings.connectionStateRecovery
        guard request.query["EIO"] == "4" else {
            return connection.close(CloseReason(.protocolError, "Socket.IO needs EIO=4"))
        }
        switch request.query["transport"] {
        case "websocket" where settings.transports.contains(.websocket):
            if let sid = request.query["sid"] { return self.probe(sid, on: connection) }
        case "polling" where connection.transport is PollingTransport:
            break
        default:
            return connection.close(CloseReason(.protocolError, "Socket.IO transport must be one of \(settings.transports.map(\.rawValue))"))
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
    private func open(_ connection: ClientConnection) {
        let settings = connection.endpoint.settings.socketio
        let polling = connection.transport as? PollingTransport
        let upgrades = polling != nil && settings.transports.contains(.websocket) ? "[\"websocket\"]" : "[]"
        let open =
            "0{\"sid\":\"\(polling?.sid ?? RandomToken.make(length: 15))\",\"upgrades\":\(upgrades),\"pingInterval\":\(settings.pingInterval),"
            + "\"pingTimeout\":\(settings.pingTimeout),\"maxPayload\":\(connection.limits.maxMessageBytes)}"
        connection.sendDirect(.raw(open))
        connection.awaitAuthentication(within: .milliseconds(Int64(settings.connectTimeout)), reason: "no namespace connected in time")
        self.startHeartbeat(connection)
    }

    private func startHeartbeat(_ connection: ClientConnection) {
        let settings = connection.endpoint.settings.socketio
        self.heartbeat = EngineIOHeartbeat(
            interval: .milliseconds(Int64(settings.pingInterval)),
            timeout: .milliseconds(Int64(settings.pingTimeout)),
            from: .now()
        )
    }

    /// Pings every `pingInterval`; drops a client that does not answer within `pingTimeout`.
    func sweep(_ connection: ClientConnection, at time: SweepTime) {
        if case .local(_, let sid)? = self.probing, connection.state.polling[sid] == nil {
            // The session ended, or another WebSocket took it over.
            self.probing = nil
            return Self.failUpgrade(connection, "no long-polling session to upgrade")
        }
        if connection.isBusy {
            // The client's pong may be among the messages waiting for the work in hand (they are
            // not read meanwhile, and a polling client's next POST waits): its silence is ours.
            self.heartbeat?.holdDeadline(at: time.now)
        }
        switch self.heartbeat?.check(at: time.now) {
        case .ping?:
            connection.sendDirect(.raw("2"))
        case .timedOut?:
            self.heartbeat = nil
            connection.abort()
        case .none?, nil:
            break
        }
    }

    func receive(_ message: WebSocketMessage, on connection: ClientConnection) {
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
        if let probing = self.probing { return self.receiveWhileProbing(inbound, probing: probing, on: connection) }
        switch inbound {
        case .close:
            connection.clientClosedTransport()
            connection.close(CloseReason(.normal, "closed by client"))
        case .ping(let payload):
            connection.sendDirect(.raw("3" + payload))
        case .pong:
            self.heartbeat?.ponged(at: .now())
        case .upgrade, .noop:
            break
        case .message(let packet):
            self.receive(packet, on: connection)
        }
    }

    func forEachFrame(of message: OutboundMessage, namespace: String, sequence: Int?, _ body: (WebSocketFrame) -> Void) {
        for (index, frame) in message.forms.socketIO(of: message, namespace: namespace.isEmpty ? "/" : namespace).enumerated() {
            if index == 0, self.recovery, let sequence, let numbered = SocketIOPacket.withOffset(frame.bytes, sequence) {
                body(WebSocketFrame(fin: true, opcode: .text, data: numbered))
            } else {
                body(WebSocketFrame(fin: true, opcode: frame.isText ? .text : .binary, data: frame.bytes))
            }
        }
    }

    // MARK: Upgrade from long-polling

    /// The long-polling session a WebSocket offers to take over.
    private enum Probing: Sendable {
        /// It is on this node.
        case local(NIOLoopBound<PollingTransport>, sid: String)
        /// Another cluster node holds it (see ``EngineIORemoteUpgrade``).
        case remote(node: String, sid: String)
    }

    /// This WebSocket offers to take over the long-polling session `sid`, here or on the cluster
    /// node its sid names: it waits for the probe.
    private func probe(_ sid: String, on connection: ClientConnection) {
        if let polling = connection.state.polling[sid] {
            self.probing = .local(polling, sid: sid)
        } else if let cluster = connection.state.runtime.hub.cluster, let node = ClusterPollingRelay.node(of: sid), node != cluster.nodeName {
            self.probing = .remote(node: node, sid: sid)
        } else {
            return Self.failUpgrade(connection, "no long-polling session to upgrade")
        }
        connection.awaitAuthentication(within: TimeAmount(EngineIORemoteUpgrade.answerTimeout), reason: "upgrade not completed in time")
    }

    /// `2probe` is answered `3probe` (and the polling session's pending poll a noop); `5` takes
    /// the session over. Anything else ends the probe.
    private func receiveWhileProbing(_ inbound: SocketIOPacket.Inbound, probing: Probing, on connection: ClientConnection) {
        switch (inbound, probing) {
        case (.ping("probe"), .local(let polling, _)):
            connection.sendDirect(.raw("3probe"))
            polling.eventLoop.execute { polling.value.upgradeProbed() }
        case (.ping("probe"), .remote(let node, let sid)):
            connection.perform { connection in
                guard await EngineIORemoteUpgrade.ask(.probe, sid: sid, node: node, connection: connection)?.status == .ok else {
                    return SocketIOCodec.failUpgrade(connection, "no long-polling session to upgrade")
                }
                connection.sendDirect(.raw("3probe"))
            }
        case (.upgrade, _):
            self.probing = nil
            connection.perform { connection in
                let taken: (handover: ClientConnection.Handover, moved: [EngineIORemoteUpgrade.Moved])?
                switch probing {
                case .local(let polling, _):
                    taken = await SocketIOCodec.takeOver(polling).map { ($0, []) }
                case .remote(let node, let sid):
                    taken = await EngineIORemoteUpgrade.takeOver(sid, from: node, connection: connection)
                }
                guard let taken else {
                    return SocketIOCodec.failUpgrade(connection, "the long-polling session ended before the upgrade")
                }
                connection.authenticationArrived()
                (connection.codec as? SocketIOCodec)?.startHeartbeat(connection)
                connection.adopt(taken.handover)
                guard await EngineIORemoteUpgrade.resume(taken.moved, on: connection) else {
                    return SocketIOCodec.failUpgrade(connection, "the Socket.IO session could not move to this node", code: .tryAgainLater)
                }
                let upgrades = connection.metrics.socketIOUpgrades
                if case .local = probing { upgrades.local.increment() } else { upgrades.remote.increment() }
            }
        case (.noop, _):
            break
        default:
            Self.failUpgrade(connection, "expected the upgrade probe")
        }
    }

    /// Closes a WebSocket that did not take its long-polling session over (counted as a failed
    /// upgrade).
    private static func failUpgrade(_ connection: ClientConnection, _ reason: String, code: CloseCode = .protocolError) {
        connection.metrics.socketIOUpgrades.failed.increment()
        connection.close(CloseReason(code, reason))
    }

    /// Asks the long-polling session to hand its client over, once it has handled what it read.
    private static func takeOver(_ polling: NIOLoopBound<PollingTransport>) async -> ClientConnection.Handover? {
        let handover = polling.eventLoop.flatSubmit {
            let promise = polling.eventLoop.makePromise(of: ClientConnection.Handover?.self)
            polling.value.connection.whenIdle { promise.succeed(polling.value.handOver()) }
            return promise.futureResult
        }
        return try? await handover.get()
    }

    // MARK: Socket.IO

    private func receive(_ packet: SocketIOPacket, on connection: ClientConnection) {
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

    private func connect(_ packet: SocketIOPacket, on connection: ClientConnection) {
        let namespace = packet.namespace
        guard connection.endpoint.settings.socketio.namespaces.contains(namespace) else {
            return connection.sendDirect(SocketIOPacket.text(.connectError, namespace: namespace, payload: SocketIOPacket.errorPayload("Invalid namespace")))
        }
        guard connection.session(namespace: namespace) == nil else { return }
        connection.authenticationArrived()
        let handshake = packet.payload.flatMap { try? JSONParser.parse($0.readableBytesView).objectValue } ?? [:]
        connection.perform { connection in
            let auth = connection.endpoint.settings.auth
            // Over long-polling a refused CONNECT leaves the Engine.IO session to the client (as
            // Socket.IO's reference server does; python-engineio stalls on a close that follows a
            // CONNECT_ERROR), until the connect time-out; a WebSocket closes with 1008.
            let closeOnRefusal = !(connection.transport is PollingTransport)
            let refuse: (String) -> Void = { reason in
                connection.sendDirect(SocketIOPacket.text(.connectError, namespace: namespace, payload: SocketIOPacket.errorPayload(reason)))
                if !closeOnRefusal, connection.sessions.isEmpty {
                    let timeout = TimeAmount.milliseconds(Int64(connection.endpoint.settings.socketio.connectTimeout))
                    connection.awaitAuthentication(within: timeout, reason: "no namespace connected in time")
                }
            }
            var identity = connection.identity ?? .anonymous
            if identity == .anonymous, auth != .none, let token = handshake["token"]?.stringValue {
                guard let verified = await connection.authenticate(token, refusal: refuse, closeOnRefusal: closeOnRefusal) else { return }
                identity = verified
            }
            if auth == .required, identity == .anonymous {
                refuse("authentication required")
                if closeOnRefusal {
                    connection.refuse(.authRequired, CloseReason(.policyViolation, "authentication required"))
                } else {
                    connection.recordRefusal(.authRequired, detail: "authentication required")
                }
                return
            }
            if await SocketIOCodec.recover(handshake, namespace: namespace, identity: identity, on: connection) { return }
            await SessionOpener.openFresh(connection, identity: identity, resumeAttempted: false, namespace: namespace, handshake: handshake)
        }
    }

    /// Connection-state recovery: a CONNECT carrying the `pid` (and `offset`) of a session still
    /// kept (here or on another node) resumes it with its `sid`, its rooms and every event it
    /// missed after `offset`, in order, once. `false` when it cannot: the client gets a fresh
    /// session (and a new `pid`, so it sees `recovered === false`).
    private static func recover(_ handshake: [String: JSONValue], namespace: String, identity: VerifiedIdentity, on connection: ClientConnection) async -> Bool {
        guard connection.endpoint.settings.socketio.connectionStateRecovery, let pid = handshake["pid"]?.stringValue else { return false }
        let offset = handshake["offset"]?.stringValue.flatMap { Int($0) } ?? 0
        let request = ResumeRequest(token: pid, lastSeen: offset)
        guard let resumed = await SessionOpener.resume(connection, request, identity: identity, namespace: namespace, keepToken: true) else {
            return false
        }
        let greeting = SocketIOPacket.connected(resumed.session, namespace: namespace, recovery: true)
        SessionOpener.attach(resumed, to: connection, namespace: namespace, greeting: greeting)
        return true
    }

    private func event(_ packet: SocketIOPacket, attachments: [ByteBuffer], on connection: ClientConnection) {
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
