public import Foundation
public import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import WebSocketKit

/// A client of a Relay endpoint (codec `json`, docs/protocol.md) that keeps its connection:
/// it reconnects with exponential backoff and full jitter, and resumes, so every message the
/// relay sent arrives once and in order, or ``RelaySession/Start/resumeFailed(previousClientId:)``
/// says the relay could not resume and the app must rebuild its state.
///
/// ```swift
/// let client = RelayClient(url: URL(string: "wss://relay.example.com/ws/pubsub")!,
///                          configuration: .init(getToken: { try await auth.token() }))
/// try await client.connect()
/// try await client.send(["type": "subscribe", "topic": "news"])
/// let pong = try await client.request(["type": "ping"], replyType: "pong")
/// for await message in client.messages where message.type == "message" {
///     print(message["data"] ?? nil)
/// }
/// ```
///
/// - ``connect()`` opens the connection and returns once the relay sent `connected`.
/// - ``messages`` yields every message except `connected`, in order, across reconnects.
/// - ``states`` yields every ``ConnectionState`` change.
/// - While disconnected, `send` queues (up to `queueLimit`) and sends in order once connected.
/// - A close with 1008 before `connected` (credentials refused) ends the client with
///   ``RelayClientError/Code/authenticationFailed``: it is not retried. A 1008 on a connection
///   that was open (its token expired) is retried, with a token from `getToken`.
/// - `token_expiring` is answered by itself with `refresh` and a token from `getToken`, so the
///   connection outlives its token.
/// - ``close()`` leaves for good (`{"type":"leave"}`, close 1000) and ends both sequences.
///
/// `lastSeen` counts every message received since the first `connected` except `connected`
/// and `authenticated` frames; a reconnect sends it with the resume token
/// (`?resume=<token>&lastSeen=<n>`).
public actor RelayClient {
    /// The endpoint's WebSocket URL (`ws://` or `wss://`).
    public nonisolated let url: URL
    /// The settings it was made with.
    public nonisolated let configuration: RelayClientConfiguration
    /// Every message from the relay except `connected` (see ``states``), in order, once; ends
    /// when the client closes. Meant for one consumer; buffered without bound.
    public nonisolated let messages: AsyncStream<RelayMessage>
    /// Every state change; ends with ``ConnectionState/closed(_:)``. Meant for one consumer;
    /// keeps the latest 256 changes when nobody reads.
    public nonisolated let states: AsyncStream<ConnectionState>

    /// The current state.
    public private(set) var state: ConnectionState = .idle
    /// The relay's id for this client, after the first `connected`.
    public private(set) var clientId: String?
    /// The single-use token of the next resume.
    public private(set) var resumeToken: String?
    /// Messages received since the first `connected` of this identity, except `connected` and
    /// `authenticated`: what a resume sends as `lastSeen`.
    public private(set) var lastSeen = 0

    private let group: any EventLoopGroup
    private let messageSink: AsyncStream<RelayMessage>.Continuation
    private let stateSink: AsyncStream<ConnectionState>.Continuation
    private var socket: WebSocket?
    /// `connected` arrived on `socket`: writes go out at once.
    private var isOpen = false
    private var outbox: [Outbound] = []
    private var pending: [PendingRequest] = []
    private var nextRequestID = 0
    private var waiters: [CheckedContinuation<RelaySession, any Error>] = []
    private var runner: Task<Void, Never>?
    /// Consecutive failed attempts since the relay was last reached.
    private var retries = 0
    /// `close()` was called or a terminal failure happened: no more connections.
    private var ending = false
    private var random = SystemRandomNumberGenerator()

    /// A client for `url`; nothing happens before ``connect()``.
    ///
    /// - Parameters:
    ///   - url: the endpoint, e.g. `ws://127.0.0.1:8080/ws`.
    ///   - configuration: token hook, backoff, queue and time-out settings.
    ///   - eventLoopGroup: the SwiftNIO group sockets run on; default: the shared
    ///     `MultiThreadedEventLoopGroup.singleton`. On Apple platforms pass a
    ///     `NIOTSEventLoopGroup` to use Network.framework.
    public init(url: URL, configuration: RelayClientConfiguration = RelayClientConfiguration(), eventLoopGroup: (any EventLoopGroup)? = nil) {
        self.url = url
        self.configuration = configuration
        self.group = eventLoopGroup ?? MultiThreadedEventLoopGroup.singleton
        (self.messages, self.messageSink) = AsyncStream.makeStream(of: RelayMessage.self)
        (self.states, self.stateSink) = AsyncStream.makeStream(of: ConnectionState.self, bufferingPolicy: .bufferingNewest(256))
    }

    /// Whether messages go out at once (the relay sent `connected` on the current socket).
    public var isConnected: Bool { self.isOpen }

    // MARK: Connection

    /// Connects (retrying with backoff) and returns the session once the relay sent `connected`;
    /// returns at once when already connected.
    ///
    /// - Throws: ``RelayClientError`` with ``RelayClientError/Code/authenticationFailed``,
    ///   ``RelayClientError/Code/upgradeRefused``, ``RelayClientError/Code/gaveUp`` or
    ///   ``RelayClientError/Code/closed``.
    @discardableResult
    public func connect() async throws -> RelaySession {
        switch self.state {
        case .open(let session): return session
        case .closed(let failure): throw failure ?? RelayClientError(.closed, "the client was closed")
        default: break
        }
        if self.ending { throw RelayClientError(.closed, "the client was closed") }
        if self.runner == nil {
            self.runner = Task { await self.run() }
        }
        return try await withCheckedThrowingContinuation { continuation in
            self.waiters.append(continuation)
        }
    }

    /// Leaves for good: sends `{"type":"leave"}` and close 1000 (the relay ends the identity at
    /// once), fails pending requests, ends ``messages`` and ``states``. A closed client stays
    /// closed; make a new one to connect again.
    public func close() async {
        guard !self.ending else { return }
        self.ending = true
        if let socket = self.socket {
            if self.isOpen {
                socket.send(JSONValue.object(["type": "leave"]).jsonText, promise: nil)
            }
            socket.close(code: .normalClosure, promise: nil)
            await Self.wait(for: socket.onClose, atMost: self.configuration.closeTimeout)
        }
        self.runner?.cancel()
        await self.runner?.value
        self.resumeToken = nil
        self.finish(nil)
    }

    private func run() async {
        while !self.ending {
            let end = await self.connectOnce()
            if self.ending { return }
            if let failure = self.terminalFailure(end) {
                self.finish(failure)
                return
            }
            if let maxAttempts = self.configuration.maxAttempts, self.retries >= maxAttempts {
                self.finish(RelayClientError(.gaveUp, "no connection after \(self.retries) attempts", closeCode: end.closeCode))
                return
            }
            let delay = self.configuration.backoff.delay(attempt: self.retries, using: &self.random)
            self.retries += 1
            self.setState(.reconnecting(attempt: self.retries, delay: delay, closeCode: end.closeCode))
            do {
                try await Task.sleep(for: delay)
            } catch {
                return
            }
        }
    }

    /// How a connection attempt ended.
    private enum ConnectionEnd {
        /// No WebSocket: TCP refused, HTTP error status, token hook failed.
        case failed(any Error)
        /// The socket closed (`code` of its close frame, `nil` without one).
        case closed(code: Int?, afterConnected: Bool)

        var closeCode: Int? {
            if case .closed(let code, _) = self { return code }
            return nil
        }
    }

    private func terminalFailure(_ end: ConnectionEnd) -> RelayClientError? {
        switch end {
        case .failed(let error):
            if case .invalidResponseStatus(let head) = error as? WebSocketClient.Error, (400..<500).contains(head.status.code),
                head.status != .requestTimeout, head.status != .tooManyRequests
            {
                return RelayClientError(.upgradeRefused, "the relay answered the upgrade with HTTP \(head.status.code)")
            }
        case .closed(code: 1008, afterConnected: false):
            return RelayClientError(.authenticationFailed, "the relay refused the credentials (close 1008)", closeCode: 1008)
        default:
            break
        }
        return self.configuration.reconnect ? nil : RelayClientError(.closed, "the connection ended and reconnect is off", closeCode: end.closeCode)
    }

    /// Events of one socket, in the order its event loop saw them.
    private enum SocketEvent: Sendable {
        case text(String)
        case binary(Data)
        case closed(Int?)
    }

    private func connectOnce() async -> ConnectionEnd {
        self.setState(.connecting(attempt: self.retries))
        var token: String?
        if let getToken = self.configuration.getToken {
            do {
                token = try await getToken()
            } catch {
                return .failed(error)
            }
        }
        var headers = HTTPHeaders()
        if self.configuration.tokenTransport == .header, let token {
            headers.add(name: "Authorization", value: "Bearer \(token)")
        }
        let target = self.upgradeURL(token: self.configuration.tokenTransport == .query ? token : nil)
        let (events, sink) = AsyncStream.makeStream(of: SocketEvent.self)
        // Completed by `onUpgrade`, which websocket-kit calls after its connect future succeeded,
        // or not at all when the relay closes the connection right after the upgrade: so the
        // attempt also ends at `openTimeout`.
        let loop = self.group.any()
        let opened = loop.makePromise(of: WebSocket.self)
        let openTimeout = self.configuration.openTimeout
        let deadline = loop.scheduleTask(in: .nanoseconds(Self.nanoseconds(openTimeout))) {
            opened.fail(RelayClientError(.closed, "no WebSocket within \(openTimeout)"))
        }
        let pingInterval = self.configuration.pingInterval.map { TimeAmount.nanoseconds(Self.nanoseconds($0)) }
        let upgraded: EventLoopFuture<Void> = WebSocket.connect(
            to: target,
            headers: headers,
            configuration: WebSocketClient.Configuration(maxFrameSize: self.configuration.maxFrameSize),
            on: self.group
        ) { (socket: WebSocket) -> Void in
            // On the socket's event loop, before any frame is read.
            opened.succeed(socket)
            opened.futureResult.whenFailure { _ in socket.close(promise: nil) }  // too late: not used
            socket.onText { _, text in sink.yield(.text(text)) }
            socket.onBinary { _, buffer in sink.yield(.binary(Data(buffer.readableBytesView))) }
            socket.onClose.whenComplete { _ in
                sink.yield(.closed(socket.closeCode.map { Int(UInt16(webSocketErrorCode: $0)) }))
                sink.finish()
            }
            socket.pingInterval = pingInterval
        }
        upgraded.cascadeFailure(to: opened)
        let socket: WebSocket
        do {
            // Not cancellable: a socket that opens is always either used or closed below.
            socket = try await opened.futureResult.get()
        } catch {
            deadline.cancel()
            sink.finish()
            return .failed(error)
        }
        deadline.cancel()
        if self.ending {
            // close() ran while the upgrade was under way.
            socket.close(code: .normalClosure, promise: nil)
            return .closed(code: nil, afterConnected: false)
        }
        self.socket = socket
        if self.configuration.tokenTransport == .firstMessage, let token {
            socket.send(JSONValue.object(["type": "auth", "token": .string(token)]).jsonText, promise: nil)
        }
        var connected = false
        var closeCode: Int?
        loop: for await event in events {
            switch event {
            case .text(let text):
                connected = self.receive(text: text) || connected
            case .binary(let data):
                self.receive(binary: data)
            case .closed(let code):
                closeCode = code
                break loop
            }
        }
        self.socket = nil
        self.isOpen = false
        return .closed(code: closeCode, afterConnected: connected)
    }

    private func upgradeURL(token: String?) -> URL {
        guard var components = URLComponents(url: self.url, resolvingAgainstBaseURL: false) else { return self.url }
        var items = components.queryItems ?? []
        for (name, value) in self.configuration.parameters.sorted(by: { $0.key < $1.key }) {
            items.append(URLQueryItem(name: name, value: value))
        }
        if let token {
            items.append(URLQueryItem(name: "token", value: token))
        }
        if let resumeToken = self.resumeToken {
            items.append(URLQueryItem(name: "resume", value: resumeToken))
            items.append(URLQueryItem(name: "lastSeen", value: String(self.lastSeen)))
        }
        components.queryItems = items.isEmpty ? nil : items
        // `+` is legal in a query but servers read it as a space.
        components.percentEncodedQuery = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        return components.url ?? self.url
    }

    // MARK: Receiving

    /// Handles a text frame; returns whether it was `connected`.
    private func receive(text: String) -> Bool {
        guard let message = RelayMessage(json: Data(text.utf8)) else {
            self.lastSeen += 1
            return false
        }
        switch message.type {
        case "connected":
            self.opened(message)
            return true
        case "authenticated":
            break
        case "token_expiring":
            self.lastSeen += 1
            self.refreshToken()
        default:
            self.lastSeen += 1
        }
        self.settle(message)
        self.messageSink.yield(message)
        return false
    }

    /// Answers `token_expiring`: a token from `getToken` goes out as `{"type":"refresh"}` on this
    /// connection (the relay answers `refreshed`, which arrives on ``messages``). If the hook
    /// fails, the relay closes at the old token's `exp` and the reconnect takes a fresh token.
    private func refreshToken() {
        guard let getToken = self.configuration.getToken, let socket = self.socket else { return }
        Task {
            guard let token = try? await getToken() else { return }
            socket.send(JSONValue.object(["type": "refresh", "token": .string(token)]).jsonText, promise: nil)
        }
    }

    private func receive(binary: Data) {
        self.lastSeen += 1
        guard let frame = BinaryFrame.decode(binary), let message = RelayMessage(json: frame.header, payload: frame.payload) else { return }
        self.settle(message)
        self.messageSink.yield(message)
    }

    private func opened(_ connected: RelayMessage) {
        let id = connected["clientId"]?.stringValue ?? ""
        let start: RelaySession.Start
        if connected["resumed"]?.boolValue == true, id == self.clientId {
            start = .resumed(replayed: connected["replayed"]?.intValue ?? 0)
        } else {
            start = self.clientId.map { .resumeFailed(previousClientId: $0) } ?? .new
            self.lastSeen = 0
        }
        self.clientId = id
        self.resumeToken = connected["resumeToken"]?.stringValue
        self.retries = 0
        if let socket = self.socket {
            for item in self.outbox {
                Self.write(item, to: socket, promise: nil)
            }
            self.outbox.removeAll()
            self.isOpen = true
        }
        let session = RelaySession(clientId: id, start: start, connected: connected)
        self.setState(.open(session))
        for waiter in self.waiters {
            waiter.resume(returning: session)
        }
        self.waiters.removeAll()
    }

    // MARK: Sending

    /// Sends a JSON object with a string `type`, or queues it while disconnected. Returns once it
    /// is written to the socket (or queued).
    ///
    /// - Throws: ``RelayClientError/Code/invalidMessage``, ``RelayClientError/Code/queueFull``,
    ///   ``RelayClientError/Code/closed``.
    public func send(_ message: [String: JSONValue]) async throws {
        try await self.transmit(.text(try Self.validated(JSONValue.object(message)).text))
    }

    /// Sends an `Encodable` value that encodes to a JSON object with a string `type`.
    public func send(_ value: some Encodable & Sendable) async throws {
        try await self.transmit(.text(try Self.validated(value).text))
    }

    /// Sends a binary frame: `header` (with a string `type` that routes it) and raw `payload`.
    public func sendBinary(header: [String: JSONValue], payload: Data) async throws {
        let header = try Self.validated(JSONValue.object(header))
        try await self.transmit(.binary(BinaryFrame.encode(header: Data(header.text.utf8), payload: payload)))
    }

    /// Sends `message` and returns the first message of type `replyType` (default: the type
    /// sent) that `match` accepts. Requests outlive reconnects: a reply the relay replays after a
    /// resume still answers them.
    ///
    /// - Parameters:
    ///   - message: a JSON object with a string `type`.
    ///   - replyType: the type of the answer; default: the type sent.
    ///   - timeout: default: the configuration's `requestTimeout`.
    ///   - match: tells this request's answer from others of the same type.
    /// - Throws: ``RelayClientError/Code/server`` when an `error` whose `ref` is the type sent
    ///   arrives first, ``RelayClientError/Code/timeout``, ``RelayClientError/Code/queueFull``,
    ///   ``RelayClientError/Code/closed``.
    public func request(
        _ message: [String: JSONValue],
        replyType: String? = nil,
        timeout: Duration? = nil,
        where match: (@Sendable (RelayMessage) -> Bool)? = nil
    ) async throws -> RelayMessage {
        let (text, type) = try Self.validated(JSONValue.object(message))
        return try await self.request(text: text, type: type, replyType: replyType ?? type, timeout: timeout, match: match)
    }

    /// ``request(_:replyType:timeout:where:)`` for an `Encodable` value.
    public func request(
        _ value: some Encodable & Sendable,
        replyType: String? = nil,
        timeout: Duration? = nil,
        where match: (@Sendable (RelayMessage) -> Bool)? = nil
    ) async throws -> RelayMessage {
        let (text, type) = try Self.validated(value)
        return try await self.request(text: text, type: type, replyType: replyType ?? type, timeout: timeout, match: match)
    }

    private struct PendingRequest {
        let id: Int
        let ref: String
        let replyType: String
        let match: (@Sendable (RelayMessage) -> Bool)?
        let continuation: CheckedContinuation<RelayMessage, any Error>
        let timer: Task<Void, Never>
    }

    private func request(text: String, type: String, replyType: String, timeout: Duration?, match: (@Sendable (RelayMessage) -> Bool)?) async throws -> RelayMessage {
        if self.ending { throw RelayClientError(.closed, "the client was closed") }
        let id = self.nextRequestID
        self.nextRequestID += 1
        let limit = timeout ?? self.configuration.requestTimeout
        return try await withCheckedThrowingContinuation { continuation in
            let timer = Task { [weak self] in
                try? await Task.sleep(for: limit)
                guard !Task.isCancelled else { return }
                await self?.expire(id, type: replyType, after: limit)
            }
            self.pending.append(PendingRequest(id: id, ref: type, replyType: replyType, match: match, continuation: continuation, timer: timer))
            do {
                try self.enqueueOrWrite(.text(text))
            } catch {
                self.resolve(id, with: .failure(error))
            }
        }
    }

    private func expire(_ id: Int, type: String, after limit: Duration) {
        self.resolve(id, with: .failure(RelayClientError(.timeout, "no \(type) within \(limit)")))
    }

    private func resolve(_ id: Int, with result: Result<RelayMessage, any Error>) {
        guard let index = self.pending.firstIndex(where: { $0.id == id }) else { return }
        let entry = self.pending.remove(at: index)
        entry.timer.cancel()
        entry.continuation.resume(with: result)
    }

    /// Answers the oldest request `message` settles: an `error` with its type as `ref`, or a
    /// message of its reply type that its `match` accepts.
    private func settle(_ message: RelayMessage) {
        guard !self.pending.isEmpty else { return }
        if message.type == "error", let ref = message["ref"]?.stringValue,
            let entry = self.pending.first(where: { $0.ref == ref && $0.replyType != "error" })
        {
            let code = message["code"]?.stringValue ?? "error"
            let text = message["message"]?.stringValue ?? code
            self.resolve(entry.id, with: .failure(RelayClientError(.server, text, serverCode: code)))
            return
        }
        if let entry = self.pending.first(where: { $0.replyType == message.type && ($0.match?(message) ?? true) }) {
            self.resolve(entry.id, with: .success(message))
        }
    }

    private enum Outbound {
        case text(String)
        case binary(Data)
    }

    private func transmit(_ item: Outbound) async throws {
        if self.ending { throw RelayClientError(.closed, "the client was closed") }
        guard self.isOpen, let socket = self.socket else {
            try self.enqueue(item)
            return
        }
        let promise = socket.eventLoop.makePromise(of: Void.self)
        Self.write(item, to: socket, promise: promise)
        do {
            try await promise.futureResult.get()
        } catch {
            // The socket went away before the frame was written: it goes out after the reconnect.
            try self.enqueue(item)
        }
    }

    private func enqueueOrWrite(_ item: Outbound) throws {
        if self.isOpen, let socket = self.socket {
            Self.write(item, to: socket, promise: nil)
        } else {
            try self.enqueue(item)
        }
    }

    private func enqueue(_ item: Outbound) throws {
        guard self.outbox.count < self.configuration.queueLimit else {
            throw RelayClientError(.queueFull, "\(self.configuration.queueLimit) messages are already waiting for a connection")
        }
        self.outbox.append(item)
    }

    private static func write(_ item: Outbound, to socket: WebSocket, promise: EventLoopPromise<Void>?) {
        switch item {
        case .text(let text): socket.send(text, promise: promise)
        case .binary(let data): socket.send(raw: data, opcode: .binary, promise: promise)
        }
    }

    /// The JSON text and `type` of a value that must encode to an object with a string `type`.
    private static func validated(_ value: some Encodable) throws -> (text: String, type: String) {
        let data: Data
        do {
            data = try JSONEncoder().encode(value)
        } catch {
            throw RelayClientError(.invalidMessage, "not encodable as JSON: \(error)")
        }
        guard let type = RelayMessage(json: data)?["type"]?.stringValue else {
            throw RelayClientError(.invalidMessage, "a message must be a JSON object with a string \"type\"")
        }
        return (String(decoding: data, as: UTF8.self), type)
    }

    // MARK: State

    private func setState(_ state: ConnectionState) {
        self.state = state
        self.stateSink.yield(state)
    }

    /// Ends the client: fails what waits, reports `.closed(failure)`, ends both sequences.
    private func finish(_ failure: RelayClientError?) {
        if case .closed = self.state { return }
        self.ending = true
        self.isOpen = false
        self.outbox.removeAll()
        let error = failure ?? RelayClientError(.closed, "the client was closed")
        for entry in self.pending {
            entry.timer.cancel()
            entry.continuation.resume(throwing: error)
        }
        self.pending.removeAll()
        for waiter in self.waiters {
            waiter.resume(throwing: error)
        }
        self.waiters.removeAll()
        self.setState(.closed(failure))
        self.stateSink.finish()
        self.messageSink.finish()
    }

    private static func wait(for future: EventLoopFuture<Void>, atMost limit: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await future.get() }
            group.addTask { try? await Task.sleep(for: limit) }
            await group.next()
            group.cancelAll()
        }
    }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
