import Logging
import NIOWebSocket
import RelayKernel
import Synchronization
import Testing
import WSClient

/// One WebSocket connection to a ``TestRelay`` (swift-websocket's `WebSocketClient`).
///
/// A reader task always drains the socket (so pings and the close handshake are answered) into an
/// ``Inbox``; tests read from the inbox in arrival order.
struct ChatClient: Sendable {
    /// The client id from the relay's `connected` message.
    let id: String
    private let outbound: WebSocketOutboundWriter
    private let inbox: Inbox

    fileprivate init(id: String, outbound: WebSocketOutboundWriter, inbox: Inbox) {
        self.id = id
        self.outbound = outbound
        self.inbox = inbox
    }

    /// Sends a JSON message as one text frame.
    func send(_ message: JSONValue) async throws {
        try await self.outbound.write(.text(message.jsonText))
    }

    /// The next message, which must have type `type`.
    @discardableResult
    func receive(_ type: String, timeout: Duration = .seconds(5), sourceLocation: SourceLocation = #_sourceLocation) async throws -> JSONValue {
        let next = try await self.inbox.next(timeout: timeout)
        let message = try #require(next, "no message within \(timeout), expected '\(type)'", sourceLocation: sourceLocation)
        try #require(message["type"]?.stringValue == type, "expected '\(type)', got \(message.jsonText)", sourceLocation: sourceLocation)
        return message
    }

    /// The next message, which must be an error with `code` about a message of type `ref`.
    func receiveError(_ code: String, ref: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let error = try await self.receive("error", sourceLocation: sourceLocation)
        #expect(error["code"] == .string(code), "\(error.jsonText)", sourceLocation: sourceLocation)
        #expect(error["ref"] == .string(ref), "\(error.jsonText)", sourceLocation: sourceLocation)
    }

    /// Proves nothing else is queued for this client: a `ping` must be answered by the very next
    /// message. Anything the relay queued for it before the ping would arrive first.
    func expectNothingPending(sourceLocation: SourceLocation = #_sourceLocation) async throws {
        try await self.send(["type": "ping"])
        try await self.receive("pong", sourceLocation: sourceLocation)
    }
}

extension TestRelay {
    /// Connects to `path`, waits for `connected`, runs `body`, then closes with 1000 (a clean
    /// leave) and waits for the relay's close.
    func withClient<Result: Sendable>(
        path: String = "/ws/chat",
        token: String? = nil,
        _ body: @escaping @Sendable (ChatClient) async throws -> Result
    ) async throws -> Result {
        let result = ResultBox<Result>()
        let query = token.map { "?token=\($0)" } ?? ""
        try await WebSocketClient.connect(
            url: "ws://127.0.0.1:\(self.port)\(path)\(query)",
            configuration: .init(maxFrameSize: 1 << 20),
            logger: TestRelay.logger("test.client")
        ) { inbound, outbound, _ in
            let inbox = Inbox()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    defer { inbox.finish() }
                    for try await message in inbound.messages(maxSize: 1 << 20) {
                        guard case .text(let text) = message else { continue }
                        inbox.push((try? JSONParser.parse(Array(text.utf8))) ?? .string(text))
                    }
                }
                let first = try await inbox.next(timeout: .seconds(5))
                let connected = try #require(first, "no 'connected' message")
                let id = try #require(connected["clientId"]?.stringValue, "not a 'connected' message: \(connected.jsonText)")
                result.set(try await body(ChatClient(id: id, outbound: outbound, inbox: inbox)))
                try await outbound.close(.normalClosure, reason: nil)
                // The reader ends when the relay answers the close; don't wait for ever.
                group.addTask {
                    try await Task.sleep(for: .seconds(5))
                    throw TestFailure("the relay did not answer the close within 5 s")
                }
                try await group.next()
                group.cancelAll()
            }
        }
        return try #require(result.value, "the connection ended before the test body finished")
    }
}

/// Messages received on one connection, in order.
final class Inbox: Sendable {
    private struct State {
        var messages: [JSONValue] = []
        var finished = false
    }

    private let state = Mutex(State())

    func push(_ message: JSONValue) {
        self.state.withLock { $0.messages.append(message) }
    }

    func finish() {
        self.state.withLock { $0.finished = true }
    }

    /// The oldest unread message; `nil` when none arrives within `timeout` or the socket closed.
    func next(timeout: Duration) async throws -> JSONValue? {
        let deadline = ContinuousClock.now + timeout
        while true {
            // Not `isEmpty ? (nil, …) : (…)`: `JSONValue` is `ExpressibleByNilLiteral`, so that
            // `nil` would become `.some(.null)`.
            let (message, finished) = self.state.withLock { state -> (JSONValue?, Bool) in
                if state.messages.isEmpty { return (Optional<JSONValue>.none, state.finished) }
                return (state.messages.removeFirst(), false)
            }
            if let message { return message }
            if finished || ContinuousClock.now >= deadline { return nil }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}

/// Carries a test body's result out of the WebSocket handler.
final class ResultBox<Value: Sendable>: Sendable {
    private let storage = Mutex<Value?>(nil)

    func set(_ value: Value) { self.storage.withLock { $0 = value } }

    var value: Value? { self.storage.withLock { $0 } }
}
