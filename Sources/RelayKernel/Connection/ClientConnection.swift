import Logging
import Metrics
import NIOCore
import NIOWebSocket

/// One client connection, whatever carries it (a WebSocket, or Engine.IO long-polling): confined
/// to one event loop, with no task while it is idle.
///
/// It admits the connection (caps, then the codec's greeting and authentication), hands each
/// message to its ``Codec`` in the order sent, runs the async work a message needs
/// (``perform(_:)``) one message at a time, and writes its sessions' queues to its
/// ``ConnectionTransport`` with one flush per wake-up (``pump()``). Its deadlines are checked by
/// the loop's sweep.
///
/// Confined to one thread, it never sees overlapping accesses to its state, so its stored
/// properties skip Swift's dynamic exclusivity checks (they cost a thread-local lookup each, on
/// the per-delivery path).
final class ClientConnection {
    /// Where the connection is in its life.
    enum Phase {
        case open
        /// Writing what is queued, then closing with 1001.
        case draining
        /// A close frame went out (or the peer's arrived): nothing more is read or written.
        case closing
    }

    let state: RelayState
    let loop: EventLoopContext
    /// The routes; a reload swaps them for the connections already open.
    @exclusivity(unchecked) private(set) var table: RouteTable
    @exclusivity(unchecked) private(set) var endpoint: CompiledEndpoint
    @exclusivity(unchecked) private var tableVersion: Int
    let codec: any Codec
    /// Values of the endpoint's `:name` segments.
    let parameters: [String: String]
    /// The client's IP address (``TrustedProxies`` accounted for).
    let remoteAddress: String?
    /// The upgrade's `Origin`, for the log of a refusal.
    let origin: String?
    /// The thread-safe side given to sessions (set once the connection opened).
    @exclusivity(unchecked) private(set) var handle: ConnectionHandle?
    /// What carries the frames, from ``open(on:)`` until the connection ends.
    @exclusivity(unchecked) private(set) var transport: (any ConnectionTransport)?
    @exclusivity(unchecked) private var sweepSlot: Int?
    @exclusivity(unchecked) private var request: UpgradeRequest?
    @exclusivity(unchecked) private(set) var phase = Phase.open
    @exclusivity(unchecked) private var sequencer = InboundSequencer()
    @exclusivity(unchecked) var limiter: MessageLimiter
    @exclusivity(unchecked) private var slots = ConnectionSlots()
    @exclusivity(unchecked) private var writer = OutboundWriter()
    /// The client sessions of this connection, by namespace (`""` for `json`).
    @exclusivity(unchecked) private(set) var sessions: [(namespace: String, session: ClientSession)] = []
    /// The identity the connection authenticated as (Socket.IO namespaces share it).
    @exclusivity(unchecked) var identity: VerifiedIdentity?
    /// Until when the client may authenticate (or connect a namespace), and the close if not.
    @exclusivity(unchecked) private var authDeadline: (at: NIODeadline, reason: CloseReason)?
    /// When the token expires and whether the client was warned (see ``TokenRefresh``).
    @exclusivity(unchecked) var tokenLifetime: TokenLifetime?
    /// The client left deliberately (`leave`, Socket.IO close or disconnect, a clean close code).
    @exclusivity(unchecked) private var leftCleanly = false
    /// Whether the client closed the transport itself (see `clientClosedTransport()`).
    @exclusivity(unchecked) private(set) var transportClosedByClient = false
    @exclusivity(unchecked) private var ended = false
    /// Runs once no work for a message runs and none waits (see ``whenIdle(_:)``).
    @exclusivity(unchecked) private var idleWaiter: (() -> Void)?

    init(
        state: RelayState,
        loop: EventLoopContext,
        table: RouteTable,
        endpoint: CompiledEndpoint,
        request: UpgradeRequest
    ) {
        self.state = state
        self.loop = loop
        self.table = table
        self.endpoint = endpoint
        self.tableVersion = state.tableVersion
        self.codec = endpoint.codec.make()
        self.parameters = request.parameters
        self.remoteAddress = request.remoteAddress
        self.origin = request.origin
        self.request = request
        self.limiter = MessageLimiter(limits: endpoint.settings.limits)
    }

    var settings: RelayConfiguration { self.table.configuration }
    var limits: LimitSettings { self.endpoint.settings.limits }
    var metrics: RelayMetrics { self.state.metrics }
    var logger: Logger { self.state.logger }

    // MARK: Life

    /// The transport is up: the connection is counted, swept and admitted.
    func open(on transport: any ConnectionTransport) {
        self.transport = transport
        self.handle = ConnectionHandle(loop: self.loop, connection: self)
        self.sweepSlot = self.loop.register(self)
        self.state.connectionOpened()
        self.admit()
    }

    /// Applies the server's caps, then lets the codec greet and authenticate the client.
    private func admit() {
        guard let request = self.request else { return }
        self.request = nil
        guard !self.state.isDraining else { return self.refuse(.draining, CloseReason(.goingAway, "server shutting down")) }
        guard self.slots.acquireTotal(self.state.counter, limit: self.settings.server.maxConnections) else {
            return self.refuse(.capacity, CloseReason(.tryAgainLater, "server at capacity"))
        }
        guard self.slots.acquire(address: self.remoteAddress ?? "unknown", self.state.counter, limit: self.limits.connectionsPerIP) else {
            return self.refuse(.addressLimit, CloseReason(.policyViolation, "too many connections from this address"))
        }
        self.codec.start(self, request: request)
    }

    /// The transport is gone: the connection's places are given back and its sessions end (a
    /// clean leave) or wait for the client to resume (a drop).
    func end() {
        guard !self.ended else { return }
        self.ended = true
        self.transport = nil
        // A read that ends with the connection still owes its loop the writers it woke.
        self.loop.readEnded()
        self.phase = .closing
        self.sequencer.discard()
        if let slot = self.sweepSlot { self.loop.unregister(slot) }
        self.sweepSlot = nil
        self.slots.release(self.state.counter)
        guard let handle = self.handle else { return self.state.connectionClosed() }
        handle.release()
        // Sessions end with the connection when the client left, when no client could come back
        // to them, and when a single node shuts down (nothing could resume them); a cluster node
        // shutting down keeps them: they resume on another node.
        let nodeEnds = self.state.isDraining && self.state.runtime.hub.cluster == nil
        let clean = self.leftCleanly || !self.codec.sessionsCanResume || nodeEnds
        let sessions = self.sessions.map(\.session)
        self.sessions = []
        let state = self.state
        Task.immediate(executorPreference: self.loop.executor) {
            for session in sessions {
                await ClientLifecycle.connectionEnded(session, connection: handle, clean: clean, state: state)
            }
            // Only now: a drain waits for the plugins to hear a clean leave.
            state.connectionClosed()
        }
    }

    // MARK: Reading

    /// One message from the client. The transport calls the loop's ``EventLoopContext/readEnded()``
    /// at the end of its read batch: what the batch delivered on this loop is written then.
    func receive(_ message: WebSocketMessage) {
        guard self.phase != .closing, !self.sequencer.mustWait(message) else { return }
        self.loop.readStarted()
        self.handle(message)
    }

    private func handle(_ message: WebSocketMessage) {
        if self.state.tableVersion != self.tableVersion { self.followReload() }
        self.codec.receive(message, on: self)
    }

    /// A reload swapped the routes: the connection follows the new table.
    private func followReload() {
        let table = self.state.currentTable
        self.tableVersion = self.state.tableVersion
        self.table = table
        self.endpoint = table.endpoint(named: self.endpoint.settings.path) ?? self.endpoint
    }

    /// Whether the transport may read more now; if not, it is told when (``ConnectionTransport/resumeReading()``).
    func mayRead() -> Bool {
        guard self.sequencer.busy else { return true }
        self.sequencer.readHeld = true
        return false
    }

    /// Runs async work for the message being handled (authentication, a plugin that awaits) on
    /// this loop: it starts at once and leaves the loop only where it really suspends; until it
    /// ends, later messages wait and the socket is not read.
    func perform(_ work: sending @escaping (ClientConnection) async -> Void) {
        self.sequencer.begin()
        let connection = NIOLoopBound(self, eventLoop: self.loop.eventLoop)
        Task.immediate(executorPreference: self.loop.executor) {
            await work(connection.value)
            connection.value.performFinished()
        }
        self.sequencer.started()
    }

    private func performFinished() {
        guard self.sequencer.finished() else { return }
        // The work had suspended: carry on with what waited meanwhile.
        while let message = self.sequencer.next() {
            guard self.phase != .closing else {
                self.sequencer.discard()
                break
            }
            self.handle(message)
        }
        if !self.sequencer.busy, self.sequencer.readHeld {
            self.sequencer.readHeld = false
            self.transport?.resumeReading()
        }
        if !self.sequencer.busy, let waiter = self.idleWaiter {
            self.idleWaiter = nil
            waiter()
        }
    }

    /// Whether async work for a message is running (later messages wait, and are not read).
    var isBusy: Bool { self.sequencer.busy }

    /// Runs `body` once no work for a message runs (at once if none does).
    func whenIdle(_ body: @escaping () -> Void) {
        if self.sequencer.busy {
            self.idleWaiter = body
        } else {
            body()
        }
    }

    /// The client started a close (`code` as its close frame carried it): it is answered by the
    /// transport; 1000, 1001 or no code means the client left deliberately.
    func peerClosed(code: UInt16?) {
        self.metrics.peerClosed(code: code ?? 1005)
        if code == nil || code == 1000 || code == 1001 { self.clientClosedTransport() }
        self.phase = .closing
    }

    /// The client broke the transport's protocol; the transport closed with `reason`.
    func transportFailed(_ reason: CloseReason) {
        self.metrics.closed(reason.code)
        self.phase = .closing
    }

    // MARK: Sessions

    /// The session of `namespace` (`""` for `json`).
    func session(namespace: String = "") -> ClientSession? {
        self.sessions.first { $0.namespace == namespace }?.session
    }

    /// Records a session opened on this connection (it ends with the connection).
    func register(_ session: ClientSession, namespace: String = "") {
        self.sessions.removeAll { $0.namespace == namespace }
        self.sessions.append((namespace, session))
    }

    /// Forgets the session of `namespace` (it ended, or was swapped for a resumed one).
    func unregister(namespace: String = "") {
        self.sessions.removeAll { $0.namespace == namespace }
        self.writer.detach(namespace: namespace)
    }

    /// Starts writing `session`'s queue (in `namespace`).
    func attach(_ session: ClientSession, generation: Int, namespace: String = "") {
        self.writer.attach(session, generation: generation, namespace: namespace)
        self.handle?.wake()
    }

    // MARK: Authentication

    /// Verifies `token`: sets the token's expiry and takes the user's connection place. On
    /// failure `refusal` sends any frame that must come first, then the connection closes with
    /// 1008 (unless `closeOnRefusal` is off: the codec decides).
    func authenticate(_ token: String, refusal: ((String) -> Void)? = nil, closeOnRefusal: Bool = true) async -> VerifiedIdentity? {
        let fail = { (reason: Refusal.Reason, detail: String, user: String?) in
            refusal?(detail)
            if closeOnRefusal {
                self.refuse(reason, CloseReason(.policyViolation, detail), user: user)
            } else {
                self.recordRefusal(reason, detail: detail, user: user)
            }
        }
        let identity: VerifiedIdentity
        do {
            identity = try await self.state.runtime.verify(token)
        } catch {
            fail(.token, error.message, nil)
            return nil
        }
        self.tokenLifetime = TokenLifetime(identity)
        if let user = identity.userId, !self.slots.acquire(user: user, self.state.counter, limit: self.limits.connectionsPerUser) {
            fail(.userLimit, "too many connections for this user", user)
            return nil
        }
        self.identity = identity
        return identity
    }

    /// Waits for the client to authenticate (or connect a namespace) until the deadline;
    /// closes with 1008 and `reason` then.
    func awaitAuthentication(within timeout: TimeAmount, reason: String) {
        self.authDeadline = (.now() + timeout, CloseReason(.policyViolation, reason))
    }

    /// The client authenticated in time.
    func authenticationArrived() {
        self.authDeadline = nil
    }

    // MARK: Dispatch

    /// Routes a message to its plugin: route lookup, size and claim checks and the route's rate
    /// here, then the plugin, in the order the connection sent its messages.
    func dispatch(_ message: RelayMessage, session: ClientSession) {
        switch MessageDispatcher.admit(message, endpoint: self.endpoint, limiter: &self.limiter) {
        case .refused(let error):
            self.replyError(error, ref: message.type, session: session)
        case .rateLimited:
            self.rateLimited(ref: message.type, session: session)
        case .admitted(let route):
            let context = MessageDispatcher.context(for: message, route: route, state: self.state)
            let state = self.state
            self.perform { connection in
                if let failure = await MessageDispatcher.run(message, route: route, session: session, context: context, state: state) {
                    connection.fail(failure, ref: message.type, session: session)
                }
            }
        }
    }

    /// What a failed request becomes for this client: an error message, or a close.
    func fail(_ failure: WireError, ref: String?, session: ClientSession?) {
        switch failure {
        case .answer(let error):
            self.replyError(error, ref: ref, session: session)
        case .close(let reason):
            self.close(reason)
        }
    }

    /// Answers `session` with the kernel error `error`, counted.
    func replyError(_ error: RelayError, ref: String?, session: ClientSession?) {
        self.metrics.error(error.code)
        guard let session = session ?? self.session() else { return }
        self.reply(session, .error(error, ref: ref))
    }

    /// Queues a kernel message for `session`.
    func reply(_ session: ClientSession, _ message: OutboundMessage) {
        _ = self.state.runtime.hub.deliver(message, to: session, policy: .close, counter: self.metrics.kernelMessagesOut)
    }

    /// Counts a rejected message; answers `rate_limited` at most once a second.
    func rateLimited(ref: String?, session: ClientSession?) {
        self.metrics.error(.rateLimited)
        if let session, self.limiter.mayNotify() {
            self.reply(session, .error(RelayError(.rateLimited, "too many messages"), ref: ref))
        } else {
            self.metrics.drops(.rateLimitedNotice).increment()
        }
    }

    /// The client left deliberately (it ends at once, without the resume grace).
    func clientLeft() {
        self.leftCleanly = true
    }

    /// The client closed its transport deliberately (a clean close code, Engine.IO's close
    /// packet): a leave where the codec says so.
    func clientClosedTransport() {
        self.transportClosedByClient = true
        if self.codec.transportCloseIsLeave { self.leftCleanly = true }
    }

    // MARK: Writing

    /// Writes `message` on this connection only, now (greetings, protocol packets), ahead of
    /// anything its sessions queue later.
    func sendDirect(_ message: OutboundMessage, namespace: String = "") {
        guard let transport, self.phase != .closing else { return }
        self.codec.forEachFrame(of: message, namespace: namespace, sequence: nil) { transport.write($0) }
        transport.flush()
    }

    /// Writes what the sessions queued while the socket takes it, then flushes once; returns when
    /// the oldest frame it wrote was queued (its loop records the delivery latency once per batch
    /// of writers). The delivered counters are incremented once per run of frames of one route.
    @discardableResult
    func pump() -> NIODeadline? {
        guard let transport, self.phase != .closing else { return nil }
        var oldest: NIODeadline?
        var delivered: (counter: Counter?, count: Int64) = (nil, 0)
        var superseded = false
        write: while transport.isWritable {
            switch self.writer.next() {
            case .frame(let frame, let namespace):
                self.codec.forEachFrame(of: frame.message, namespace: namespace, sequence: frame.sequence) { transport.write($0) }
                if oldest == nil { oldest = frame.enqueuedAt }
                if frame.deliveredCounter !== delivered.counter {
                    delivered.counter?.increment(by: delivered.count)
                    delivered = (frame.deliveredCounter, 0)
                }
                delivered.count += 1
            case .empty:
                break write
            case .superseded:
                superseded = true
                break write
            }
        }
        delivered.counter?.increment(by: delivered.count)
        if oldest != nil { transport.flush() }
        if superseded {
            self.close(CloseReason(.normal, "resumed on another connection"))
        } else if transport.isWritable {
            self.writer.blockedSince = nil
            if self.phase == .draining { self.close(CloseReason(.goingAway, "server shutting down")) }
        } else if self.writer.blockedSince == nil, self.writer.hasWaiting {
            self.writer.blockedSince = .now()
        }
        return oldest
    }

    /// The transport takes frames again: what waits is written.
    func becameWritable() {
        if let oldest = self.pump() { self.loop.recordDeliveryLatency(since: oldest) }
    }

    /// Closes with `reason` (the peer hears it, in a close frame or its transport's equivalent);
    /// the first close wins.
    func close(_ reason: CloseReason) {
        guard let transport, self.phase != .closing else { return }
        self.phase = .closing
        self.authDeadline = nil
        self.sequencer.discard()
        self.metrics.closed(reason.code)
        transport.close(reason)
    }

    /// Writes what is queued, then closes with 1001 (the server is shutting down).
    func drain() {
        guard self.phase == .open else { return }
        self.phase = .draining
        if let oldest = self.pump() { self.loop.recordDeliveryLatency(since: oldest) }
    }

    /// Drops the TCP connection at once, without a close handshake.
    func abort() {
        self.transport?.abort()
    }

    /// Checks the connection's deadlines now rather than at the loop's next sweep (a polling
    /// request must not find a session alive that has timed out).
    func checkDeadlines() {
        self.sweep(at: .current())
    }

    // MARK: Changing transport

    /// What a connection hands to the one that takes its client over (Engine.IO's upgrade from
    /// long-polling to a WebSocket): who the client is, its sessions and deadlines, and the
    /// frames written but not sent yet.
    struct Handover: Sendable {
        let identity: VerifiedIdentity?
        let tokenLifetime: TokenLifetime?
        let authDeadline: (at: NIODeadline, reason: CloseReason)?
        let sessions: [(namespace: String, session: ClientSession)]
        let unsent: [WebSocketFrame]
    }

    /// Gives the client up to another connection once no work for a message runs: nothing more
    /// is read or written here, and the sessions are left for the other connection to take
    /// (``adopt(_:)``). `nil` if the connection is closing. The transport then ends it.
    func handOver(unsent: [WebSocketFrame]) -> Handover? {
        guard self.phase == .open, !self.sequencer.busy else { return nil }
        self.phase = .closing
        self.sequencer.discard()
        let handover = Handover(
            identity: self.identity,
            tokenLifetime: self.tokenLifetime,
            authDeadline: self.authDeadline,
            sessions: self.sessions,
            unsent: unsent
        )
        for (namespace, _) in self.sessions { self.writer.detach(namespace: namespace) }
        self.sessions = []
        self.authDeadline = nil
        return handover
    }

    /// Takes over the client another connection handed over: sends what it had not sent, then
    /// writes the sessions' queues from where that connection stopped (nothing lost, nothing twice).
    func adopt(_ handover: Handover) {
        guard let handle, let transport, self.phase == .open else { return }
        self.identity = handover.identity
        self.tokenLifetime = handover.tokenLifetime
        self.authDeadline = handover.authDeadline
        for frame in handover.unsent { transport.write(frame) }
        transport.flush()
        for (namespace, session) in handover.sessions {
            guard let generation = session.transfer(to: handle) else { continue }
            self.register(session, namespace: namespace)
            self.attach(session, generation: generation, namespace: namespace)
        }
        if let user = handover.identity?.userId, !self.slots.acquire(user: user, self.state.counter, limit: self.limits.connectionsPerUser) {
            self.refuse(.userLimit, CloseReason(.policyViolation, "too many connections for this user"), user: user)
        }
    }
}

extension ClientConnection: LoopSweepable {
    /// Closes a client that did not authenticate in time, warns one whose token is about to
    /// expire and closes it once it has, closes one whose socket has not taken a frame for
    /// `writeTimeout`; runs the codec's own deadlines.
    func sweep(at time: SweepTime) {
        if let deadline = self.authDeadline, time.now >= deadline.at {
            self.refuse(.authTimeout, deadline.reason)
        }
        if self.tokenLifetime != nil { TokenRefresh.sweep(self, at: time) }
        if let blocked = self.writer.blockedSince, time.now - blocked > TimeAmount(seconds: self.limits.writeTimeout) {
            self.writer.blockedSince = nil
            self.metrics.drops(.slowConsumer).increment()
            self.metrics.closed(.tryAgainLater)
            self.abort()
        }
        self.codec.sweep(self, at: time)
    }
}

@available(*, unavailable)
extension ClientConnection: Sendable {}
