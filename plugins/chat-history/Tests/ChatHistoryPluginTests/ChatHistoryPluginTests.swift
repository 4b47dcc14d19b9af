import ChatHistoryPlugin
import Foundation
import Logging
import RelayKernel
import RelayTesting
import Testing

/// The plugin as the relay runs it, through RelayTesting: each conversation both in the test
/// process and live (a relay on a free port, real WebSockets and HTTP); the clock-driven cases
/// (retention, the resume grace) in process; settings errors with their line.
struct ChatHistoryPluginTests {
    /// One `/ws/chat` endpoint routing `chat.*` to a `chat-history` instance whose `config:`
    /// (line 9) is `config`, YAML flow style.
    static func routes(config: String) -> String {
        """
        endpoints:
          - path: /ws/chat
            codec: json
            auth: optional
        plugins:
          chat:
            plugin: chat-history
            config:
              \(config)
        routes:
          - {endpoint: /ws/chat, type: "chat.*", plugin: chat}
        """
    }

    static func relay(config: String = "{}") async throws -> TestRelay {
        try await TestRelay(routes: Self.routes(config: config), plugins: [ChatHistoryPlugin.self])
    }

    /// Runs `body` in the test process, or live: a real relay on a free port, real sockets.
    static func run(_ mode: TestRelayMode, config: String = "{}", _ body: @Sendable (TestRelay) async throws -> Void) async throws {
        try await TestRelay.run(mode, routes: Self.routes(config: config), plugins: [ChatHistoryPlugin.self], body)
    }

    static let apiKey = ["X-API-Key": TestRelay.apiKey]

    @Test(arguments: TestRelayMode.allCases)
    func joinAnswersWithTheRoomsHistory(mode: TestRelayMode) async throws {
        try await Self.run(mode) { relay in
            let alice = try await relay.connect("/ws/chat")
            try await alice.send(["type": "chat.join", "room": "lobby"])
            #expect(try await alice.receive("chat.history") == ["type": "chat.history", "room": "lobby", "messages": []])
            try await alice.send(["type": "chat.say", "room": "lobby", "text": "hello"])
            #expect(try await alice.receive("chat.message") == ["type": "chat.message", "room": "lobby", "from": .string(alice.id.rawValue), "user": nil, "text": "hello", "seq": 1])
            await alice.leave()

            let bob = try await relay.connect("/ws/chat")
            try await bob.send(["type": "chat.join", "room": "lobby"])
            #expect(try await bob.receive("chat.history")["messages"] == [["seq": 1, "from": .string(alice.id.rawValue), "user": nil, "text": "hello"]])
            // Rooms are separate.
            try await bob.send(["type": "chat.join", "room": "kitchen"])
            #expect(try await bob.receive("chat.history")["messages"] == [])
        }
    }

    @Test(arguments: TestRelayMode.allCases)
    func sayReachesEveryMemberOfTheRoomOnceSenderIncluded(mode: TestRelayMode) async throws {
        try await Self.run(mode) { relay in
            let alice = try await relay.connect("/ws/chat")
            let carol = try await relay.connect("/ws/chat", userId: "carol", claims: ["sub": "carol"])
            let outsider = try await relay.connect("/ws/chat")
            for (client, room) in [(alice, "lobby"), (carol, "lobby"), (outsider, "elsewhere")] {
                try await client.send(["type": "chat.join", "room": .string(room)])
                try await client.receive("chat.history")
            }
            try await carol.send(["type": "chat.say", "room": "lobby", "text": "hi all"])
            let atAlice = try await alice.receive("chat.message")
            #expect(atAlice == ["type": "chat.message", "room": "lobby", "from": .string(carol.id.rawValue), "user": "carol", "text": "hi all", "seq": 1])
            #expect(try await carol.receive("chat.message") == atAlice)
            try await outsider.expectNothing()
            try await alice.expectNothing()
            try await carol.expectNothing()
        }
    }

    @Test(arguments: TestRelayMode.allCases)
    func historyKeepsOnlyTheLastHistorySizeMessages(mode: TestRelayMode) async throws {
        try await Self.run(mode, config: "{historySize: 3}") { relay in
            let alice = try await relay.connect("/ws/chat")
            try await alice.send(["type": "chat.join", "room": "lobby"])
            try await alice.receive("chat.history")
            for index in 1...5 {
                try await alice.send(["type": "chat.say", "room": "lobby", "text": .string("m\(index)")])
                #expect(try await alice.receive("chat.message")["seq"] == .int(index))
            }
            let bob = try await relay.connect("/ws/chat")
            try await bob.send(["type": "chat.join", "room": "lobby"])
            let messages = try await bob.receive("chat.history")["messages"]?.arrayValue ?? []
            #expect(messages.map { $0["text"] } == ["m3", "m4", "m5"])
            #expect(messages.map { $0["seq"] } == [3, 4, 5])
            let response = try await relay.request("GET", "/chat/rooms/lobby/history", headers: Self.apiKey)
            #expect(response.json?["messages"]?.arrayValue?.map { $0["text"] } == ["m3", "m4", "m5"])
        }
    }

    @Test func retentionForgetsAQuietRoomOnTheClock() async throws {
        let relay = try await Self.relay(config: "{retention: 60}")
        let alice = try await relay.connect("/ws/chat")
        try await alice.send(["type": "chat.join", "room": "lobby"])
        try await alice.receive("chat.history")
        try await alice.send(["type": "chat.say", "room": "lobby", "text": "one"])
        await relay.advance(by: .seconds(45))
        try await alice.send(["type": "chat.say", "room": "lobby", "text": "two"])
        await relay.advance(by: .seconds(45))
        let kept = try await relay.request("GET", "/chat/rooms/lobby/history", headers: Self.apiKey)
        #expect(kept.json?["messages"]?.arrayValue?.map { $0["text"] } == ["one", "two"], "each write renews the room")
        await relay.advance(by: .seconds(16))
        #expect(try await relay.request("GET", "/chat/rooms/lobby/history", headers: Self.apiKey).json?["messages"] == [])
    }

    @Test(arguments: TestRelayMode.allCases)
    func sayingInARoomNotJoinedIsForbidden(mode: TestRelayMode) async throws {
        try await Self.run(mode) { relay in
            let alice = try await relay.connect("/ws/chat")
            try await alice.send(["type": "chat.say", "room": "lobby", "text": "anyone?"])
            try await alice.receiveError("forbidden", ref: "chat.say")
            // Nothing was stored.
            try await alice.send(["type": "chat.join", "room": "lobby"])
            #expect(try await alice.receive("chat.history")["messages"] == [])
            // After leaving, saying is forbidden again.
            try await alice.send(["type": "chat.leave", "room": "lobby"])
            try await alice.receive("chat.left")
            try await alice.send(["type": "chat.say", "room": "lobby", "text": "still here?"])
            try await alice.receiveError("forbidden", ref: "chat.say")
        }
    }

    @Test(arguments: TestRelayMode.allCases)
    func textOverMaxTextLengthIsTooLarge(mode: TestRelayMode) async throws {
        try await Self.run(mode, config: "{maxTextLength: 10}") { relay in
            let alice = try await relay.connect("/ws/chat")
            try await alice.send(["type": "chat.join", "room": "lobby"])
            try await alice.receive("chat.history")
            try await alice.send(["type": "chat.say", "room": "lobby", "text": "12345678901"])
            try await alice.receiveError("too_large", ref: "chat.say")
            // The limit counts characters, not bytes: 10 characters, 20 bytes.
            try await alice.send(["type": "chat.say", "room": "lobby", "text": "éééééééééé"])
            #expect(try await alice.receive("chat.message")["seq"] == 1)
            try await alice.send(["type": "chat.say", "room": "lobby", "text": ""])
            try await alice.receiveError("invalid_message", ref: "chat.say")
            try await alice.send(["type": "chat.say", "room": "lobby"])
            try await alice.receiveError("invalid_message", ref: "chat.say")
            try await alice.send(["type": "chat.join", "room": ""])
            try await alice.receiveError("invalid_message", ref: "chat.join")
        }
    }

    @Test(arguments: TestRelayMode.allCases)
    func chatLeaveIsAnnouncedToTheRoomAndTheLeaver(mode: TestRelayMode) async throws {
        try await Self.run(mode) { relay in
            let alice = try await relay.connect("/ws/chat")
            let bob = try await relay.connect("/ws/chat")
            for client in [alice, bob] {
                try await client.send(["type": "chat.join", "room": "lobby"])
                try await client.receive("chat.history")
            }
            try await bob.send(["type": "chat.leave", "room": "lobby"])
            let left: JSONValue = ["type": "chat.left", "room": "lobby", "clientId": .string(bob.id.rawValue), "user": nil]
            #expect(try await bob.receive("chat.left") == left)
            #expect(try await alice.receive("chat.left") == left)
            try await bob.send(["type": "chat.leave", "room": "lobby"])
            try await bob.receiveError("not_found", ref: "chat.leave")
            // Bob left the room before leaving the relay: no second announcement.
            await bob.leave()
            try await alice.expectNothing()
        }
    }

    @Test func leavingTheRelayIsAnnouncedInEveryRoomAtOnceOrAfterTheGrace() async throws {
        let relay = try await Self.relay()
        let alice = try await relay.connect("/ws/chat")
        let bob = try await relay.connect("/ws/chat")
        let carol = try await relay.connect("/ws/chat")
        for client in [alice, bob, carol] {
            for room in ["lobby", "kitchen"] {
                try await client.send(["type": "chat.join", "room": .string(room)])
                try await client.receive("chat.history")
            }
        }
        // A clean leave is announced at once (no resume grace).
        await bob.leave()
        let first = try await alice.receive("chat.left")
        let second = try await alice.receive("chat.left")
        #expect(Set([first["room"], second["room"]]) == ["lobby", "kitchen"])
        #expect(first["clientId"] == .string(bob.id.rawValue))
        #expect(second["clientId"] == .string(bob.id.rawValue))
        _ = carol.receiveAll()

        // A drop is announced only when the resume grace (30 s) has run out.
        await carol.drop()
        await relay.advance(by: .seconds(29))
        try await alice.expectNothing()
        await relay.advance(by: .seconds(2))
        #expect(try await alice.receive("chat.left")["clientId"] == .string(carol.id.rawValue))
        #expect(try await alice.receive("chat.left")["clientId"] == .string(carol.id.rawValue))
    }

    @Test(arguments: TestRelayMode.allCases)
    func httpHistoryRequiresTheAPIKey(mode: TestRelayMode) async throws {
        try await Self.run(mode) { relay in
            let alice = try await relay.connect("/ws/chat")
            try await alice.send(["type": "chat.join", "room": "team a"])
            try await alice.receive("chat.history")
            try await alice.send(["type": "chat.say", "room": "team a", "text": "standup at 10"])
            try await alice.receive("chat.message")
            let path = "/chat/rooms/team%20a/history"

            let anonymous = try await relay.request("GET", path)
            #expect(anonymous.status == 401)
            #expect(anonymous.json?["error"]?["code"] == "unauthenticated")
            #expect(try await relay.request("GET", path, headers: ["X-API-Key": "wrong"]).status == 401)
            #expect(try await relay.request("GET", path, headers: ["Authorization": "Bearer wrong"]).status == 401)

            for headers in [Self.apiKey, ["Authorization": "Bearer \(TestRelay.apiKey)"]] {
                let response = try await relay.request("GET", path, headers: headers)
                #expect(response.status == 200)
                #expect(response.contentType == "application/json")
                let json = try #require(response.json)
                #expect(json["room"] == "team a")
                #expect(json["messages"]?.arrayValue?.map { $0["text"] } == ["standup at 10"])
            }
            let empty = try await relay.request("GET", "/chat/rooms/nobody-here/history", headers: Self.apiKey)
            #expect(empty.status == 200)
            #expect(empty.json == ["room": "nobody-here", "messages": []])
        }
    }

    @Test(arguments: TestRelayMode.allCases)
    func httpPrefixMovesTheRoute(mode: TestRelayMode) async throws {
        try await Self.run(mode, config: "{httpPrefix: /support-chat}") { relay in
            let moved = try await relay.request("GET", "/support-chat/rooms/a/history", headers: Self.apiKey)
            #expect(moved.status == 200)
            let old = try await relay.request("GET", "/chat/rooms/a/history", headers: Self.apiKey)
            #expect(old.status == 404)
        }
    }

    @Test(arguments: [
        ("{historySize: 0}", "plugins.chat.config.historySize"),
        ("{historySize: -5}", "plugins.chat.config.historySize"),
        ("{historySize: 2.5}", "plugins.chat.config.historySize"),
        ("{maxTextLength: 0}", "plugins.chat.config.maxTextLength"),
        ("{maxRoomLength: -1}", "plugins.chat.config.maxRoomLength"),
        ("{retention: -1}", "plugins.chat.config.retention"),
        ("{httpPrefix: chat}", "plugins.chat.config.httpPrefix"),
        ("{histroySize: 10}", "plugins.chat.config.histroySize"),
    ])
    func invalidConfigurationIsRejectedAtLoad(config: String, path: String) async throws {
        let error = await #expect(throws: RelayConfigError.self) {
            _ = try await Self.relay(config: config)
        }
        #expect(error?.issues.map(\.path) == [path], "\(error?.description ?? "no error")")
        #expect(error?.issues.first?.line == 9, "the issue points into the config block: \(error?.description ?? "")")
    }

    @Test func everySettingsProblemIsReportedAtOnce() async throws {
        let error = await #expect(throws: RelayConfigError.self) {
            _ = try await Self.relay(config: "{historySize: 0, httpPrefix: chat, histroySize: 10}")
        }
        #expect(error?.issues.map(\.path) == ["plugins.chat.config.historySize", "plugins.chat.config.httpPrefix", "plugins.chat.config.histroySize"])
        #expect(error?.issues.map(\.column) == [21, 36, 42], "\(error?.description ?? "")")
    }

    @Test func shippedRouteFileIsValid() throws {
        let file = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("chat-history.yaml").path
        try RelayServer.check(
            file: file,
            environment: [:],
            registry: PluginRegistry([ChatHistoryPlugin.self]),
            logger: Logger(label: "check", factory: { _ in SwiftLogNoOpLogHandler() })
        )
    }
}
