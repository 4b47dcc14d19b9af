import Plugins
import RelayKernel
import RelayTesting
import Testing

/// The `ml-alerts` plugin through RelayTesting: registration and stream status, roles,
/// fan-out of frames and alerts, late subscribers, resume, the stored alert history.
@Suite("MLAlertsPlugin")
struct MLAlertsPluginTests {
    static let routes = """
        endpoints:
          - {path: /api/streams/ws, codec: json, auth: required}
        plugins:
          ml: {plugin: ml-alerts}
        routes:
          - {endpoint: /api/streams/ws, type: register, plugin: ml}
          - {endpoint: /api/streams/ws, type: subscribe, plugin: ml}
          - {endpoint: /api/streams/ws, type: unsubscribe, plugin: ml}
          - {endpoint: /api/streams/ws, type: video-frame, plugin: ml, binary: true, overflow: drop-oldest}
          - {endpoint: /api/streams/ws, type: alert, plugin: ml, overflow: close}
        """
    static let path = "/api/streams/ws"

    func relay() async throws -> TestRelay {
        try await TestRelay(routes: Self.routes, plugins: [MLAlertsPlugin.self])
    }

    /// A phone of `owner` that registered a new stream; the stream id.
    func phone(_ relay: TestRelay, owner: String = "alice") async throws -> (TestClient, String) {
        let phone = try await relay.connect(Self.path, userId: owner, claims: ["sub": .string(owner)])
        try await phone.send(["type": "register", "deviceName": "Front door", "clientType": "mobile"])
        let registered = try await phone.receive("registered")
        return (phone, try #require(registered["streamId"]?.stringValue))
    }

    func service(_ relay: TestRelay) async throws -> TestClient {
        try await relay.connect(Self.path, userId: "ml-1", claims: ["sub": "ml-1", "role": "ml-service"])
    }

    @Test func aSubscriberSeesTheStatusChangeAsFramesArriveAndTheProducerLeaves() async throws {
        let relay = try await self.relay()
        let (phone, stream) = try await self.phone(relay)
        let dashboard = try await relay.connect(Self.path, userId: "alice", claims: ["sub": "alice"])
        try await dashboard.send(["type": "subscribe", "streamId": .string(stream), "format": "json"])
        #expect(try await dashboard.receive("subscribed")["streamId"] == .string(stream))
        #expect(try await dashboard.receive("stream-status")["status"] == "online")

        try await phone.send(["type": "video-frame", "streamId": .string(stream), "data": "AAEC", "seq": 1])
        #expect(try await dashboard.receive("video-frame")["seq"] == 1)
        #expect(try await dashboard.receive("stream-status")["status"] == "streaming")
        try await phone.send(["type": "video-frame", "streamId": .string(stream), "data": "AAEC", "seq": 2])
        #expect(try await dashboard.receive("video-frame")["seq"] == 2)

        await phone.leave()
        #expect(try await dashboard.receive("stream-status")["status"] == "offline")
    }

    @Test(arguments: TestRelayMode.allCases)
    func aBinaryConsumerGetsFramesAsBinaryInBothModes(mode: TestRelayMode) async throws {
        try await TestRelay.run(mode, routes: Self.routes, plugins: [MLAlertsPlugin.self]) { relay in
            let (phone, stream) = try await self.phone(relay)
            let dashboard = try await relay.connect(Self.path, userId: "alice", claims: ["sub": "alice"])
            try await dashboard.send(["type": "subscribe", "streamId": .string(stream), "format": "binary"])
            #expect(try await dashboard.receive("subscribed")["streamId"] == .string(stream))
            try await phone.send(["type": "video-frame", "streamId": .string(stream), "data": "AAEC", "seq": 1])
            // A binary frame: the client sees its JSON header.
            let frame = try await dashboard.receive(until: "video-frame")
            #expect(frame["seq"] == 1 && frame["streamId"] == .string(stream))
        }
    }

    @Test func rolesDecideWhoMaySubscribeAndAlert() async throws {
        let relay = try await self.relay()
        let (phone, stream) = try await self.phone(relay)
        let mallory = try await relay.connect(Self.path, userId: "mallory", claims: ["sub": "mallory"])
        try await mallory.send(["type": "subscribe", "streamId": .string(stream)])
        try await mallory.receiveError("forbidden", ref: "subscribe")
        try await mallory.send(["type": "alert", "streamId": .string(stream), "severity": "high", "message": "x"])
        try await mallory.receiveError("forbidden", ref: "alert")
        try await mallory.send(["type": "video-frame", "streamId": .string(stream), "data": "AAEC"])
        try await mallory.receiveError("forbidden", ref: "video-frame")
        try await mallory.send(["type": "subscribe", "streamId": "stream_unknown"])
        try await mallory.receiveError("not_found", ref: "subscribe")

        let service = try await self.service(relay)
        try await service.send(["type": "subscribe", "streamId": .string(stream), "consumes": ["video-frame"], "produces": ["alert"]])
        try await service.receive("subscribed")
        try await service.send(["type": "alert", "streamId": .string(stream), "severity": "urgent", "message": "x"])
        try await service.receive(until: "error")
        try await service.send(["type": "alert", "streamId": .string(stream), "severity": "high", "message": "Person at the door"])
        let alert = try await phone.receive(until: "alert")
        #expect(alert["severity"] == "high")
        #expect(alert["message"] == "Person at the door")
        #expect(alert["createdAt"]?.stringValue?.hasSuffix("Z") == true)
    }

    @Test func alertsAreStoredWithTheClocksTimeAndPagedOverREST() async throws {
        let relay = try await self.relay()
        let (phone, stream) = try await self.phone(relay)
        let service = try await self.service(relay)
        try await service.send(["type": "subscribe", "streamId": .string(stream), "consumes": [], "produces": ["alert"]])
        _ = service.receiveAll()
        let start = relay.clock.millisecondsSince1970
        for index in 1...3 {
            try await service.send(["type": "alert", "streamId": .string(stream), "severity": "low", "message": .string("alert \(index)")])
            await relay.advance(by: .seconds(10))
        }
        #expect(phone.receiveAll().filter { $0["type"] == "alert" }.map { $0["timestamp"] } == [.int(Int(start)), .int(Int(start) + 10_000), .int(Int(start) + 20_000)])

        let token = try await relay.token(sub: "alice")
        let page = try await relay.request("GET", "/api/alerts?streamId=\(stream)&limit=2", headers: ["Authorization": "Bearer \(token)"])
        #expect(page.status == 200, "\(page.body)")
        #expect(page.json?["alerts"]?.arrayValue?.map { $0["message"] } == ["alert 3", "alert 2"])
        let cursor = try #require(page.json?["nextCursor"]?.stringValue)
        let next = try await relay.request("GET", "/api/alerts?streamId=\(stream)&limit=2&before=\(cursor)", headers: ["Authorization": "Bearer \(token)"])
        #expect(next.json?["alerts"]?.arrayValue?.map { $0["message"] } == ["alert 1"])
        #expect(next.json?["nextCursor"] == .null)

        let other = try await relay.token(sub: "bob")
        #expect(try await relay.request("GET", "/api/alerts?streamId=\(stream)", headers: ["Authorization": "Bearer \(other)"]).status == 403)
        #expect(try await relay.request("GET", "/api/alerts?streamId=\(stream)").status == 401)
    }

    @Test func aLateSubscriberGetsTheCurrentStatus() async throws {
        let relay = try await self.relay()
        let (phone, stream) = try await self.phone(relay)
        try await phone.send(["type": "video-frame", "streamId": .string(stream), "data": "AAEC"])
        let late = try await relay.connect(Self.path, userId: "alice", claims: ["sub": "alice"])
        try await late.send(["type": "subscribe", "streamId": .string(stream)])
        try await late.receive("subscribed")
        #expect(try await late.receive("stream-status")["status"] == "streaming")
        try await late.expectNothing()
    }

    @Test func aProducerThatResumesWithinTheGraceKeepsItsStreamOnline() async throws {
        let relay = try await self.relay()
        let (phone, stream) = try await self.phone(relay)
        let dashboard = try await relay.connect(Self.path, userId: "alice", claims: ["sub": "alice"])
        try await dashboard.send(["type": "subscribe", "streamId": .string(stream)])
        _ = dashboard.receiveAll()

        await phone.drop()
        await relay.advance(by: .seconds(20))
        let back = try await phone.resume()
        #expect(back.connected["resumed"] == true)
        await relay.advance(by: .seconds(60))
        try await dashboard.expectNothing()
        // Still registered: its frames reach the dashboard.
        try await back.send(["type": "video-frame", "streamId": .string(stream), "data": "AAEC", "seq": 7])
        #expect(try await dashboard.receive("video-frame")["seq"] == 7)
        #expect(try await dashboard.receive("stream-status")["status"] == "streaming")

        await back.drop()
        await relay.advance(by: .seconds(31))
        #expect(try await dashboard.receive("stream-status")["status"] == "offline")
    }

    @Test func aDroppedDashboardGetsEveryMissedAlertOnResume() async throws {
        let relay = try await self.relay()
        let (_, stream) = try await self.phone(relay)
        let service = try await self.service(relay)
        let dashboard = try await relay.connect(Self.path, userId: "alice", claims: ["sub": "alice"])
        try await dashboard.send(["type": "subscribe", "streamId": .string(stream), "consumes": ["alert"]])
        _ = dashboard.receiveAll()
        await dashboard.drop()
        for index in 1...3 {
            try await service.send(["type": "alert", "streamId": .string(stream), "severity": "medium", "message": .string("m\(index)")])
        }
        let back = try await dashboard.resume()
        #expect(back.connected["replayed"] == 3)
        #expect(back.receiveAll().map { $0["message"] } == ["m1", "m2", "m3"])
    }
}
