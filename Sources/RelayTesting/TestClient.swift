public import RelayKernel

/// A simulated client of a ``TestRelay``: sends JSON messages, reads what the relay sent it in
/// order, drops and resumes its connection, leaves.
///
/// The `receive` functions take messages in arrival order and throw ``RelayTestError`` when
/// the next message is not the one expected, so a test reads like the conversation it checks.
public final class TestClient: Sendable {
    /// The `connected` message (`clientId`, `resumeToken`, `resumed`, and the fields plugins added).
    public let connected: JSONValue
    /// The client as plugins see it.
    public let info: ClientInfo
    private let client: InProcessClient
    private let relay: TestRelay
    private let path: String
    private let claims: [String: JSONValue]

    init(_ client: InProcessClient, relay: TestRelay, path: String, userId: String?, claims: [String: JSONValue]) throws {
        guard let info = client.info, let first = client.receive() else { throw RelayTestError("the relay did not greet the client") }
        self.client = client
        self.relay = relay
        self.path = path
        self.claims = claims
        self.info = info
        self.connected = Self.parse(first)
    }

    /// The client id.
    public var id: ClientID { self.info.id }

    /// Why the relay closed this connection, once it did.
    public var closeReason: CloseReason? { self.client.closeReason }

    /// Sends a JSON message (an object with `type`).
    public func send(_ message: JSONValue) async {
        await self.client.send(message.jsonText)
    }

    /// Sends raw text as one text frame (for malformed input).
    public func send(text: String) async {
        await self.client.send(text)
    }

    /// Every message received and not yet taken, in order.
    public func receiveAll() -> [JSONValue] {
        self.client.receiveAll().map(Self.parse)
    }

    /// The next message; throws when there is none.
    @discardableResult
    public func receive() throws -> JSONValue {
        guard let next = self.client.receive() else { throw RelayTestError("\(self.id): no message waiting") }
        return Self.parse(next)
    }

    /// The next message, which must have type `type`.
    @discardableResult
    public func receive(_ type: String) throws -> JSONValue {
        let message = try self.receive()
        guard message["type"]?.stringValue == type else { throw RelayTestError("\(self.id): expected '\(type)', got \(message.jsonText)") }
        return message
    }

    /// The first message of type `type`, skipping (and discarding) any before it.
    @discardableResult
    public func receive(until type: String) throws -> JSONValue {
        var skipped: [String] = []
        while let next = self.client.receive().map(Self.parse) {
            if next["type"]?.stringValue == type { return next }
            skipped.append(next.jsonText)
        }
        throw RelayTestError("\(self.id): no '\(type)' message; got \(skipped)")
    }

    /// The next message, which must be an `error` with `code` (and `ref`, when given).
    @discardableResult
    public func receiveError(_ code: String, ref: String? = nil) throws -> JSONValue {
        let error = try self.receive("error")
        guard error["code"]?.stringValue == code, ref == nil || error["ref"]?.stringValue == ref else {
            throw RelayTestError("\(self.id): expected error \(code)\(ref.map { " about \($0)" } ?? ""), got \(error.jsonText)")
        }
        return error
    }

    /// Throws when any message is waiting.
    public func expectNothing() throws {
        let waiting = self.receiveAll()
        guard waiting.isEmpty else { throw RelayTestError("\(self.id): expected no message, got \(waiting.map(\.jsonText))") }
    }

    /// The connection drops (network loss); the identity waits for the resume grace.
    public func drop() async {
        await self.client.drop()
    }

    /// Reconnects with this connection's resume token and the count of messages it received,
    /// as a client library does after a drop. The new client's `connected` says `resumed: true`
    /// and the missed messages follow; after the grace it gets a fresh identity instead.
    public func resume() async throws -> TestClient {
        guard let token = self.client.resumeToken else { throw RelayTestError("\(self.id): no resume token") }
        let resumed = try await self.relay.relay.resume(self.path, token: token, lastSeen: self.client.receivedCount, userId: self.info.userId, claims: self.claims)
        return try TestClient(resumed, relay: self.relay, path: self.path, userId: self.info.userId, claims: self.claims)
    }

    /// Leaves cleanly: the plugins hear it at once.
    public func leave() async {
        await self.client.leave()
    }

    /// A message as JSON: a text message's object, or a binary message's header.
    private static func parse(_ message: OutboundMessage) -> JSONValue {
        var bytes = message.bytes
        if message.kind == .binary {
            guard let length = bytes.readInteger(as: UInt32.self), let header = bytes.readSlice(length: Int(length)) else { return .null }
            return (try? JSONParser.parse(header.readableBytesView)) ?? .null
        }
        return (try? JSONParser.parse(bytes.readableBytesView)) ?? .string(String(buffer: bytes))
    }
}
