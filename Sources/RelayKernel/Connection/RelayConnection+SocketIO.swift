import Logging
import NIOCore
import Synchronization

/// The `socketio` codec's side of a connection: Engine.IO v4 handshake and heartbeat, and
/// Socket.IO v5 namespaces, events, binary attachments and acknowledgements.
extension RelayConnection {
    /// Sends the Engine.IO open packet and waits for a namespace CONNECT.
    func admitSocketIO() async -> Bool {
        if self.endpoint.settings.auth != .none, let token = self.tokenFromRequest {
            guard let identity = await self.verify(token), self.acquireUserSlot(identity) else { return false }
            self.connectionIdentity.withLock { $0 = identity }
        }
        let settings = self.endpoint.settings.socketio
        let open: JSONValue = [
            "sid": .string(RandomToken.make(length: 20)),
            "upgrades": [],
            "pingInterval": .int(settings.pingInterval),
            "pingTimeout": .int(settings.pingTimeout),
            "maxPayload": .int(self.limits.maxMessageBytes),
        ]
        self.control.sendDirect(.raw("0" + Self.orderedOpenPacket(open)))
        self.watch.withLock { watch in
            watch.authDeadline = .now + .milliseconds(settings.connectTimeout)
            watch.lastPingSent = .now
        }
        return true
    }

    /// The open packet with its keys in the reference server's order.
    private static func orderedOpenPacket(_ value: JSONValue) -> String {
        let keys = ["sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"]
        return "{" + keys.map { key in "\"\(key)\":" + (value[key] ?? .null).jsonText }.joined(separator: ",") + "}"
    }

    /// Server pings every `pingInterval`; a client that does not answer within `pingTimeout` is dropped.
    func engineIOHeartbeat(_ watch: Watch, now: ContinuousClock.Instant, settings: SocketIOSettings) {
        guard let lastPing = watch.lastPingSent else { return }
        if watch.pongPending {
            if now - lastPing > .milliseconds(settings.pingTimeout) {
                self.logger.debug("Socket.IO ping timed out")
                self.control.channel.close(promise: nil)
            }
        } else if now - lastPing >= .milliseconds(settings.pingInterval) {
            self.watch.withLock { watch in
                watch.lastPingSent = now
                watch.pongPending = true
            }
            self.control.sendDirect(.raw("2"))
        }
    }

    func handleSocketIO(_ kind: RelayMessage.Kind, _ buffer: ByteBuffer, reader: inout ReaderState) async {
        if kind == .binary {
            guard var pending = reader.pendingBinary else {
                self.control.requestClose(CloseReason(.protocolError, "binary frame without a binary packet"))
                return
            }
            pending.attachments.append(buffer)
            guard pending.attachments.count == pending.packet.attachments else {
                reader.pendingBinary = pending
                return
            }
            reader.pendingBinary = nil
            await self.socketIOEvent(pending.packet, attachments: pending.attachments, reader: &reader)
            return
        }
        guard reader.pendingBinary == nil else {
            self.control.requestClose(CloseReason(.protocolError, "expected a binary attachment"))
            return
        }
        let inbound: SocketIOPacket.Inbound
        do {
            inbound = try SocketIOPacket.parse(buffer)
        } catch {
            self.metrics.error(.invalidMessage)
            self.control.requestClose(CloseReason(.protocolError, "malformed Socket.IO packet: \(error.reason)"))
            return
        }
        switch inbound {
        case .close:
            self.leftCleanly.store(true, ordering: .relaxed)
            self.control.requestClose(CloseReason(.normal, "closed by client"))
        case .ping(let payload):
            self.control.sendDirect(.raw("3" + payload))
        case .pong:
            self.watch.withLock { $0.pongPending = false }
        case .upgrade, .noop:
            break
        case .message(let packet):
            switch packet.kind {
            case .connect:
                await self.socketIOConnect(packet)
            case .disconnect:
                await self.socketIODisconnect(packet.namespace)
            case .event, .binaryEvent:
                if packet.attachments > 0 {
                    reader.pendingBinary = (packet, [])
                } else {
                    await self.socketIOEvent(packet, attachments: [], reader: &reader)
                }
            case .ack, .binaryAck, .connectError:
                // The relay never asks clients for acknowledgements; nothing waits for these.
                break
            }
        }
    }

    private func socketIOConnect(_ packet: SocketIOPacket) async {
        let namespace = packet.namespace
        guard self.endpoint.settings.socketio.namespaces.contains(namespace) else {
            self.control.sendDirect(SocketIOPacket.text(.connectError, namespace: namespace, payload: Self.errorPayload("Invalid namespace")))
            return
        }
        guard self.sessions.withLock({ $0[namespace] }) == nil else { return }
        self.watch.withLock { $0.authDeadline = nil }
        let handshake = packet.payload.flatMap { try? JSONParser.parse($0.readableBytesView).objectValue } ?? [:]
        var identity = self.connectionIdentity.withLock { $0 } ?? .anonymous
        if identity == .anonymous, self.endpoint.settings.auth != .none, let token = handshake["token"]?.stringValue {
            let refuse: (String) -> Void = { reason in
                self.control.sendDirect(SocketIOPacket.text(.connectError, namespace: namespace, payload: Self.errorPayload(reason)))
            }
            guard let verified = await self.verify(token, before: refuse) else { return }
            guard self.acquireUserSlot(verified) else {
                refuse("too many connections for this user")
                return
            }
            self.connectionIdentity.withLock { $0 = verified }
            identity = verified
        }
        if self.endpoint.settings.auth == .required, identity == .anonymous {
            self.control.sendDirect(SocketIOPacket.text(.connectError, namespace: namespace, payload: Self.errorPayload("authentication required")))
            self.control.requestClose(CloseReason(.policyViolation, "authentication required"))
            return
        }
        await self.openFresh(identity: identity, resumeAttempted: false, namespace: namespace, handshake: handshake)
    }

    private func socketIODisconnect(_ namespace: String) async {
        guard let session = self.sessions.withLock({ $0.removeValue(forKey: namespace) }) else { return }
        self.control.detach(namespace: namespace)
        await self.finish(session, clean: true)
    }

    private func socketIOEvent(_ packet: SocketIOPacket, attachments: [ByteBuffer], reader: inout ReaderState) async {
        guard let session = self.sessions.withLock({ $0[packet.namespace] }) else {
            self.control.requestClose(CloseReason(.protocolError, "event for a namespace that is not connected"))
            return
        }
        guard reader.bucket.take() else {
            self.rateLimited(ref: nil, session: session, lastNotice: &reader.lastRateNotice)
            return
        }
        guard let payload = packet.payload, let elements = JSONArrayScanner.elements(of: payload),
            let type = elements.first.flatMap({ try? JSONParser.parse($0.readableBytesView) })?.stringValue
        else {
            self.control.requestClose(CloseReason(.protocolError, "malformed event"))
            return
        }
        let arguments = Array(elements.dropFirst())
        let body = arguments.first.flatMap { try? JSONParser.parse($0.readableBytesView).objectValue } ?? [:]
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
        if case .rateLimited(let limited) = await self.dispatch(message, session: session, reader: &reader) {
            self.rateLimited(ref: limited, session: session, lastNotice: &reader.lastRateNotice)
        }
    }
}
