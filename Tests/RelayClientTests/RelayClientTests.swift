import Foundation
import RelayClient
import Testing

/// `RelayClient` against a real relay process over real sockets (see ``RelayProcess``).
@Suite(.serialized, .timeLimit(.minutes(1)))
struct RelayClientTests {
    /// Fast retries, so the tests do not wait.
    static let quick = RelayClientConfiguration(backoff: Backoff(initial: .milliseconds(20), maximum: .milliseconds(100)))

    @Test func reconnectsAfterTheConnectionIsCutMidStreamAndDeliversEveryMessageOnceInOrder() async throws {
        let relay = try await RelayProcess()
        defer { relay.stop() }
        let cutter = try await TCPCutter(target: relay.port)
        let topic = JSONValue.string("t-\(UUID().uuidString)")
        let subscriber = RelayClient(url: cutter.url("/ws"), configuration: Self.quick)
        let first = try await subscriber.connect()
        #expect(first.start == .new)
        _ = try await subscriber.request(["type": "subscribe", "topic": topic], replyType: "subscribed")
        let publisher = RelayClient(url: relay.url("/ws"))
        try await publisher.connect()
        _ = try await publisher.request(["type": "subscribe", "topic": topic], replyType: "subscribed")

        let total = 300
        let publishing = Task {
            for n in 0..<total {
                try await publisher.send(["type": "publish", "topic": topic, "data": ["n": .int(n)]])
                try await Task.sleep(for: .milliseconds(2))
            }
        }
        var received: [Int] = []
        for await message in subscriber.messages where message.type == "message" {
            received.append(message["data"]?["n"]?.intValue ?? -1)
            if received.count == 40 {
                try await cutter.cut()  // mid-stream: frames in flight are lost with the connection
            }
            if received.last == total - 1 || received.count >= total { break }
        }
        try await publishing.value
        #expect(received == Array(0..<total))
        let resumed = await subscriber.state
        guard case .open(let session) = resumed, case .resumed(let replayed) = session.start else {
            Issue.record("not resumed: \(resumed)")
            return
        }
        #expect(session.clientId == first.clientId && replayed >= 0)
        #expect(await subscriber.lastSeen == total + 1)  // `subscribed` + every message
        await subscriber.close()
        await publisher.close()
        try await cutter.shutdown()
        var states: [ConnectionState] = []
        for await state in subscriber.states { states.append(state) }
        #expect(states.contains { if case .reconnecting(1, _, _) = $0 { true } else { false } }, "\(states)")
        #expect(states.last == .closed(nil))
    }

    @Test func reconnectDelaysGrowExponentiallyWithFullJitterWithinTheirBounds() async throws {
        let port = try await RelayProcess.freePort()  // nothing listens there: every attempt fails
        let backoff = Backoff(initial: .milliseconds(40), maximum: .milliseconds(320), factor: 2)
        let client = RelayClient(url: URL(string: "ws://127.0.0.1:\(port)/ws")!, configuration: RelayClientConfiguration(backoff: backoff, maxAttempts: 7))
        let recorder = Task {
            var states: [ConnectionState] = []
            for await state in client.states { states.append(state) }
            return states
        }
        let clock = ContinuousClock()
        let started = clock.now
        let error = await #expect(throws: RelayClientError.self) { try await client.connect() }
        let elapsed = clock.now - started
        #expect(error?.code == .gaveUp)
        let states = await recorder.value

        var delays: [Duration] = []
        for (index, state) in states.enumerated() {
            guard case .reconnecting(let attempt, let delay, let code) = state else { continue }
            #expect(attempt == delays.count + 1 && code == nil, "\(states)")
            #expect(index + 1 < states.count && states[index + 1] == .connecting(attempt: attempt), "\(states)")
            #expect(delay >= .zero && delay <= backoff.window(attempt: attempt - 1), "\(states)")
            delays.append(delay)
        }
        #expect(delays.count == 7, "\(states)")
        #expect(Set(delays).count > 1, "no jitter: \(delays)")
        // Every drawn delay was waited out; the upper bound allows scheduling slack on a loaded machine.
        let waited = delays.reduce(Duration.zero, +)
        #expect(elapsed >= waited && elapsed < waited + .seconds(3), "\(elapsed) for delays \(delays)")
        #expect(states.last == .closed(error))
    }

    @Test func aRequestWithoutAnAnswerTimesOutAndTheConnectionStaysUsable() async throws {
        let relay = try await RelayProcess()
        defer { relay.stop() }
        let client = RelayClient(url: relay.url("/ws"))
        try await client.connect()
        let clock = ContinuousClock()
        let started = clock.now
        let timeout = await #expect(throws: RelayClientError.self) {
            try await client.request(["type": "ping"], replyType: "never-sent", timeout: .milliseconds(300))
        }
        let elapsed = clock.now - started
        #expect(timeout?.code == .timeout)
        #expect(elapsed >= .milliseconds(300) && elapsed < .seconds(2), "\(elapsed)")

        let pong = try await client.request(["type": "ping"], replyType: "pong")
        #expect(pong["timestamp"]?.intValue != nil)
        // An `error` naming the request's type answers it as an error.
        let refused = await #expect(throws: RelayClientError.self) {
            try await client.request(["type": "publish", "topic": "not-subscribed", "data": 1])
        }
        #expect(refused?.code == .server && refused?.serverCode == "forbidden")
        await client.close()
    }

    @Test(arguments: [RelayClientConfiguration.TokenTransport.header, .query, .firstMessage])
    func refusedCredentialsAreAnErrorNotAReconnectLoop(transport: RelayClientConfiguration.TokenTransport) async throws {
        let relay = try await RelayProcess()
        defer { relay.stop() }
        var settings = Self.quick
        settings.tokenTransport = transport
        settings.getToken = { "not-a-valid-token" }
        let refused = RelayClient(url: relay.url("/ws/secure"), configuration: settings)
        let error = await #expect(throws: RelayClientError.self) { try await refused.connect() }
        #expect(error?.code == .authenticationFailed && error?.closeCode == 1008)
        #expect(await refused.state == .closed(error))
        // With retries 20-100 ms apart, a loop would have closed many more connections by now.
        try await Task.sleep(for: .milliseconds(500))
        let closes = try await relay.metric("relay_closes_total", label: "code", value: "1008")
        #expect(closes == 1, "\(relay.log)")

        // The same transport with a valid token connects.
        let token = try relay.token(subject: "alice")
        settings.getToken = { token }
        let accepted = RelayClient(url: relay.url("/ws/secure"), configuration: settings)
        #expect(try await accepted.connect().start == .new)
        #expect(try await accepted.request(["type": "ping"], replyType: "pong").type == "pong")
        await accepted.close()
    }

    @Test func aResumeTheRelayRefusesIsReportedSoTheAppCanRebuild() async throws {
        let relay = try await RelayProcess()
        defer { relay.stop() }
        let client = RelayClient(url: relay.url("/ws"), configuration: Self.quick)
        let first = try await client.connect()
        relay.stop()  // the relay forgets every session
        try await client.send(["type": "ping"])  // queued while the relay is away
        try await relay.start()
        var session: RelaySession?
        for await state in client.states {
            if case .open(let opened) = state, opened.start != .new {
                session = opened
                break
            }
        }
        #expect(session?.start == .resumeFailed(previousClientId: first.clientId))
        #expect(session?.clientId != first.clientId)
        // The queued ping went out on the new connection.
        for await message in client.messages where message.type == "pong" { break }
        #expect(await client.lastSeen == 1)
        await client.close()
    }

    @Test func anExpiringTokenIsRefreshedOnTheOpenConnection() async throws {
        let relay = try await RelayProcess()
        defer { relay.stop() }
        let tokens = TokenSequence([try relay.token(subject: "alice", ttl: 3), try relay.token(subject: "alice")])
        var settings = Self.quick
        settings.getToken = { await tokens.next() }
        let client = RelayClient(url: relay.url("/ws/secure"), configuration: settings)
        let first = try await client.connect()
        // The relay asks at once (token_expiring); the client answers with the hook's next token.
        for await message in client.messages where message.type == "refreshed" { break }
        // Past the first token's exp the connection is the same one.
        try await Task.sleep(for: .seconds(4))
        let pong = try await client.request(["type": "ping"], replyType: "pong")
        #expect(pong.type == "pong")
        guard case .open(let session) = await client.state else {
            Issue.record("not open: \(await client.state)")
            return
        }
        #expect(session.clientId == first.clientId && session.start == .new)
        await client.close()
    }

    @Test func anExpiredTokenIsReplacedFromGetTokenAndTheSessionResumes() async throws {
        let relay = try await RelayProcess()
        defer { relay.stop() }
        // `exp` is whole seconds: a 2 s lifetime leaves the first connection at least a second.
        // The refresh the relay asks for gets another user's token, which it refuses, so the
        // connection closes at the first token's exp.
        let tokens = TokenSequence([try relay.token(subject: "alice", ttl: 2), try relay.token(subject: "mallory"), try relay.token(subject: "alice")])
        var settings = Self.quick
        settings.getToken = { await tokens.next() }
        let client = RelayClient(url: relay.url("/ws/secure"), configuration: settings)
        let first = try await client.connect()
        var states: [ConnectionState] = []
        for await state in client.states {
            states.append(state)
            if case .open(let session) = state, session.start != .new { break }
        }
        // The relay closed the connection with 1008 when the first token expired; the client
        // reconnected with the next token and resumed its identity.
        #expect(states.contains { if case .reconnecting(_, _, 1008) = $0 { true } else { false } }, "\(states)")
        guard case .open(let session) = await client.state else {
            Issue.record("not open: \(states)")
            return
        }
        #expect(session.clientId == first.clientId && session.start == .resumed(replayed: 0), "\(states)\n\(relay.log)")
        await client.close()
    }
}

/// Hands out the given tokens in order, then repeats the last one.
actor TokenSequence {
    private var tokens: [String]

    init(_ tokens: [String]) {
        self.tokens = tokens
    }

    func next() -> String {
        self.tokens.count > 1 ? self.tokens.removeFirst() : self.tokens[0]
    }
}
