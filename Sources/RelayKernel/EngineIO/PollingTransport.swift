import DequeModule
import HTTPTypes
import NIOCore
import NIOWebSocket

/// One Engine.IO long-polling session (a `sid`): the ``ConnectionTransport`` of its
/// ``ClientConnection``, confined to the connection's event loop.
///
/// Frames the connection writes wait in an outbox until the client's next `GET` takes them (up
/// to ``packetsPerResponse``), joined as an ``EngineIOPayload``; a `GET` that finds nothing
/// waits (the server's ping every `pingInterval` answers it at the latest). A `POST` carries the client's packets; it is
/// answered `ok` once the connection has taken them (while a plugin awaits, the client waits,
/// as a WebSocket would not be read). One `GET` and one `POST` at a time: a second one of
/// either closes the session, as Engine.IO's reference server does.
final class PollingTransport: ConnectionTransport {
    /// The answer to one polling request.
    struct Response: Sendable {
        var status: HTTPResponse.Status
        var body: ByteBuffer
        var contentType: String

        static func payload(_ body: ByteBuffer) -> Response {
            Response(status: .ok, body: body, contentType: "text/plain; charset=UTF-8")
        }

        /// Engine.IO's error answer: `{"code":…,"message":…}`.
        static func error(_ status: HTTPResponse.Status, code: Int, _ message: String) -> Response {
            let text = "{\"code\":\(code),\"message\":\(JSONValue.string(message).jsonText)}"
            return Response(status: status, body: ByteBuffer(string: text), contentType: "application/json")
        }

        static let unknownSession = Response.error(.badRequest, code: 1, "Session ID unknown")

        /// A `POST` whose packets were taken.
        static let taken = Response(status: .ok, body: ByteBuffer(string: "ok"), contentType: "text/html")
    }

    private enum Phase {
        case open
        /// A WebSocket is probing to take over: polls are answered with a noop at once.
        case upgrading
        /// Closing: the next poll takes what is left and the close packet, then the session ends.
        case closing
        case ended
    }

    let sid: String
    let connection: ClientConnection
    private let registry: PollingRegistry
    private var phase = Phase.open
    private var outbox = Deque<WebSocketFrame>()
    private var outboxBytes = 0
    /// Whether a response has carried anything yet (the first one carries the open packet).
    private var greeted = false
    private var pendingGet: EventLoopPromise<Response>?
    private var pendingPost: EventLoopPromise<Response>?
    /// The largest body either way (the endpoint's `maxMessageBytes`, Engine.IO's `maxPayload`).
    let maxPayload: Int
    /// The most packets one response carries: python-engineio refuses a payload of more than 16
    /// (the rest waits for the next poll).
    static let packetsPerResponse = 16

    init(sid: String, connection: ClientConnection, registry: PollingRegistry) {
        self.sid = sid
        self.connection = connection
        self.registry = registry
        self.maxPayload = connection.limits.maxMessageBytes
    }

    private var eventLoop: any EventLoop { self.connection.loop.eventLoop }

    // MARK: Requests

    /// A `GET`: answered with what waits, or when something is written.
    func poll() -> EventLoopFuture<Response> {
        if self.greeted { self.connection.checkDeadlines() }
        switch self.phase {
        case .ended:
            return self.eventLoop.makeSucceededFuture(.unknownSession)
        case .upgrading:
            return self.eventLoop.makeSucceededFuture(.payload(ByteBuffer(string: "6")))
        case .open, .closing:
            break
        }
        guard self.pendingGet == nil else {
            self.connection.close(CloseReason(.protocolError, "overlapping polls"))
            return self.eventLoop.makeSucceededFuture(.error(.badRequest, code: 3, "Bad request"))
        }
        let promise = self.eventLoop.makePromise(of: Response.self)
        self.pendingGet = promise
        if !self.outbox.isEmpty { self.flush() }
        return promise.futureResult
    }

    /// A `POST` with the client's packets: answered `ok` once the connection took them.
    func push(_ body: ByteBuffer) -> EventLoopFuture<Response> {
        if self.greeted { self.connection.checkDeadlines() }
        switch self.phase {
        case .ended:
            return self.eventLoop.makeSucceededFuture(.unknownSession)
        case .closing:
            // Nothing more is read, but the client that sends while the close packet is on its
            // way (its own close, typically) is not told its session is unknown.
            return self.eventLoop.makeSucceededFuture(.taken)
        case .open, .upgrading:
            break
        }
        guard self.pendingPost == nil else {
            self.connection.close(CloseReason(.protocolError, "overlapping posts"))
            return self.eventLoop.makeSucceededFuture(.error(.badRequest, code: 3, "Bad request"))
        }
        let messages: [WebSocketMessage]
        do {
            messages = try EngineIOPayload.decode(body)
        } catch {
            self.connection.close(CloseReason(error == .notUTF8 ? .invalidPayload : .protocolError, "malformed polling payload"))
            return self.eventLoop.makeSucceededFuture(.error(.badRequest, code: 3, "Bad request"))
        }
        let promise = self.eventLoop.makePromise(of: Response.self)
        self.pendingPost = promise
        for message in messages { self.connection.receive(message) }
        self.connection.loop.readEnded()
        if self.connection.mayRead() { self.resumeReading() }
        return promise.futureResult
    }

    /// A WebSocket started probing to take this session over: polls get a noop from now on, so
    /// that the client's pending one returns and it can finish the upgrade. `false` when the
    /// session is closing or ended.
    @discardableResult
    func upgradeProbed() -> Bool {
        switch self.phase {
        case .open:
            self.phase = .upgrading
            self.answerPoll(with: ByteBuffer(string: "6"))
            return true
        case .upgrading:
            return true
        case .closing, .ended:
            return false
        }
    }

    /// The WebSocket took the session over: returns what the connection hands to it (`nil` if
    /// the session ended meanwhile); the session ends here without its sessions.
    func handOver() -> ClientConnection.Handover? {
        guard case .upgrading = self.phase else { return nil }
        let unsent = Array(self.outbox)
        self.outbox = []
        self.outboxBytes = 0
        guard let handover = self.connection.handOver(unsent: unsent) else { return nil }
        self.end(poll: .payload(ByteBuffer(string: "6")))
        return handover
    }

    // MARK: ConnectionTransport

    var isWritable: Bool { self.outboxBytes < self.maxPayload }

    func write(_ frame: WebSocketFrame) {
        self.outbox.append(frame)
        self.outboxBytes += EngineIOPayload.encodedSize(of: frame)
    }

    func flush() {
        guard let poll = self.pendingGet, !self.outbox.isEmpty else { return }
        self.pendingGet = nil
        var count = min(self.outbox.count, Self.packetsPerResponse)
        if case .closing = self.phase, count == self.outbox.count, count > 1 {
            // The close packet travels alone: python-engineio, handed a CONNECT_ERROR and the
            // close in one response, stalls its connect() for seconds.
            count -= 1
        }
        var body = ByteBuffer()
        for frame in self.outbox.prefix(count) {
            EngineIOPayload.append(frame, to: &body)
            self.outboxBytes -= EngineIOPayload.encodedSize(of: frame)
        }
        self.outbox.removeFirst(count)
        self.greeted = true
        poll.succeed(.payload(body))
        if case .closing = self.phase, self.outbox.isEmpty {
            self.end(poll: nil)
        } else {
            // The writer may have stopped at a full outbox.
            self.connection.becameWritable()
        }
    }

    func close(_ reason: CloseReason) {
        switch self.phase {
        case .ended, .closing:
            return
        case .open, .upgrading:
            break
        }
        if !self.greeted {
            // Refused before the handshake was answered: an HTTP error says why.
            return self.end(poll: Self.refusal(reason))
        }
        if self.connection.transportClosedByClient {
            // The client's own close: its pending poll ends with a noop (as Engine.IO's reference server does).
            return self.end(poll: .payload(ByteBuffer(string: "6")))
        }
        self.phase = .closing
        self.write(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: "1")))
        self.flush()
        guard case .closing = self.phase else { return }
        // No poll to take the close packet: the next one may, within the close timeout.
        let timeout = TimeAmount(seconds: self.connection.settings.server.closeTimeout)
        let transport = NIOLoopBound(self, eventLoop: self.eventLoop)
        self.eventLoop.scheduleTask(in: timeout) { transport.value.end(poll: nil) }
    }

    func abort() {
        self.end(poll: .unknownSession)
    }

    func resumeReading() {
        guard let post = self.pendingPost else { return }
        self.pendingPost = nil
        post.succeed(.taken)
    }

    // MARK: Ending

    /// Ends the session: later requests for its sid get 400, a pending poll `poll` (or 400).
    private func end(poll: Response?) {
        if case .ended = self.phase { return }
        self.phase = .ended
        self.registry.remove(self)
        self.pendingGet?.succeed(poll ?? .unknownSession)
        self.pendingGet = nil
        // A client's close packet was taken like any other.
        self.pendingPost?.succeed(self.connection.transportClosedByClient ? .taken : .unknownSession)
        self.pendingPost = nil
        self.outbox = []
        self.outboxBytes = 0
        self.connection.end()
    }

    private func answerPoll(with body: ByteBuffer) {
        self.pendingGet?.succeed(.payload(body))
        self.pendingGet = nil
    }

    /// The HTTP answer to a handshake refused with `reason`.
    private static func refusal(_ reason: CloseReason) -> Response {
        switch reason.code {
        case .policyViolation: .error(.forbidden, code: 4, reason.reason)
        case .tryAgainLater, .goingAway: .error(.serviceUnavailable, code: 3, reason.reason)
        default: .error(.badRequest, code: 3, reason.reason)
        }
    }
}

@available(*, unavailable)
extension PollingTransport: Sendable {}
