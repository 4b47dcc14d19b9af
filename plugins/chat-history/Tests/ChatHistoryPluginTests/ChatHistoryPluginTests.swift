import ChatHistoryPlugin
import Foundation
import Logging
import RelayKernel
import Testing

/// The plugin end to end: a relay started in this process, real WebSocket clients, raw HTTP.
@Suite(.timeLimit(.minutes(1)))
struct ChatHistoryPluginTests {
    @Test func joinAnswersWithTheRoomsHistory() async throws {
        try await TestRelay.run { relay in
            let alice = try await relay.withClient { alice in
                try await alice.send(["type": "chat.join", "room": "lobby"])
                #expect(try await alice.receive("chat.history") == ["type": "chat.history", "room": "lobby", "messages": []])
                try await alice.send(["type": "chat.say", "room": "lobby", "text": "hello"])
                let message = try await alice.receive("chat.message")
                #expect(message == ["type": "chat.message", "room": "lobby", "from": .string(alice.id), "user": nil, "text": "hello", "seq": 1])
                return alice.id
            }
            try await relay.withClient { bob in
                try await bob.send(["type": "chat.join", "room": "lobby"])
                let history = try await bob.receive("chat.history")
                #expect(history["messages"] == [["seq": 1, "from": .string(alice), "user": nil, "text": "hello"]])
                // Rooms are separate.
                try await bob.send(["type": "chat.join", "room": "kitchen"])
                #expect(try await bob.receive("chat.history")["messages"] == [])
            }
        }
    }

    @Test func sayReachesEveryMemberOfTheRoomOnceSenderIncluded() async throws {
        let token = try await TokenVerifier.mintDevelopmentToken(secret: TestRelay.jwtSecret, claims: ["sub": "carol"])
        try await TestRelay.run { relay in
            try await relay.withClient { alice in
                try await alice.send(["type": "chat.join", "room": "lobby"])
                try await alice.receive("chat.history")
                try await relay.withClient(token: token) { carol in
                    try await carol.send(["type": "chat.join", "room": "lobby"])
                    try await carol.receive("chat.history")
                    try await relay.withClient { outsider in
                        try await outsider.send(["type": "chat.join", "room": "elsewhere"])
                        try await outsider.receive("chat.history")

                        try await carol.send(["type": "chat.say", "room": "lobby", "text": "hi all"])
                        let atAlice = try await alice.receive("chat.message")
                        let atCarol = try await carol.receive("chat.message")
                        #expect(atAlice == ["type": "chat.message", "room": "lobby", "from": .string(carol.id), "user": "carol", "text": "hi all", "seq": 1])
                        #expect(atCarol == atAlice)
                        try await outsider.expectNothingPending()
                        try await alice.expectNothingPending()
                        try await carol.expectNothingPending()
                    }
                }
            }
        }
    }

    @Test func historyKeepsOnlyTheLastHistorySizeMessages() async throws {
        try await TestRelay.run(config: "{historySize: 3}") { relay in
            try await relay.withClient { alice in
                try await alice.send(["type": "chat.join", "room": "lobby"])
                try await alice.receive("chat.history")
                for index in 1...5 {
                    try await alice.send(["type": "chat.say", "room": "lobby", "text": .string("m\(index)")])
                    #expect(try await alice.receive("chat.message")["seq"] == .int(index))
                }
            }
            try await relay.withClient { bob in
                try await bob.send(["type": "chat.join", "room": "lobby"])
                let messages = try await bob.receive("chat.history")["messages"]?.arrayValue ?? []
                #expect(messages.map { $0["text"] } == ["m3", "m4", "m5"])
                #expect(messages.map { $0["seq"] } == [3, 4, 5])
            }
            let response = try await relay.get("/chat/rooms/lobby/history", headers: ["X-API-Key": TestRelay.apiKey])
            #expect(response.json?["messages"]?.arrayValue?.map { $0["text"] } == ["m3", "m4", "m5"])
        }
    }

    @Test func sayingInARoomNotJoinedIsForbidden() async throws {
        try await TestRelay.run { relay in
            try await relay.withClient { alice in
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
    }

    @Test func textOverMaxTextLengthIsTooLarge() async throws {
        try await TestRelay.run(config: "{maxTextLength: 10}") { relay in
            try await relay.withClient { alice in
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
    }

    @Test func chatLeaveIsAnnouncedToTheRoomAndTheLeaver() async throws {
        try await TestRelay.run { relay in
            try await relay.withClient { alice in
                try await alice.send(["type": "chat.join", "room": "lobby"])
                try await alice.receive("chat.history")
                try await relay.withClient { bob in
                    try await bob.send(["type": "chat.join", "room": "lobby"])
                    try await bob.receive("chat.history")
                    try await bob.send(["type": "chat.leave", "room": "lobby"])
                    let left: JSONValue = ["type": "chat.left", "room": "lobby", "clientId": .string(bob.id), "user": nil]
                    #expect(try await bob.receive("chat.left") == left)
                    #expect(try await alice.receive("chat.left") == left)
                    try await bob.send(["type": "chat.leave", "room": "lobby"])
                    try await bob.receiveError("not_found", ref: "chat.leave")
                }
                // Bob left the room before leaving the relay: no second announcement.
                try await alice.expectNothingPending()
            }
        }
    }

    @Test func leavingTheRelayIsAnnouncedInEveryRoom() async throws {
        try await TestRelay.run { relay in
            try await relay.withClient { alice in
                for room in ["lobby", "kitchen"] {
                    try await alice.send(["type": "chat.join", "room": .string(room)])
                    try await alice.receive("chat.history")
                }
                let bob = try await relay.withClient { bob in
                    for room in ["lobby", "kitchen"] {
                        try await bob.send(["type": "chat.join", "room": .string(room)])
                        try await bob.receive("chat.history")
                    }
                    return bob.id
                }
                // Bob closed with 1000: a clean leave, announced at once (no resume grace).
                let first = try await alice.receive("chat.left")
                let second = try await alice.receive("chat.left")
                #expect(Set([first["room"], second["room"]]) == ["lobby", "kitchen"])
                #expect(first["clientId"] == .string(bob))
                #expect(second["clientId"] == .string(bob))
            }
        }
    }

    @Test func httpHistoryRequiresTheAPIKey() async throws {
        try await TestRelay.run { relay in
            try await relay.withClient { alice in
                try await alice.send(["type": "chat.join", "room": "team a"])
                try await alice.receive("chat.history")
                try await alice.send(["type": "chat.say", "room": "team a", "text": "standup at 10"])
                try await alice.receive("chat.message")
            }
            let path = "/chat/rooms/team%20a/history"

            let anonymous = try await relay.get(path)
            #expect(anonymous.status == 401)
            #expect(anonymous.json?["error"]?["code"] == "unauthenticated")
            #expect(try await relay.get(path, headers: ["X-API-Key": "wrong"]).status == 401)
            #expect(try await relay.get(path, headers: ["Authorization": "Bearer wrong"]).status == 401)

            for headers in [["X-API-Key": TestRelay.apiKey], ["Authorization": "Bearer \(TestRelay.apiKey)"]] {
                let response = try await relay.get(path, headers: headers)
                #expect(response.status == 200)
                #expect(response.headers["content-type"] == "application/json")
                let json = try #require(response.json)
                #expect(json["room"] == "team a")
                #expect(json["messages"]?.arrayValue?.map { $0["text"] } == ["standup at 10"])
            }
            let empty = try await relay.get("/chat/rooms/nobody-here/history", headers: ["X-API-Key": TestRelay.apiKey])
            #expect(empty.status == 200)
            #expect(empty.json == ["room": "nobody-here", "messages": []])
        }
    }

    @Test func httpPrefixMovesTheRoute() async throws {
        try await TestRelay.run(config: "{httpPrefix: /support-chat}") { relay in
            let moved = try await relay.get("/support-chat/rooms/a/history", headers: ["X-API-Key": TestRelay.apiKey])
            #expect(moved.status == 200)
            let old = try await relay.get("/chat/rooms/a/history", headers: ["X-API-Key": TestRelay.apiKey])
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
        let port = try await TestRelay.freePort()
        let error = await #expect(throws: RelayConfigError.self) {
            _ = try await TestRelay.makeServer(config: config, port: port)
        }
        #expect(error?.issues.map(\.path) == [path], "\(error?.description ?? "no error")")
        #expect(error?.issues.first?.line == 14, "the issue points into the config block: \(error?.description ?? "")")
    }

    @Test func shippedRouteFileIsValid() throws {
        let file = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("chat-history.yaml").path
        try RelayServer.check(file: file, environment: [:], registry: TestRelay.registry, logger: TestRelay.logger("check"))
    }
}
