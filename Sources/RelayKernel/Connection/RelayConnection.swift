import Foundation
import HTTPTypes
import Logging
import Metrics
import NIOCore
import NIOWebSocket
import Synchronization
import WSCore

/// One WebSocket connection: authenticates, opens or resumes the client's session (one per
/// Socket.IO namespace), then reads (this task). A ``ChannelFrameWriter`` on the event loop
/// writes the sessions' queues (a writer task does for a compressed connection), and the
/// ``ConnectionWatchdog`` checks its time-outs, heartbeats and stalled writes.
///
/// The `json` codec's reading side is here; the `socketio` codec's is in
/// `RelayConnection+SocketIO.swift`.
final class RelayConnection: Sendable {
    /// What the upgrade request asked for.
    struct Request: Sendable {
        var path: String
        var query: [String: String]
        var headers: [String: String]
        var remoteAddress: String?
    }

    struct Watch {
        var authDeadline: ContinuousClock.Instant?
        var tokenExpiry: Double?
        var closeRequestedAt: ContinuousClock.Instant?
        var stalled = false
        var lastPingSent: ContinuousClock.Instant?
        var pongPending = false
    }

    let state: RelayState
    let table: RouteTable
    let endpoint: CompiledEndpoint
    let parameters: [String: String]
    let request: Request
    let control: ConnectionControl
    let peerClose = PeerClose()
    let watch = Mutex(Watch())
    let leftCleanly = Atomic<Bool>(false)
    let logger: Logger

    init(
        state: RelayState,
        table: RouteTable,
        endpoint: CompiledEndpoint,
        parameters: [String: String],
        request: Request,
        channel: any Channel,
        logger: Logger
    ) {
        self.state = state
        self.table = table
        self.endpoint = endpoint
        self.parameters = parameters
        self.request = request
        self.control = ConnectionControl(channel: channel)
        self.logger = logger.with("relay.endpoint", endpoint.settings.path)
    }

    var settings: RelayConfiguration { self.table.configuration }
    var limits: LimitSettings { self.endpoint.settings.limits }
    var metrics: RelayMetrics { self.state.metrics }
    var isSocketIO: Bool { self.endpoint.settings.codec == "socketio" }

    // MARK: Lifecycle

    func run(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async {
        await withTaskExecutorPreference(EventLoopTaskExecutor(self.control.channel.eventLoop)) {
            await self.serve(inbound: inbound, outbound: outbound)
        }
    }

    private func serve(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async {
        self.state.track(self)
        defer { self.state.untrack(self) }
        let connection = self
        await self.preparePipeline { Task { try? await connection.sendClose(outbound) } }
        if self.control.hasChannelWriter {
            await self.read(inbound)
        } else {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.writeLoop(outbound) }
                await self.read(inbound)
                group.cancelAll()
            }
        }
        self.releaseSlots()
        await self.finish()
    }

    /// Admits the connection and reads its messages, or drains a refused one.
    private func read(_ inbound: WebSocketInboundStream) async {
        if await self.admit() {
            await self.readLoop(inbound)
        } else {
            await self.drain(inbound)
        }
    }

    /// Applies the connection caps and authenticates; `false` when the connection was refused
    /// (a close was requested).
    func admit() async -> Bool {
        if !self.isSocketIO, self.request.query["EIO"] != nil {
            return self.refuse(CloseReason(.unsupportedData, "this endpoint speaks json, not Socket.IO"))
        }
        if self.isSocketIO, self.request.query["EIO"] != "4" || self.request.query["transport"] != "websocket" {
            return self.refuse(CloseReason(.protocolError, "Socket.IO needs EIO=4 and transport=websocket"))
        }
        if self.state.isDraining {
            return self.refuse(CloseReason(.goingAway, "server shutting down"))
        }
        guard self.acquireSlot("total", limit: self.settings.server.maxConnections) else {
            return self.refuse(CloseReason(.tryAgainLater, "server at capacity"))
        }
        guard self.acquireSlot("ip:\(self.request.remoteAddress ?? "unknown")", limit: self.limits.connectionsPerIP) else {
            return self.refuse(CloseReason(.policyViolation, "too many connections from this address"))
        }
        if self.isSocketIO { return await self.admitSocketIO() }
        let token = self.endpoint.settings.auth == .none ? nil : self.tokenFromRequest
        if let token {
            guard let identity = await self.verify(token), self.acquireUserSlot(identity) else { return false }
            await self.open(identity: identity)
        } else if self.endpoint.settings.auth == .required {
            self.watch.withLock { $0.authDeadline = .now + .seconds(self.settings.auth.authTimeout) }
        } else {
            await self.open(identity: .anonymous)
        }
        return true
    }

    func refuse(_ reason: CloseReason) -> Bool {
        self.control.requestClose(reason)
        return false
    }

    let slots = Mutex<[String]>([])

    /// Takes a connection slot (`total`, `ip:…`, `user:…`); a limit of 0 is unlimited.
    func acquireSlot(_ key: String, limit: Int) -> Bool {
        let acquired = key == "total" ? self.state.counter.acquireTotal(limit: limit) : self.state.counter.acquire(key, limit: limit)
        if acquired { self.slots.withLock { $0.append(key) } }
        return acquired
    }

    func releaseSlots() {
        for key in self.slots.withLock({ $0 }) {
            if key == "total" { self.state.counter.releaseTotal() } else { self.state.counter.release(key) }
        }
    }

    func acquireUserSlot(_ identity: VerifiedIdentity) -> Bool {
        guard let user = identity.userId else { return true }
        guard self.acquireSlot("user:\(user)", limit: self.limits.connectionsPerUser) else {
            self.control.requestClose(CloseReason(.policyViolation, "too many connections for this user"))
            return false
        }
        return true
    }

    var tokenFromRequest: String? {
        if let token = self.request.query["token"], !token.isEmpty { return token }
        if let authorization = self.request.headers["authorization"], authorization.lowercased().hasPrefix("bearer ") {
            return String(authorization.dropFirst(7)).trimmingSpaces
        }
        return nil
    }

    /// Verifies `token`; on failure closes with 1008, after `before` has queued any protocol
    /// frame that must precede the close (a Socket.IO CONNECT_ERROR).
    func verify(_ token: String, before refusal: ((String) -> Void)? = nil) async -> VerifiedIdentity? {
        guard let verifier = self.state.runtime.verifier() else {
            refusal?("no token keys are configured")
            self.control.requestClose(CloseReason(.policyViolation, "no token keys are configured"))
            return nil
        }
        do {
            let identity = try await verifier.verify(token)
            self.watch.withLock { $0.tokenExpiry = identity.expiresAt.map { $0 + self.settings.auth.leeway } }
            return identity
        } catch {
            refusal?(error.reason)
            self.control.requestClose(CloseReason(.policyViolation, error.reason))
            return nil
        }
    }

    /// Whether the client's permessage-deflate offer reached the upgrade (WSCore then
    /// negotiates it and must compress every frame this connection sends).
    var offersCompression: Bool {
        self.endpoint.settings.compression.enabled && self.request.headers["sec-websocket-extensions"]?.contains("permessage-deflate") == true
    }

    /// Inserts the ``InboundFrameGuard`` and, unless frames must be compressed, the
    /// ``ChannelFrameWriter`` into the WebSocket pipeline; `sendClose` sends the close frame
    /// once the channel writer reached the end.
    func preparePipeline(sendClose: @escaping @Sendable () -> Void) async {
        let channel = self.control.channel
        let peerClose = self.peerClose
        let metrics = self.metrics
        let control = self.control
        let writer = self.offersCompression ? nil : (socketIO: self.isSocketIO, latency: self.metrics.deliveryLatency)
        try? await channel.eventLoop.submit {
            let pipeline = channel.pipeline.syncOperations
            let decoder = try pipeline.handler(type: ByteToMessageHandler<WebSocketFrameDecoder>.self)
            try pipeline.addHandler(InboundFrameGuard(received: peerClose, metrics: metrics), position: .after(decoder))
            if let writer {
                // Before the guard: every close frame written behind it passes the writer.
                let handler = ChannelFrameWriter(control: control, socketIO: writer.socketIO, latency: writer.latency, finished: sendClose)
                try pipeline.addHandler(handler, position: .after(decoder))
                control.install(NIOLoopBound(handler, eventLoop: channel.eventLoop))
            }
        }.get()
    }

    // MARK: Sessions

    /// Opens a fresh session or resumes the one named in the upgrade's `resume` parameter.
    func open(identity: VerifiedIdentity) async {
        if let token = self.request.query["resume"], !token.isEmpty {
            let lastSeen = self.request.query["lastSeen"].flatMap { Int($0) } ?? 0
            if await self.resume(token: token, lastSeen: lastSeen, identity: identity) { return }
            await self.openFresh(identity: identity, resumeAttempted: true)
        } else {
            await self.openFresh(identity: identity, resumeAttempted: false)
        }
    }

    /// Opens a new client identity; for Socket.IO, in `namespace` with its CONNECT payload.
    /// Returns the session, or `nil` when a plugin refused it (a close was requested).
    @discardableResult
    func openFresh(
        identity: VerifiedIdentity,
        resumeAttempted: Bool,
        namespace: String? = nil,
        handshake: [String: JSONValue] = [:]
    ) async -> ClientSession? {
        let info = ClientInfo(
            id: .random(),
            userId: identity.userId,
            claims: identity.claims,
            endpoint: self.endpoint.settings.path,
            parameters: self.parameters,
            codec: self.endpoint.settings.codec,
            remoteAddress: self.request.remoteAddress,
            namespace: namespace,
            handshake: handshake
        )
        let session = ClientSession(
            info: info,
            bounds: ClientSession.Bounds(
                queueMessages: self.limits.queueMessages,
                queueBytes: self.limits.queueBytes,
                replayMessages: self.settings.server.resumeBufferMessages
            ),
            control: self.control,
            resumeToken: RandomToken.make(length: 32)
        )
        self.state.runtime.hub.register(session)
        let key = namespace ?? ""
        self.sessions.withLock { $0[key] = session }
        var extra: [String: JSONValue] = [:]
        var joined: [PluginInstance] = []
        for instance in self.endpoint.instances {
            let context = self.state.runtime.context(instance: instance.name, client: info, route: nil, logger: self.sessionLogger(session))
            do {
                let fields = try await instance.plugin.clientJoined(info, context: context)
                extra.merge(fields) { _, new in new }
                joined.append(instance)
            } catch {
                let reason =
                    (error as? RelayError).map { CloseReason(.policyViolation, $0.message) }
                    ?? CloseReason(.internalError, "internal error")
                if reason.code == .internalError {
                    self.logger.warning("plugin refused a join with an unexpected error", metadata: ["error.type": "\(error)"])
                }
                _ = self.state.runtime.hub.remove(session)
                for instance in joined {
                    await instance.plugin.clientLeft(info, context: self.state.runtime.context(instance: instance.name, client: info, route: nil))
                }
                self.sessions.withLock { _ = $0.removeValue(forKey: key) }
                if let namespace {
                    self.control.sendDirect(SocketIOPacket.text(.connectError, namespace: namespace, payload: Self.errorPayload(reason.reason)))
                }
                self.control.requestClose(reason)
                return nil
            }
        }
        if let cluster = self.state.runtime.hub.cluster {
            // Peers told this client id must find it on every node.
            await cluster.flush()
        }
        if let namespace {
            self.control.sendDirect(SocketIOPacket.text(.connect, namespace: namespace, payload: "{\"sid\":\"\(info.id.rawValue)\"}"))
        } else {
            var fields: [String: JSONValue] = extra
            fields["clientId"] = .string(info.id.rawValue)
            fields["resumeToken"] = .string(session.resumeToken)
            fields["resumed"] = .bool(false)
            if resumeAttempted { fields["replayed"] = .int(0) }
            self.control.sendDirect(.json(type: "connected", fields: fields))
        }
        self.control.attach(session, generation: session.generation, namespace: key)
        return session
    }

    /// `{"message":…}` as a JSON text.
    static func errorPayload(_ message: String) -> String {
        JSONValue.object(["message": .string(message)]).jsonText
    }

    /// Resumes the session holding `token`, here or taken over from another node; `false` when
    /// the client must start afresh.
    func resume(token: String, lastSeen: Int, identity: VerifiedIdentity) async -> Bool {
        let hub = self.state.runtime.hub
        let endpoint = self.endpoint.settings.path
        guard
            let session = hub.redeem(resumeToken: token, accept: { $0.info.userId == identity.userId && $0.info.endpoint == endpoint })
        else {
            return await self.resumeFromCluster(token: token, lastSeen: lastSeen, identity: identity)
        }
        let newToken = RandomToken.make(length: 32)
        guard let resumed = session.resume(on: self.control, lastSeen: lastSeen, newToken: newToken) else { return false }
        hub.issue(resumeToken: newToken, for: session)
        resumed.previous?.requestClose(CloseReason(.normal, "resumed on another connection"))
        self.attachResumed(session, token: newToken, replayed: resumed.replayed, generation: resumed.generation)
        return true
    }

    /// Takes over an identity another node holds (its queue handed over) or held before it
    /// died (the messages that waited for it in the database).
    private func resumeFromCluster(token: String, lastSeen: Int, identity: VerifiedIdentity) async -> Bool {
        guard let cluster = self.state.runtime.hub.cluster, let node = self.state.clusterNode else { return false }
        let hub = self.state.runtime.hub
        let newToken = RandomToken.make(length: 32)
        let bounds = ClientSession.Bounds(
            queueMessages: self.limits.queueMessages,
            queueBytes: self.limits.queueBytes,
            replayMessages: self.settings.server.resumeBufferMessages
        )
        let registered = Mutex<ClientSession?>(nil)
        let claim: ClusterClaim?
        do {
            claim = try await cluster.claim(.init(resumeToken: token, userId: identity.userId, endpoint: self.endpoint.settings.path)) { claim in
                // Registered before the takeover commits: whatever is sent to the client from
                // then on queues here, behind what is handed over.
                let session = ClientSession(info: claim.info, bounds: bounds, control: self.control, resumeToken: newToken)
                hub.register(session, announce: false)
                node.fence(session)
                for room in claim.rooms.compactMap(RoomKey.init(clusterName:)) { hub.join(room, client: session.id, announce: false) }
                cluster.directory.apply(.moved(claim.info, node: cluster.nodeID, rooms: claim.rooms))
                registered.withLock { $0 = session }
            }
        } catch {
            if let session = registered.withLock({ $0 }) { _ = hub.remove(session, announce: false) }
            self.logger.warning("cluster resume failed", metadata: ["error.type": "\(error)"])
            return false
        }
        guard let claim, let session = registered.withLock({ $0 }) else { return false }
        hub.issue(resumeToken: newToken, for: session)
        var frames = node.waitingFrames(claim.waiting, for: session.id)
        var lastSequence = lastSeen
        if let previous = claim.previousNode {
            let timeout = Duration.seconds(self.settings.cluster.nodeTimeout)
            if let handed = await node.requestHandover(of: session.id, from: previous, lastSeen: lastSeen, timeout: timeout) {
                frames = handed.frames + frames
                lastSequence = max(handed.lastSequence, lastSeen)
            } else {
                self.logger.warning("previous node did not hand the client over", metadata: ["relay.cluster.node": "\(previous)"])
            }
        }
        session.restore(frames, lastSequence: lastSequence)
        self.attachResumed(session, token: newToken, replayed: session.pendingCount, generation: session.generation)
        return true
    }

    /// Sends `connected` for a resumed identity and starts writing its queue.
    private func attachResumed(_ session: ClientSession, token: String, replayed: Int, generation: Int) {
        self.sessions.withLock { $0[""] = session }
        self.control.sendDirect(
            .json(
                type: "connected",
                ["clientId": .string(session.id.rawValue), "resumeToken": .string(token), "resumed": true, "replayed": .int(replayed)]
            )
        )
        self.control.attach(session, generation: generation)
    }

    /// The client sessions of this connection, by Socket.IO namespace (`""` for `json`).
    let sessions = Mutex<[String: ClientSession]>([:])

    /// Socket.IO: the identity from the upgrade's or a CONNECT's token, shared by its namespaces.
    let connectionIdentity = Mutex<VerifiedIdentity?>(nil)

    /// The `json` codec's one session.
    var session: ClientSession? { self.sessions.withLock { $0[""] } }

    func sessionLogger(_ session: ClientSession) -> Logger {
        self.logger.with("relay.client.id", session.id.rawValue)
    }

    /// The connection ended: a clean leave ends its sessions now; a drop waits for the grace.
    func finish() async {
        // A cluster node shutting down keeps its clients' identities: they resume on another node.
        let handedToCluster = self.state.isDraining && self.state.runtime.hub.cluster != nil
        let clean = !handedToCluster && (self.leftCleanly.load(ordering: .relaxed) || self.peerClose.isCleanLeave)
        for session in self.sessions.withLock({ Array($0.values) }) {
            await self.finish(session, clean: clean)
        }
    }

    func finish(_ session: ClientSession, clean: Bool) async {
        if clean {
            if session.control === self.control || session.control == nil {
                await RelayConnection.leaveForGood(session, state: self.state)
            }
            return
        }
        guard let generation = session.detach(from: self.control) else { return }
        let grace = self.settings.server.resumeGrace
        let state = self.state
        state.runtime.timers.schedule(after: .seconds(grace)) {
            guard session.isStillDetached(generation: generation) else { return }
            await RelayConnection.leaveForGood(session, state: state)
        }
    }

    /// Removes a session everywhere and tells the plugins of its endpoint.
    static func leaveForGood(_ session: ClientSession, state: RelayState) async {
        guard let rooms = state.runtime.hub.remove(session) else { return }
        await Self.announceDeparture(session.info, rooms: rooms, state: state)
    }

    /// Tells the plugins of a client's endpoint that it left for good (it was in `rooms`).
    static func announceDeparture(_ info: ClientInfo, rooms: Set<RoomKey>, state: RelayState) async {
        guard let endpoint = state.currentTable.endpoint(named: info.endpoint) else { return }
        for instance in endpoint.instances {
            var context = state.runtime.context(instance: instance.name, client: info, route: nil)
            context.departedRooms = rooms
            await instance.plugin.clientLeft(info, context: context)
        }
    }

    // MARK: Writer

    /// The writer task of a compressed connection (WSCore compresses what it writes).
    func writeLoop(_ outbound: WebSocketOutboundWriter) async {
        let latency = self.metrics.deliveryLatency
        do {
            while let item = await self.control.nextFrame() {
                switch item {
                case .direct(let message):
                    try await self.write(message, to: outbound)
                case .session(let frame, let namespace):
                    try await self.write(frame.message, namespace: namespace, to: outbound)
                    latency.recordNanoseconds((ContinuousClock.now - frame.enqueuedAt).nanoseconds)
                    frame.deliveredCounter?.increment()
                case .finish:
                    try await self.sendClose(outbound)
                    return
                }
            }
        } catch {
            self.logger.debug("write failed", metadata: ["error.type": "\(error)"])
        }
    }

    func write(_ message: OutboundMessage, namespace: String = "", to outbound: WebSocketOutboundWriter) async throws {
        self.control.writeBlocked()
        defer { self.control.writeUnblocked() }
        var frames: [WebSocketFrame] = []
        message.forEachWebSocketFrame(socketIONamespace: self.isSocketIO ? namespace : nil) { frames.append($0) }
        for frame in frames {
            try await outbound.write(.custom(frame))
        }
    }

    func sendClose(_ outbound: WebSocketOutboundWriter) async throws {
        let reason = self.control.closeReason ?? CloseReason(self.state.isDraining ? .goingAway : .normal, self.state.isDraining ? "server shutting down" : "resumed on another connection")
        self.metrics.closed(reason.code)
        self.watch.withLock { $0.closeRequestedAt = .now }
        try await outbound.close(WebSocketErrorCode(codeNumber: Int(reason.code.rawValue)), reason: reason.reason)
    }

    // MARK: Watchdog

    /// One round of the ``ConnectionWatchdog``: time-outs, heartbeats and stalled writes.
    func inspect(now: ContinuousClock.Instant) {
        let watch = self.watch.withLock { $0 }
        if self.isSocketIO { self.engineIOHeartbeat(watch, now: now, settings: self.endpoint.settings.socketio) }
        if let deadline = watch.authDeadline, now >= deadline {
            self.control.requestClose(CloseReason(.policyViolation, self.isSocketIO ? "no namespace connected in time" : "authentication timed out"))
            self.watch.withLock { $0.authDeadline = nil }
        }
        if let expiry = watch.tokenExpiry, Date().timeIntervalSince1970 > expiry {
            self.control.requestClose(CloseReason(.policyViolation, "token expired"))
            self.watch.withLock { $0.tokenExpiry = nil }
        }
        if let blocked = self.control.currentWriteDuration, blocked > .seconds(self.limits.writeTimeout), !watch.stalled {
            self.watch.withLock { $0.stalled = true }
            self.metrics.drops(.slowConsumer).increment()
            self.metrics.closed(.tryAgainLater)
            self.logger.debug("closing a peer whose socket stopped draining")
            self.control.channel.close(promise: nil)
        }
        if let requested = watch.closeRequestedAt, now - requested > .seconds(self.settings.server.closeTimeout) + .seconds(1) {
            self.control.channel.close(promise: nil)
        }
    }

    // MARK: Reader

    /// Reads and discards frames until the peer answers the close (refused connections).
    func drain(_ inbound: WebSocketInboundStream) async {
        do {
            for try await _ in inbound {}
        } catch {}
    }

    /// What the reader keeps between messages.
    struct ReaderState {
        var bucket: TokenBucket
        var routeBuckets: [String: TokenBucket] = [:]
        var lastRateNotice: ContinuousClock.Instant?
        var table: RouteTable
        var endpoint: CompiledEndpoint
        /// A Socket.IO binary packet waiting for its attachments.
        var pendingBinary: (packet: SocketIOPacket, attachments: [ByteBuffer])?
    }

    func readLoop(_ inbound: WebSocketInboundStream) async {
        var assembler = MessageAssembler(maxSize: self.limits.maxMessageBytes)
        var reader = ReaderState(
            bucket: TokenBucket(rate: self.limits.messagesPerSecond, capacity: self.limits.burst),
            table: self.table,
            endpoint: self.endpoint
        )
        do {
            for try await frame in inbound {
                guard self.control.closeReason == nil else { continue }
                switch assembler.append(frame) {
                case .incomplete:
                    continue
                case .close(let reason):
                    self.control.requestClose(reason)
                case .message(let kind, let buffer):
                    if kind == .text, String(validating: buffer.readableBytesView, as: UTF8.self) == nil {
                        self.control.requestClose(CloseReason(.invalidPayload, "text frame is not valid UTF-8"))
                        continue
                    }
                    let table = self.state.currentTable
                    if table !== reader.table {
                        // A reload swapped the routes: existing connections follow the new table.
                        reader.table = table
                        reader.endpoint = table.endpoint(named: self.endpoint.settings.path) ?? reader.endpoint
                    }
                    if self.isSocketIO {
                        await self.handleSocketIO(kind, buffer, reader: &reader)
                        continue
                    }
                    guard reader.bucket.take() else {
                        self.rateLimited(ref: nil, session: self.session, lastNotice: &reader.lastRateNotice)
                        continue
                    }
                    if case .rateLimited(let type) = await self.handle(kind, buffer, reader: &reader) {
                        self.rateLimited(ref: type, session: self.session, lastNotice: &reader.lastRateNotice)
                    }
                }
            }
        } catch {
            self.logger.debug("read ended", metadata: ["error.type": "\(error)"])
        }
    }

    /// Counts a rejected message; answers `rate_limited` at most once a second.
    func rateLimited(ref: String?, session: ClientSession?, lastNotice: inout ContinuousClock.Instant?) {
        self.metrics.error(.rateLimited)
        let now = ContinuousClock.now
        if lastNotice.map({ now - $0 >= .seconds(1) }) ?? true, let session {
            lastNotice = now
            self.reply(session, .error(RelayError(.rateLimited, "too many messages"), ref: ref))
        } else {
            self.metrics.drops(.rateLimitedNotice).increment()
        }
    }

    enum Outcome {
        case done
        case rateLimited(String)
    }

    func reply(_ session: ClientSession, _ message: OutboundMessage) {
        _ = self.state.runtime.hub.deliver(message, to: session, policy: .close, counter: self.metrics.kernelMessagesOut)
    }

    func replyError(_ error: RelayError, ref: String?, session: ClientSession? = nil) {
        self.metrics.error(error.code)
        guard let session = session ?? self.session else { return }
        self.reply(session, .error(error, ref: ref))
    }

    @discardableResult
    /// A `json` codec frame.
    func handle(_ kind: RelayMessage.Kind, _ buffer: ByteBuffer, reader: inout ReaderState) async -> Outcome {
        if kind == .binary, !reader.endpoint.acceptsBinary {
            self.control.requestClose(CloseReason(.unsupportedData, "this endpoint takes no binary frames"))
            return .done
        }
        let decoded = InboundDecoder.decode(kind, buffer)
        guard let session = self.session else {
            await self.handleBeforeAuth(decoded)
            return .done
        }
        switch decoded {
        case .error(let error, let ref):
            self.replyError(error, ref: ref)
            return .done
        case .message(let type, let body, let payload):
            if kind == .text, await self.handleKernelMessage(type, body, session: session) { return .done }
            let message = RelayMessage(type: type, body: body, raw: buffer, kind: kind, payload: payload, sender: session.info)
            return await self.dispatch(message, session: session, reader: &reader)
        }
    }

    /// Routes a decoded message to its plugin: route lookup, size and claim checks, the route's
    /// rate, then the plugin, in the order the connection sent them.
    func dispatch(_ message: RelayMessage, session: ClientSession, reader: inout ReaderState) async -> Outcome {
        let type = message.type
        guard let route = reader.endpoint.route(for: type), message.kind == .text || route.settings.binary else {
            self.replyError(RelayError(.unknownType, "no route for type '\(type)'"), ref: type, session: session)
            return .done
        }
        if let limit = route.settings.maxMessageBytes, message.raw.readableBytes > limit {
            self.replyError(RelayError(.tooLarge, "'\(type)' messages are limited to \(limit) bytes"), ref: type, session: session)
            return .done
        }
        if !route.settings.requireClaims.isEmpty {
            if session.info.userId == nil, session.info.claims.isEmpty {
                self.replyError(RelayError(.unauthenticated, "'\(type)' requires an authenticated client"), ref: type, session: session)
                return .done
            }
            guard route.admits(session.info.claims) else {
                self.replyError(RelayError(.forbidden, "'\(type)' requires claims this client does not have"), ref: type, session: session)
                return .done
            }
        }
        if let rate = route.settings.messagesPerSecond {
            let capacity = route.settings.burst ?? max(1, Int(rate))
            var routeBucket = reader.routeBuckets[route.label] ?? TokenBucket(rate: rate, capacity: capacity)
            let allowed = routeBucket.take()
            reader.routeBuckets[route.label] = routeBucket
            guard allowed else { return .rateLimited(type) }
        }
        route.inboundCounter.increment()
        var context = self.state.runtime.context(
            instance: route.instance.name,
            client: session.info,
            route: route,
            logger: self.sessionLogger(session).with("relay.message.type", type)
        )
        context.messageType = type
        do {
            try await self.state.runtime.hub.makingVisible(session) {
                try await route.instance.plugin.handle(message, context: context)
            }
        } catch let error as RelayError {
            self.replyError(error, ref: type, session: session)
        } catch let error as StoreUnavailableError {
            self.logger.warning("store unreachable", metadata: ["relay.plugin": "\(route.instance.name)", "error.type": "\(error)"])
            self.replyError(RelayError(.unavailable, "the store is unreachable; try again"), ref: type, session: session)
        } catch {
            self.logger.warning("plugin failed", metadata: ["relay.plugin": "\(route.instance.name)", "error.type": "\(error)"])
            self.control.requestClose(CloseReason(.internalError, "internal error"))
        }
        return .done
    }

    /// The kernel's own message types; returns whether `type` was one of them.
    func handleKernelMessage(_ type: String, _ body: [String: JSONValue], session: ClientSession) async -> Bool {
        switch type {
        case "ping":
            self.metrics.kernelMessageIn()
            self.reply(session, .json(type: "pong", ["timestamp": .int(Int(Date().timeIntervalSince1970 * 1000))]))
            return true
        case "leave":
            self.metrics.kernelMessageIn()
            self.leftCleanly.store(true, ordering: .relaxed)
            self.control.requestClose(CloseReason(.normal, "left"))
            return true
        case "auth":
            self.metrics.kernelMessageIn()
            self.replyError(RelayError(.invalidMessage, "already authenticated"), ref: type)
            return true
        case "resume":
            self.metrics.kernelMessageIn()
            await self.handleResumeMessage(body, fresh: session)
            return true
        default:
            return false
        }
    }

    /// `{"type":"resume"}` after `connected`: swaps the fresh identity for the resumed one.
    func handleResumeMessage(_ body: [String: JSONValue], fresh: ClientSession) async {
        guard let token = body["token"]?.stringValue else {
            self.replyError(.invalidField("token", expected: "a string"), ref: "resume")
            return
        }
        let lastSeen = body["lastSeen"]?.intValue ?? 0
        let identity = VerifiedIdentity(userId: fresh.info.userId, claims: fresh.info.claims, expiresAt: nil)
        if await self.resume(token: token, lastSeen: lastSeen, identity: identity) {
            await RelayConnection.leaveForGood(fresh, state: self.state)
        } else {
            let newToken = RandomToken.make(length: 32)
            if let resumed = fresh.resume(on: self.control, lastSeen: 0, newToken: newToken) {
                self.state.runtime.hub.issue(resumeToken: newToken, for: fresh)
                self.control.sendDirect(
                    .json(
                        type: "connected",
                        ["clientId": .string(fresh.id.rawValue), "resumeToken": .string(newToken), "resumed": false, "replayed": 0]
                    )
                )
                self.control.attach(fresh, generation: resumed.generation)
            }
        }
    }

    /// Before auth only `{"type":"auth","token":…}` is accepted; anything else closes with 1008.
    func handleBeforeAuth(_ decoded: InboundDecoder.Result) async {
        guard case .message(let type, let body, _) = decoded, type == "auth", let token = body["token"]?.stringValue else {
            self.control.requestClose(CloseReason(.policyViolation, "authentication required"))
            return
        }
        self.metrics.kernelMessageIn()
        self.watch.withLock { $0.authDeadline = nil }
        guard let identity = await self.verify(token), self.acquireUserSlot(identity) else { return }
        self.control.sendDirect(.json(type: "authenticated", ["userId": identity.userId.map(JSONValue.string) ?? .null]))
        await self.open(identity: identity)
    }
}

extension Duration {
    /// Whole nanoseconds.
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = self.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
