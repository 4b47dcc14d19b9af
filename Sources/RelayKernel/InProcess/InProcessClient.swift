import NIOCore
import Synchronization

/// One simulated client of an ``InProcessRelay``: it sends JSON messages the way a `json` codec
/// connection does (the kernel's own `ping` and `leave` included) and reads what the relay
/// queued for it, in order, counting them as a real client counts for resume.
public final class InProcessClient: Sendable {
    private struct State {
        var session: ClientSession?
        var generation = 0
        /// `connected`, then what was read from the session's queue and not yet taken.
        var inbox: [OutboundMessage] = []
        /// Messages read from the session's queue (the `lastSeen` of a resume).
        var received = 0
        var closeReason: CloseReason?
        var ended = false
        var limiter: MessageLimiter
        var resumeRefused = false
    }

    private let relay: InProcessRelay
    private let endpoint: CompiledEndpoint
    private let state: Mutex<State>

    init(relay: InProcessRelay, endpoint: CompiledEndpoint) {
        self.relay = relay
        self.endpoint = endpoint
        self.state = Mutex(State(limiter: MessageLimiter(limits: endpoint.settings.limits)))
    }

    /// The client as plugins see it.
    public var info: ClientInfo? { self.state.withLock { $0.session?.info } }

    /// The client id.
    public var id: ClientID? { self.info?.id }

    /// The resume token the relay gave this connection.
    public var resumeToken: String? { self.state.withLock { $0.session?.resumeToken } }

    /// How many messages this connection has read from its queue (what `lastSeen` counts).
    public var receivedCount: Int { self.state.withLock { $0.received } }

    /// Why the relay closed this connection, once it did.
    public var closeReason: CloseReason? { self.state.withLock { $0.closeReason } }

    /// Whether this connection asked to resume an identity and got a fresh one instead.
    public var resumeWasRefused: Bool { self.state.withLock { $0.resumeRefused } }

    /// Sends one text frame (a JSON object with a `type`) and returns once the relay handled it:
    /// routed to its plugin, or answered by the kernel (`pong`, an `error`). Ignored once the
    /// connection ended.
    public func send(_ text: String) async {
        await self.relay.settle()
        guard let session = self.liveSession() else { return }
        switch JSONInboundDecoder.decode(.text, ByteBuffer(string: text)) {
        case .error(let error, let ref):
            self.replyError(error, ref: ref, session: session)
        case .message(let type, let body, let payload):
            switch type {
            case "ping":
                self.relay.state.metrics.kernelMessageIn()
                self.reply(.json(type: "pong", ["timestamp": .int(Int(self.relay.clock.millisecondsSince1970))]), session: session)
            case "leave":
                self.relay.state.metrics.kernelMessageIn()
                await self.leave()
            default:
                let message = RelayMessage(type: type, body: body, raw: ByteBuffer(string: text), kind: .text, payload: payload, sender: session.info)
                await self.dispatch(message, session: session)
            }
        }
        await self.relay.settle()
    }

    /// Takes every message received so far, in order (`connected` first on a new connection).
    public func receiveAll() -> [OutboundMessage] {
        self.state.withLock { state in
            Self.drain(&state)
            defer { state.inbox.removeAll() }
            return state.inbox
        }
    }

    /// Takes the oldest message received and not yet taken, or `nil`.
    public func receive() -> OutboundMessage? {
        self.state.withLock { state in
            Self.drain(&state)
            return state.inbox.isEmpty ? nil : state.inbox.removeFirst()
        }
    }

    /// The connection drops without a close (network loss): the identity waits for the resume
    /// grace (``InProcessRelay/advance(by:)`` runs it out), then the plugins hear it left.
    public func drop() async {
        guard let session = self.end(nil) else { return }
        await ClientLifecycle.connectionEnded(session, connection: self, clean: false, state: self.relay.state)
        await self.relay.settle()
    }

    /// The client leaves cleanly (close 1000 or `{"type":"leave"}`): the plugins hear it at once.
    public func leave() async {
        guard let session = self.end(CloseReason(.normal, "left")) else { return }
        await ClientLifecycle.connectionEnded(session, connection: self, clean: true, state: self.relay.state)
        await self.relay.settle()
    }

    // MARK: Internals

    func attach(_ session: ClientSession, greeting: OutboundMessage, received: Int = 0) {
        self.state.withLock { state in
            state.session = session
            state.generation = session.generation
            state.inbox = [greeting]
            state.received = received
        }
    }

    func noteFailedResume() {
        self.state.withLock { $0.resumeRefused = true }
    }

    private func liveSession() -> ClientSession? {
        self.state.withLock { $0.ended ? nil : $0.session }
    }

    /// Marks the connection ended; returns its session the first time.
    private func end(_ reason: CloseReason?) -> ClientSession? {
        self.state.withLock { state in
            guard !state.ended else { return nil }
            Self.drain(&state)
            state.ended = true
            if state.closeReason == nil { state.closeReason = reason }
            return state.session
        }
    }

    private func dispatch(_ message: RelayMessage, session: ClientSession) async {
        let admission = self.state.withLock { MessageDispatcher.admit(message, endpoint: self.endpoint, limiter: &$0.limiter) }
        switch admission {
        case .refused(let error):
            self.replyError(error, ref: message.type, session: session)
        case .rateLimited:
            self.relay.state.metrics.error(.rateLimited)
            self.reply(.error(RelayError(.rateLimited, "too many messages"), ref: message.type), session: session)
        case .admitted(let route):
            let context = MessageDispatcher.context(for: message, route: route, state: self.relay.state)
            switch await MessageDispatcher.run(message, route: route, session: session, context: context, state: self.relay.state) {
            case nil:
                break
            case .answer(let error)?:
                self.replyError(error, ref: message.type, session: session)
            case .close(let reason)?:
                self.requestClose(reason)
            }
        }
    }

    private func replyError(_ error: RelayError, ref: String?, session: ClientSession) {
        self.relay.state.metrics.error(error.code)
        self.reply(.error(error, ref: ref), session: session)
    }

    private func reply(_ message: OutboundMessage, session: ClientSession) {
        _ = self.relay.state.runtime.hub.deliver(message, to: session, policy: .close, counter: self.relay.state.metrics.kernelMessagesOut)
    }

    /// Moves what the session queued for this connection into the inbox, numbering it.
    private static func drain(_ state: inout State) {
        guard !state.ended, let session = state.session else { return }
        while case .frame(let frame) = session.popForWriter(generation: state.generation) {
            state.inbox.append(frame.message)
            state.received += 1
        }
    }
}

extension InProcessClient: SessionConnection {
    func wake() {}

    func requestClose(_ reason: CloseReason) {
        guard let session = self.end(reason) else { return }
        self.relay.closed(self, session: session)
    }
}
