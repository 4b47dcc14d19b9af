import PresenceCounter
import RelayKernel
import RelayTesting
import Testing

@Suite("PresenceCounterPlugin (the tutorial's plugin)")
struct PresenceCounterPluginTests {
    func relay(config: String = "{}") async throws -> TestRelay {
        try await TestRelay(plugin: PresenceCounterPlugin.self, config: config, endpoint: "/ws/rooms/:room")
    }

    @Test func aBurstOfJoinsIsAnnouncedOnce() async throws {
        let relay = try await self.relay()
        let alice = try await relay.connect("/ws/rooms/lobby")
        let bob = try await relay.connect("/ws/rooms/lobby")
        #expect(alice.connected["room"] == "lobby")
        try await alice.expectNothing()

        let start = relay.clock.millisecondsSince1970
        await relay.advance(by: .seconds(1))
        let expected: JSONValue = ["type": "presence", "room": "lobby", "count": 2, "at": .int(Int(start) + 1000)]
        #expect(try await alice.receive("presence") == expected)
        #expect(try await bob.receive("presence") == expected)
        try await alice.expectNothing()
    }

    @Test func aFullRoomRefusesTheNextClient() async throws {
        let relay = try await self.relay(config: "{maxClients: 1}")
        _ = try await relay.connect("/ws/rooms/lobby")
        let refusal = await #expect(throws: CloseReason.self) {
            _ = try await relay.connect("/ws/rooms/lobby")
        }
        #expect(refusal?.code == .policyViolation)
        // Other rooms are separate.
        _ = try await relay.connect("/ws/rooms/kitchen")
    }

    @Test func presenceGetAnswersTheSender() async throws {
        let relay = try await self.relay()
        let alice = try await relay.connect("/ws/rooms/lobby")
        try await alice.send(["type": "presence.get"])
        #expect(try await alice.receive("presence")["count"] == 1)
        try await alice.send(["type": "presence.set"])
        try await alice.receiveError("unknown_type", ref: "presence.set")
    }

    @Test func aDropCountsUntilTheResumeGraceRunsOut() async throws {
        let relay = try await self.relay()
        let alice = try await relay.connect("/ws/rooms/lobby")
        let bob = try await relay.connect("/ws/rooms/lobby")
        await relay.advance(by: .seconds(1))
        _ = alice.receiveAll()

        await bob.drop()
        await relay.advance(by: .seconds(10))
        try await alice.expectNothing()
        await relay.advance(by: .seconds(30))
        #expect(try await alice.receive("presence")["count"] == 1)
    }

    @Test func badSettingsAreAllReported() async throws {
        let error = await #expect(throws: RelayConfigError.self) {
            _ = try await self.relay(config: "{maxClients: 0, announceDelay: -1, annouceDelay: 2}")
        }
        #expect(error?.issues.map(\.path) == [
            "plugins.test.config.maxClients", "plugins.test.config.announceDelay", "plugins.test.config.annouceDelay",
        ])
    }

    /// The live test: the same conversation against a real relay on a free port, over sockets.
    @Test(arguments: TestRelayMode.allCases)
    func joiningAndAskingInProcessAndLive(mode: TestRelayMode) async throws {
        let routes = """
            endpoints:
              - {path: "/ws/rooms/:room", codec: json, auth: none}
            plugins:
              presence: {plugin: presence-counter, config: {announceDelay: 0}}
            routes:
              - {endpoint: "/ws/rooms/:room", type: "presence.*", plugin: presence}
            """
        try await TestRelay.run(mode, routes: routes, plugins: [PresenceCounterPlugin.self]) { relay in
            let alice = try await relay.connect("/ws/rooms/lobby")
            #expect(try await alice.receive("presence")["count"] == 1)
            let bob = try await relay.connect("/ws/rooms/lobby")
            #expect(try await alice.receive("presence")["count"] == 2)
            #expect(try await bob.receive("presence")["count"] == 2)
            try await bob.send(["type": "presence.get"])
            #expect(try await bob.receive("presence")["room"] == "lobby")
            await bob.leave()
            #expect(try await alice.receive("presence")["count"] == 1)
        }
    }
}
