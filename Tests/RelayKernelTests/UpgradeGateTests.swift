import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Plugins
import Testing
@testable import RelayKernel

/// ``UpgradeGate``: which WebSocket handshakes are refused before NIO's upgrader sees them
/// (RFC 6455 §4.2.1 and the route file) and which pass; the handshake deadline.
@Suite("UpgradeGate")
struct UpgradeGateTests {
    static let routes = """
        server:
          handshakeTimeout: 10
        endpoints:
          - path: /ws
          - path: /rooms/:room
            limits:
              allowedOrigins: ["https://app.example.com"]
        """

    /// One thing wrong with an otherwise valid handshake, answered 400.
    enum Flaw: String, CaseIterable, Sendable {
        case methodIsPost
        case upgradeHeaderMissing
        case upgradeIsNotWebSocket
        case http10
        case connectionHeaderMissing
        case connectionWithoutUpgrade
        case keyMissingButUpgradeSent
        case keyNotBase64
        case keyOf15Bytes
        case keyOf17Bytes
        case twoKeys

        func apply(to head: inout HTTPRequestHead) {
            switch self {
            case .methodIsPost: head.method = .POST
            case .upgradeHeaderMissing: head.headers.remove(name: "upgrade")
            case .upgradeIsNotWebSocket: head.headers.replaceOrAdd(name: "upgrade", value: "h2c")
            case .http10: head.version = .http1_0
            case .connectionHeaderMissing: head.headers.remove(name: "connection")
            case .connectionWithoutUpgrade: head.headers.replaceOrAdd(name: "connection", value: "keep-alive")
            case .keyMissingButUpgradeSent: head.headers.remove(name: "sec-websocket-key")
            case .keyNotBase64: head.headers.replaceOrAdd(name: "sec-websocket-key", value: "not base64 at all!")
            case .keyOf15Bytes: head.headers.replaceOrAdd(name: "sec-websocket-key", value: "AAAAAAAAAAAAAAAAAAAA")
            case .keyOf17Bytes: head.headers.replaceOrAdd(name: "sec-websocket-key", value: "AAAAAAAAAAAAAAAAAAAAAAA=")
            case .twoKeys: head.headers.add(name: "sec-websocket-key", value: "dGhlIHNhbXBsZSBub25jZQ==")
            }
        }
    }

    // MARK: Passing

    @Test func aValidHandshakePassesAndTheGateStepsAside() throws {
        let gate = try GateHarness()
        try gate.send(handshake(uri: "/ws"))
        #expect(try gate.forwardedHeads().map(\.uri) == ["/ws"])
        #expect(try gate.response() == nil)
        #expect(!gate.isInPipeline)
        #expect(gate.channel.isActive)
    }

    @Test func tokensAreCaseInsensitiveAndMayBeListed() throws {
        let gate = try GateHarness()
        var head = handshake(uri: "/ws")
        head.headers.replaceOrAdd(name: "upgrade", value: "WebSocket")
        head.headers.replaceOrAdd(name: "connection", value: "keep-alive, Upgrade")
        head.headers.replaceOrAdd(name: "sec-websocket-version", value: " 13 ")
        try gate.send(head)
        #expect(try gate.forwardedHeads().count == 1)
        #expect(try gate.response() == nil)
    }

    @Test func theQueryIsNotPartOfThePathAndParametersMatch() throws {
        let first = try GateHarness()
        try first.send(handshake(uri: "/ws?token=abc"))
        #expect(try first.forwardedHeads().count == 1)
        let second = try GateHarness()
        try second.send(handshake(uri: "/rooms/lobby"))
        #expect(try second.forwardedHeads().count == 1)
    }

    @Test func aPlainRequestPassesWithItsBodyAndTheGateStays() throws {
        let gate = try GateHarness()
        try gate.send(HTTPRequestHead(version: .http1_1, method: .POST, uri: "/api/publish", headers: ["content-length": "2"]))
        try gate.channel.writeInbound(HTTPServerRequestPart.body(ByteBuffer(string: "{}")))
        try gate.channel.writeInbound(HTTPServerRequestPart.end(nil))
        let parts = try gate.forwardedParts()
        #expect(parts.count == 3)
        #expect(try gate.response() == nil)
        #expect(gate.isInPipeline)
    }

    @Test func anUpgradeHeaderForAnotherProtocolIsNotAWebSocketHandshake() throws {
        let gate = try GateHarness()
        try gate.send(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/ws", headers: ["upgrade": "h2c", "connection": "Upgrade"]))
        #expect(try gate.forwardedHeads().count == 1)
        #expect(try gate.response() == nil)
    }

    // MARK: Refusing

    @Test(arguments: Flaw.allCases)
    func malformedHandshakesAreAnswered400(_ flaw: Flaw) throws {
        let gate = try GateHarness()
        var head = handshake(uri: "/ws")
        flaw.apply(to: &head)
        try gate.send(head)
        try gate.expectRefusal(.badRequest)
    }

    @Test(arguments: ["8", "12", "14", "13, 8"])
    func otherVersionsAreAnswered426WithTheSupportedOne(_ version: String) throws {
        let gate = try GateHarness()
        var head = handshake(uri: "/ws")
        head.headers.replaceOrAdd(name: "sec-websocket-version", value: version)
        try gate.send(head)
        let response = try gate.expectRefusal(.upgradeRequired)
        #expect(response?.headers["sec-websocket-version"] == ["13"])
    }

    @Test func aMissingVersionIsAnswered426() throws {
        let gate = try GateHarness()
        var head = handshake(uri: "/ws")
        head.headers.remove(name: "sec-websocket-version")
        try gate.send(head)
        let response = try gate.expectRefusal(.upgradeRequired)
        #expect(response?.headers["sec-websocket-version"] == ["13"])
    }

    @Test(arguments: ["/", "/ws/extra", "/rooms", "/rooms/a/b", "/WS"])
    func pathsNoEndpointServesAreAnswered404(_ uri: String) throws {
        let gate = try GateHarness()
        try gate.send(handshake(uri: uri))
        try gate.expectRefusal(.notFound)
    }

    @Test func originsOffTheEndpointsListAreAnswered403() throws {
        let defaults = try GateHarness()
        try defaults.send(handshake(uri: "/ws", origin: "https://evil.example"))
        try defaults.expectRefusal(.forbidden)

        let own = try GateHarness()
        try own.send(handshake(uri: "/rooms/lobby", origin: "http://localhost:3000"))
        try own.expectRefusal(.forbidden)
    }

    @Test func originsOnTheEndpointsListPass() throws {
        let defaults = try GateHarness()
        try defaults.send(handshake(uri: "/ws", origin: "http://localhost:3000"))
        #expect(try defaults.forwardedHeads().count == 1)

        let own = try GateHarness()
        try own.send(handshake(uri: "/rooms/lobby", origin: "https://app.example.com"))
        #expect(try own.forwardedHeads().count == 1)
    }

    @Test func theChecksRunInHandshakeOrderBeforeTheRouteFile() throws {
        // A bad version on an unknown path with a refused origin: the handshake is judged first.
        let gate = try GateHarness()
        var head = handshake(uri: "/nowhere", origin: "https://evil.example")
        head.headers.replaceOrAdd(name: "sec-websocket-version", value: "8")
        try gate.send(head)
        try gate.expectRefusal(.upgradeRequired)
        // An unknown path is reported before a refused origin.
        let other = try GateHarness()
        try other.send(handshake(uri: "/nowhere", origin: "https://evil.example"))
        try other.expectRefusal(.notFound)
    }

    @Test func theRestOfARefusedRequestIsNotPassedOn() throws {
        let gate = try GateHarness()
        var head = handshake(uri: "/ws")
        head.method = .POST
        try gate.send(head)
        try gate.channel.writeInbound(HTTPServerRequestPart.body(ByteBuffer(string: "ignored")))
        try gate.channel.writeInbound(HTTPServerRequestPart.end(nil))
        #expect(try gate.forwardedParts().isEmpty)
        try gate.expectRefusal(.badRequest)
    }

    @Test func anUpgradeAfterAPlainRequestIsSentToAFreshConnection() throws {
        let gate = try GateHarness()
        try gate.send(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/health"))
        try gate.channel.writeInbound(HTTPServerRequestPart.end(nil))
        #expect(try gate.forwardedParts().count == 2)
        try gate.send(handshake(uri: "/ws?token=t"))
        let response = try gate.expectRefusal(.temporaryRedirect)
        #expect(response?.headers["location"] == ["/ws?token=t"])
        #expect(try gate.forwardedParts().isEmpty)
    }

    @Test func aMalformedRequestIsAnswered400() throws {
        let gate = try GateHarness()
        gate.channel.pipeline.fireErrorCaught(HTTPParserError.invalidHeaderToken)
        try gate.expectRefusal(.badRequest)
    }

    @Test func otherErrorsArePassedOn() throws {
        let gate = try GateHarness()
        gate.channel.pipeline.fireErrorCaught(ChannelError.connectPending)
        #expect(throws: ChannelError.connectPending) { try gate.channel.throwIfErrorCaught() }
        #expect(try gate.response() == nil)
        #expect(gate.channel.isActive)
    }

    // MARK: Handshake deadline

    @Test func aClientWithoutARequestHeadIsDroppedAtTheDeadline() throws {
        let beforeAdded = NIODeadline.now()
        let gate = try GateHarness()
        gate.gate.sweep(at: SweepTime(now: beforeAdded + .seconds(10) - .nanoseconds(1), wallClock: 0))
        #expect(gate.channel.isActive)
        gate.gate.sweep(at: SweepTime(now: .now() + .seconds(10), wallClock: 0))
        #expect(!gate.channel.isActive)
        #expect(try gate.response() == nil)
    }

    @Test func theDeadlineStopsOnceARequestHeadArrives() throws {
        let gate = try GateHarness()
        try gate.send(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/health"))
        gate.gate.sweep(at: SweepTime(now: .now() + .seconds(60), wallClock: 0))
        #expect(gate.channel.isActive)
    }

    @Test func aHandshakeTimeoutOfZeroSetsNoDeadline() throws {
        let gate = try GateHarness(yaml: "server:\n  handshakeTimeout: 0\nendpoints:\n  - path: /ws\n")
        gate.gate.sweep(at: SweepTime(now: .now() + .hours(1), wallClock: 0))
        #expect(gate.channel.isActive)
    }
}

// MARK: - Harness

/// A valid handshake for `uri` (the RFC 6455 §1.3 key).
private func handshake(uri: String, origin: String? = nil) -> HTTPRequestHead {
    var headers: HTTPHeaders = [
        "host": "relay.example",
        "upgrade": "websocket",
        "connection": "Upgrade",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        "sec-websocket-version": "13",
    ]
    if let origin { headers.add(name: "origin", value: origin) }
    return HTTPRequestHead(version: .http1_1, method: .GET, uri: uri, headers: headers)
}

/// The status, headers and body of a response the gate wrote.
private struct Response: Equatable {
    let status: HTTPResponseStatus
    let headers: HTTPHeaders
    let body: String
}

/// A gate in front of an embedded channel, on a ``RelayState`` built from a route file.
private struct GateHarness {
    let channel = EmbeddedChannel()
    let state: RelayState
    let gate: UpgradeGate

    init(yaml: String = UpgradeGateTests.routes) throws {
        let registry = BuiltinPlugins.registry
        let logger = Logger(label: "test")
        let file = try RouteFile.decode(yaml: yaml, file: "test.yaml", environment: [:], registry: registry)
        let table = try RouteTable(file: file, registry: registry, previous: nil, logger: logger)
        let metrics = RelayMetrics()
        let runtime = PluginRuntime(
            hub: RelayHub(metrics: metrics),
            timers: RelayTimers(),
            store: MemoryKeyValueStore(),
            records: MemoryDurableStore(),
            keys: PluginRuntime.Keys(),
            logger: logger
        )
        self.state = RelayState(table: table, registry: registry, runtime: runtime, metrics: metrics, logger: logger)
        self.gate = UpgradeGate(state: self.state, loop: self.state.loops.context(for: self.channel.eventLoop))
        try self.channel.pipeline.syncOperations.addHandler(self.gate)
        try self.channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
    }

    func send(_ head: HTTPRequestHead) throws {
        try self.channel.writeInbound(HTTPServerRequestPart.head(head))
    }

    var isInPipeline: Bool {
        (try? self.channel.pipeline.syncOperations.handler(type: UpgradeGate.self)) != nil
    }

    /// Every request part passed on so far.
    func forwardedParts() throws -> [HTTPServerRequestPart] {
        var parts: [HTTPServerRequestPart] = []
        while let part = try self.channel.readInbound(as: HTTPServerRequestPart.self) { parts.append(part) }
        return parts
    }

    /// The request heads passed on so far.
    func forwardedHeads() throws -> [HTTPRequestHead] {
        try self.forwardedParts().compactMap {
            if case .head(let head) = $0 { return head }
            return nil
        }
    }

    /// The response written so far, if any.
    func response() throws -> Response? {
        guard case .head(let head)? = try self.channel.readOutbound(as: HTTPServerResponsePart.self) else { return nil }
        var body = ""
        while let part = try self.channel.readOutbound(as: HTTPServerResponsePart.self) {
            switch part {
            case .body(.byteBuffer(let buffer)): body += String(buffer: buffer)
            case .body: break
            case .head: Issue.record("a second response head")
            case .end: return Response(status: head.status, headers: head.headers, body: body)
            }
        }
        Issue.record("a response without its end")
        return nil
    }

    /// The gate refused with `status`: a complete plain-text response that closes the connection.
    @discardableResult
    func expectRefusal(_ status: HTTPResponseStatus, sourceLocation: SourceLocation = #_sourceLocation) throws -> Response? {
        let response = try self.response()
        #expect(response?.status == status, sourceLocation: sourceLocation)
        #expect(response?.headers["connection"] == ["close"], sourceLocation: sourceLocation)
        #expect(response?.headers["content-type"] == ["text/plain; charset=utf-8"], sourceLocation: sourceLocation)
        #expect(response?.headers["content-length"] == response.map { ["\($0.body.utf8.count)"] }, sourceLocation: sourceLocation)
        #expect(response?.body.isEmpty == false, sourceLocation: sourceLocation)
        #expect(try self.forwardedParts().isEmpty, sourceLocation: sourceLocation)
        #expect(!self.channel.isActive, sourceLocation: sourceLocation)
        return response
    }
}
