import NIOWebSocket
public import RelayKernel

/// A client of a ``TestRelay``: sends JSON messages, reads what the relay sent it in order,
/// drops and resumes its connection, leaves.
///
/// The `receive` functions take messages in arrival order and throw ``RelayTestError`` when
/// the next message is not the one expected, so a test reads like the conversation it checks.
/// In process a message is there as soon as the call that caused it returned; live, `receive`
/// waits up to ``timeout`` for it.
public final class TestClient: Sendable {
    enum Connection: Sendable {
        case inProcess(InProcessClient)
        case live(LiveConnection)
    }

    /// The `connected` message (`clientId`, `resumeToken`, `resumed`, and the fields plugins added).
    public let connected: JSONValue
    /// The client id.
    public let id: ClientID
    /// How long a live `receive` waits for a message.
    public let timeout: Duration = .seconds(5)
    private let connection: Connection
    private let relay: TestRelay
    private let path: String
    private let userId: String?
    private let claims: [String: JSONValue]

    init(inProcess client: InProcessClient, relay: TestRelay, path: String, userId: String?, claims: [String: JSONValue]) throws {
        guard let id = client.id, let first = client.receive() else { throw RelayTestError("the relay did not greet the client") }
        self.connection = .inProcess(client)
        self.connected = Self.parse(first)
        self.id = id
        self.relay = relay
        self.path = path
        self.userId = userId
        self.claims = claims
    }

    init(live connection: LiveConnection, connected: JSONValue, relay: TestRelay, path: String, userId: String?, claims: [String: JSONValue]) {
        self.connection = .live(connection)
        self.connected = connected
        self.id = ClientID(connected["clientId"]?.stringValue ?? "")
        self.relay = relay
        self.path = path
        self.userId = userId
        self.claims = claims
    }

    /// Why the relay closed this connection, once it did.
    public var closeReason: CloseReason? {
        switch self.connection {
        case .inProcess(let client): client.closeReason
        case .live(let connection): connection.closeReason
        }
    }

    /// Sends a JSON message (an object with `type`).
    public func send(_ message: JSONValue) async throws {
        try await self.send(text: message.jsonText)
    }

    /// Sends raw text as one text frame (for malformed input).
    public func send(text: String) async throws {
        switch self.connection {
        case .inProcess(let client): await client.send(text)
        case .live(let connection): try await connection.send(text)
        }
    }

    /// Every message received and not yet taken, in order (live: those that arrived so far).
    public func receiveAll() -> [JSONValue] {
        switch self.connection {
        case .inProcess(let client): client.receiveAll().map(Self.parse)
        case .live(let connection): connection.takeAll()
        }
    }

    /// The next message; throws when there is none.
    @discardableResult
    public func receive() async throws -> JSONValue {
        guard let next = try await self.next() else { throw RelayTestError("\(self.id): no message") }
        return next
    }

    /// The next message, which must have type `type`.
    @discardableResult
    public func receive(_ type: String) async throws -> JSONValue {
        guard let message = try await self.next() else { throw RelayTestError("\(self.id): no message, expected '\(type)'") }
        guard message["type"]?.stringValue == type else { throw RelayTestError("\(self.id): expected '\(type)', got \(message.jsonText)") }
        return message
    }

    /// The first message of type `type`, skipping (and discarding) any before it.
    @discardableResult
    public func receive(until type: String) async throws -> JSONValue {
        var skipped: [String] = []
        while let next = try await self.next() {
            if next["type"]?.stringValue == type { return next }
            skipped.append(next.jsonText)
        }
        throw RelayTestError("\(self.id): no '\(type)' message; got \(skipped)")
    }

    /// The next message, which must be an `error` with `code` (and `ref`, when given).
    @discardableResult
    public func receiveError(_ code: String, ref: String? = nil) async throws -> JSONValue {
        let error = try await self.receive("error")
        guard error["code"]?.stringValue == code, ref == nil || error["ref"]?.stringValue == ref else {
            throw RelayTestError("\(self.id): expected error \(code)\(ref.map { " about \($0)" } ?? ""), got \(error.jsonText)")
        }
        return error
    }

    /// Throws when any message is waiting. Live, a `ping` must be answered by the very next
    /// message: anything the relay queued for this client before it would arrive first.
    public func expectNothing() async throws {
        if case .live = self.connection {
            try await self.send(["type": "ping"])
            let next = try await self.receive()
            guard next["type"] == "pong" else { throw RelayTestError("\(self.id): expected no message, got \(next.jsonText)") }
            return
        }
        let waiting = self.receiveAll()
        guard waiting.isEmpty else { throw RelayTestError("\(self.id): expected no message, got \(waiting.map(\.jsonText))") }
    }

    /// The connection drops (network loss); the identity waits for the resume grace.
    public func drop() async {
        switch self.connection {
        case .inProcess(let client): await client.drop()
        case .live(let connection): await connection.close(code: .unknown(4000))
        }
    }

    /// Reconnects with this connection's resume token and the count of messages it received,
    /// as a client library does after a drop. The new client's `connected` says `resumed: true`
    /// and the missed messages follow; after the grace it gets a fresh identity instead.
    public func resume() async throws -> TestClient {
        guard let token = self.connected["resumeToken"]?.stringValue else { throw RelayTestError("\(self.id): no resume token") }
        switch self.connection {
        case .inProcess(let client):
            guard let relay = self.relay.inProcess else { throw RelayTestError("not in process") }
            let resumed = try await relay.resume(self.path, token: client.resumeToken ?? token, lastSeen: client.receivedCount, userId: self.userId, claims: self.claims)
            return try TestClient(inProcess: resumed, relay: self.relay, path: self.path, userId: self.userId, claims: self.claims)
        case .live(let connection):
            guard case .live(let live) = self.relay.backend else { throw RelayTestError("not live") }
            let path = try await self.relay.livePath(self.path, userId: self.userId, claims: self.claims, query: "resume=\(token)&lastSeen=\(connection.receivedCount)")
            let (resumed, greeting) = try await LiveConnection.open(port: live.port, path: path)
            return TestClient(live: resumed, connected: greeting, relay: self.relay, path: self.path, userId: self.userId, claims: self.claims)
        }
    }

    /// Leaves cleanly (close 1000): the plugins hear it at once.
    public func leave() async {
        switch self.connection {
        case .inProcess(let client): await client.leave()
        case .live(let connection): await connection.close(code: .normalClosure)
        }
    }

    private func next() async throws -> JSONValue? {
        switch self.connection {
        case .inProcess(let client): client.receive().map(Self.parse)
        case .live(let connection): try await connection.next(timeout: self.timeout)
        }
    }

    /// A message as JSON: a text message's object, or a binary message's header.
    private static func parse(_ message: OutboundMessage) -> JSONValue {
        message.kind == .binary ? Self.header(ofBinary: message.bytes) : Self.parse(text: message.bytes)
    }

    /// A text frame's JSON (the text itself when it is not JSON).
    static func parse(text bytes: ByteBuffer) -> JSONValue {
        (try? JSONParser.parse(bytes.readableBytesView)) ?? .string(String(buffer: bytes))
    }

    /// A binary frame's JSON header (big-endian length, then the header); `null` if it has none.
    static func header(ofBinary frame: ByteBuffer) -> JSONValue {
        var bytes = frame
        guard let length = bytes.readInteger(as: UInt32.self), let header = bytes.readSlice(length: Int(length)) else { return .null }
        return (try? JSONParser.parse(header.readableBytesView)) ?? .null
    }
}
