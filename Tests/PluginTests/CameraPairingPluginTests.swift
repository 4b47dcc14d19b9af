import Plugins
import RelayKernel
import RelayTesting
import Testing

/// The `camera-pairing` plugin through RelayTesting: create, join, held signaling, conflicts,
/// code expiry and idle expiry on the test clock, leave and resume, the REST side.
@Suite("CameraPairingPlugin")
struct CameraPairingPluginTests {
    func relay(config: String = "{}") async throws -> TestRelay {
        try await TestRelay(plugin: CameraPairingPlugin.self, config: config, endpoint: "/ws")
    }

    /// A desktop that created a code, and the code.
    func desktopWithCode(_ relay: TestRelay) async throws -> (TestClient, String) {
        let desktop = try await relay.connect("/ws", userId: "desk")
        try await desktop.send(["type": "cam-create"])
        let created = try await desktop.receive("cam-code")
        return (desktop, try #require(created["code"]?.stringValue))
    }

    @Test func createJoinAndSignalBothWays() async throws {
        let relay = try await self.relay()
        let (desktop, code) = try await self.desktopWithCode(relay)
        #expect(code.count == 6)
        let phone = try await relay.connect("/ws", userId: "phone")
        try await phone.send(["type": "cam-join", "code": .string(code.lowercased())])
        #expect(try await phone.receive("cam-paired")["code"] == .string(code))
        #expect(try await desktop.receive("cam-peer-joined")["code"] == .string(code))

        try await desktop.send(["type": "cam-offer", "code": .string(code), "payload": ["sdp": "o"], "extra": 1])
        let offer = try await phone.receive("cam-offer")
        #expect(offer["payload"] == ["sdp": "o"])
        #expect(offer["extra"] == 1, "relayed as the exact bytes that arrived")
        try await phone.send(["type": "cam-answer", "code": .string(code), "payload": ["sdp": "a"]])
        #expect(try await desktop.receive("cam-answer")["payload"] == ["sdp": "a"])
        try await desktop.expectNothing()
        try await phone.expectNothing()
    }

    @Test func signalingBeforeTheJoinIsHeldAndDeliveredInOrder() async throws {
        let relay = try await self.relay()
        let (desktop, code) = try await self.desktopWithCode(relay)
        for index in 1...3 {
            try await desktop.send(["type": "cam-ice", "code": .string(code), "payload": .int(index)])
        }
        try await desktop.expectNothing()
        let phone = try await relay.connect("/ws", userId: "phone")
        try await phone.send(["type": "cam-join", "code": .string(code)])
        try await phone.receive("cam-paired")
        for index in 1...3 {
            #expect(try await phone.receive("cam-ice")["payload"] == .int(index))
        }
    }

    @Test func conflictsAndStrangers() async throws {
        let relay = try await self.relay()
        let (desktop, code) = try await self.desktopWithCode(relay)
        try await desktop.send(["type": "cam-join", "code": .string(code)])
        try await desktop.receiveError("conflict", ref: "cam-join")

        let phone = try await relay.connect("/ws", userId: "phone")
        try await phone.send(["type": "cam-join", "code": .string(code)])
        try await phone.receive("cam-paired")
        // Joining again as the same phone changes nothing.
        try await phone.send(["type": "cam-join", "code": .string(code)])
        try await phone.receive("cam-paired")
        try await desktop.receive("cam-peer-joined")
        try await desktop.expectNothing()

        let stranger = try await relay.connect("/ws", userId: "stranger")
        try await stranger.send(["type": "cam-join", "code": .string(code)])
        try await stranger.receiveError("conflict", ref: "cam-join")
        try await stranger.send(["type": "cam-offer", "code": .string(code), "payload": 1])
        try await stranger.receiveError("forbidden", ref: "cam-offer")
        try await stranger.send(["type": "cam-join", "code": "NOPE0"])
        try await stranger.receiveError("not_found", ref: "cam-join")
        try await stranger.send(["type": "cam-join"])
        try await stranger.receiveError("invalid_message", ref: "cam-join")
        try await phone.expectNothing()
    }

    @Test func anUnjoinedCodeExpiresOnTheClock() async throws {
        let relay = try await self.relay(config: "{codeTTL: 60}")
        let (desktop, code) = try await self.desktopWithCode(relay)
        await relay.advance(by: .seconds(59))
        try await desktop.expectNothing()
        await relay.advance(by: .seconds(2))
        #expect(try await desktop.receive("cam-code-expired") == ["type": "cam-code-expired", "code": .string(code), "reason": "code-expired"])
        let phone = try await relay.connect("/ws", userId: "phone")
        try await phone.send(["type": "cam-join", "code": .string(code)])
        try await phone.receiveError("not_found", ref: "cam-join")
    }

    @Test func anIdlePairingEndsForBothSides() async throws {
        let relay = try await self.relay(config: "{idleTimeout: 120}")
        let (desktop, code) = try await self.desktopWithCode(relay)
        let phone = try await relay.connect("/ws", userId: "phone")
        try await phone.send(["type": "cam-join", "code": .string(code)])
        try await phone.receive("cam-paired")
        try await desktop.receive("cam-peer-joined")
        await relay.advance(by: .seconds(100))
        // Activity renews the pairing.
        try await desktop.send(["type": "cam-data", "code": .string(code), "payload": "keep"])
        try await phone.receive("cam-data")
        await relay.advance(by: .seconds(100))
        try await desktop.expectNothing()
        try await phone.expectNothing()
        await relay.advance(by: .seconds(30))
        #expect(try await desktop.receive("cam-peer-left")["reason"] == "idle")
        #expect(try await phone.receive("cam-peer-left")["reason"] == "idle")
    }

    @Test func aDroppedPhoneResumesWithWhatItMissedOrLeavesAfterTheGrace() async throws {
        let relay = try await self.relay()
        let (desktop, code) = try await self.desktopWithCode(relay)
        let phone = try await relay.connect("/ws", userId: "phone")
        try await phone.send(["type": "cam-join", "code": .string(code)])
        try await phone.receive("cam-paired")
        try await desktop.receive("cam-peer-joined")

        await phone.drop()
        try await desktop.send(["type": "cam-ice", "code": .string(code), "payload": 1])
        await relay.advance(by: .seconds(10))
        try await desktop.expectNothing()
        let back = try await phone.resume()
        #expect(back.connected["resumed"] == true)
        #expect(try await back.receive("cam-ice")["payload"] == 1)

        await back.drop()
        await relay.advance(by: .seconds(31))
        #expect(try await desktop.receive("cam-peer-left") == ["type": "cam-peer-left", "code": .string(code), "reason": "left"])
        try await desktop.send(["type": "cam-ice", "code": .string(code), "payload": 2])
        try await desktop.receiveError("not_found", ref: "cam-ice")
    }

    @Test func aNewCodeRetiresTheOldOne() async throws {
        let relay = try await self.relay()
        let (desktop, first) = try await self.desktopWithCode(relay)
        let phone = try await relay.connect("/ws", userId: "phone")
        try await phone.send(["type": "cam-join", "code": .string(first)])
        try await phone.receive("cam-paired")
        try await desktop.send(["type": "cam-create"])
        #expect(try await phone.receive("cam-peer-left")["reason"] == "retired")
        #expect(try await desktop.receive(until: "cam-code")["code"] != .string(first))
    }

    @Test func aRESTPhonePollsItsMailboxAndLeaves() async throws {
        let relay = try await self.relay()
        let (desktop, code) = try await self.desktopWithCode(relay)
        let joined = try await relay.request("POST", "/cam/join/\(code)")
        #expect(joined.status == 200)
        let token = try #require(joined.json?["token"]?.stringValue)
        try await desktop.receive("cam-peer-joined")

        try await desktop.send(["type": "cam-offer", "code": .string(code), "payload": ["sdp": "o"]])
        let polled = try await relay.request("GET", "/cam/signal/\(code)?source=phone&after=0", headers: ["Authorization": "Bearer \(token)"])
        #expect(polled.status == 200)
        #expect(polled.json?["messages"]?.arrayValue?.map { $0["type"] } == ["cam-offer"])

        let unauthorized = try await relay.request("POST", "/cam/signal/\(code)", json: ["type": "cam-answer", "payload": 1])
        #expect(unauthorized.status == 401)
        let answered = try await relay.request("POST", "/cam/signal/\(code)", headers: ["Authorization": "Bearer \(token)"], json: ["type": "cam-answer", "payload": 1])
        #expect(answered.status == 200)
        #expect(try await desktop.receive("cam-answer")["payload"] == 1)

        let left = try await relay.request("POST", "/cam/leave/\(code)", headers: ["Authorization": "Bearer \(token)"])
        #expect(left.status == 200)
        #expect(try await desktop.receive("cam-peer-left")["reason"] == "left")
    }
}
