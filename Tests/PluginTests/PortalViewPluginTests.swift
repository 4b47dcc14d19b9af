import Plugins
import RelayKernel
import RelayTesting
import Testing

/// The `portal-view` plugin through RelayTesting: roles, presence, late join, expiry of the
/// kept state, resume.
@Suite("PortalViewPlugin")
struct PortalViewPluginTests {
    static let endpoint = "/ws/portal-view/:portalViewId"

    func relay(config: String = "{}") async throws -> TestRelay {
        try await TestRelay(plugin: PortalViewPlugin.self, config: config, endpoint: Self.endpoint, auth: .required)
    }

    /// Claims granting `role` in view `view`.
    func claims(_ view: String, _ role: String) -> [String: JSONValue] {
        ["portalViews": .object([view: .string(role)])]
    }

    @Test func rolesComeFromTheClaimAndNoRoleIsRefused() async throws {
        let relay = try await self.relay()
        let owner = try await relay.connect("/ws/portal-view/pv1", userId: "u1", claims: self.claims("pv1", "OWNER"))
        #expect(owner.connected["role"] == "controller")
        let viewer = try await relay.connect("/ws/portal-view/pv1", userId: "u2", claims: self.claims("pv1", "viewer"))
        #expect(viewer.connected["role"] == "viewer")
        for claims in [self.claims("pv2", "OWNER"), self.claims("pv1", "GUEST"), ["other": "x"]] {
            let refusal = await #expect(throws: CloseReason.self) {
                _ = try await relay.connect("/ws/portal-view/pv1", userId: "u3", claims: claims)
            }
            #expect(refusal?.code == .policyViolation)
        }
        // The refused clients never counted as present.
        try await owner.send(["type": "item-update", "id": 1])
        #expect(try await viewer.receive(until: "item-update")["id"] == 1)
    }

    @Test func updatesGoToEveryOtherConnectionAndWrongRolesAreForbidden() async throws {
        let relay = try await self.relay()
        let owner = try await relay.connect("/ws/portal-view/pv1", userId: "u1", claims: self.claims("pv1", "EDITOR"))
        let viewer = try await relay.connect("/ws/portal-view/pv1", userId: "u2", claims: self.claims("pv1", "VIEWER"))
        let elsewhere = try await relay.connect("/ws/portal-view/pv2", userId: "u3", claims: self.claims("pv2", "VIEWER"))
        _ = owner.receiveAll()
        _ = viewer.receiveAll()
        _ = elsewhere.receiveAll()

        try await owner.send(["type": "portal-view-update", "payload": ["page": 2]])
        #expect(try await viewer.receive("portal-view-update")["payload"] == ["page": 2])
        try await owner.expectNothing()
        try await elsewhere.expectNothing()

        try await viewer.send(["type": "portal-view-update", "payload": ["page": 9]])
        try await viewer.receiveError("forbidden", ref: "portal-view-update")
        try await owner.expectNothing()

        try await owner.send(["type": "request-sync"])
        try await owner.receiveError("forbidden", ref: "request-sync")
    }

    @Test func requestSyncIsStampedAndSyncResponseReachesOneViewer() async throws {
        let relay = try await self.relay(config: "{presence: false}")
        let owner = try await relay.connect("/ws/portal-view/pv1", userId: "u1", claims: self.claims("pv1", "OWNER"))
        let first = try await relay.connect("/ws/portal-view/pv1", userId: "u2", claims: self.claims("pv1", "VIEWER"))
        let second = try await relay.connect("/ws/portal-view/pv1", userId: "u3", claims: self.claims("pv1", "VIEWER"))

        try await first.send(["type": "request-sync", "clientId": "forged"])
        let request = try await owner.receive("request-sync")
        #expect(request["clientId"] == .string(first.id.rawValue), "the relay stamps the requester")
        try await second.expectNothing()

        try await owner.send(["type": "sync-response", "to": .string(first.id.rawValue), "state": 1])
        #expect(try await first.receive("sync-response")["state"] == 1)
        try await second.expectNothing()

        try await owner.send(["type": "sync-response", "to": "nobody", "state": 1])
        try await owner.receiveError("not_found", ref: "sync-response")
        try await owner.send(["type": "sync-response", "to": 5])
        try await owner.receiveError("invalid_message", ref: "sync-response")
    }

    @Test func presenceCountsJoinsAndLeavesForGood() async throws {
        let relay = try await self.relay()
        let owner = try await relay.connect("/ws/portal-view/pv1", userId: "u1", claims: self.claims("pv1", "OWNER"))
        #expect(try await owner.receive("presence") == ["type": "presence", "controllers": 1, "viewers": 0])
        let viewer = try await relay.connect("/ws/portal-view/pv1", userId: "u2", claims: self.claims("pv1", "VIEWER"))
        #expect(try await owner.receive("presence") == ["type": "presence", "controllers": 1, "viewers": 1])
        #expect(try await viewer.receive("presence") == ["type": "presence", "controllers": 1, "viewers": 1])

        // A drop is not a leave until the resume grace (default 30 s) runs out.
        await viewer.drop()
        try await owner.expectNothing()
        await relay.advance(by: .seconds(29))
        try await owner.expectNothing()
        await relay.advance(by: .seconds(2))
        #expect(try await owner.receive("presence") == ["type": "presence", "controllers": 1, "viewers": 0])
    }

    @Test func aResumedViewerKeepsItsRoleAndGetsWhatItMissed() async throws {
        let relay = try await self.relay()
        let owner = try await relay.connect("/ws/portal-view/pv1", userId: "u1", claims: self.claims("pv1", "OWNER"))
        let viewer = try await relay.connect("/ws/portal-view/pv1", userId: "u2", claims: self.claims("pv1", "VIEWER"))
        _ = viewer.receiveAll()
        _ = owner.receiveAll()

        await viewer.drop()
        try await owner.send(["type": "portal-view-update", "payload": ["page": 3]])
        await relay.advance(by: .seconds(5))
        let resumed = try await viewer.resume()
        #expect(resumed.connected["resumed"] == true)
        #expect(resumed.connected["replayed"] == 1)
        #expect(resumed.id == viewer.id)
        #expect(try await resumed.receive("portal-view-update")["payload"] == ["page": 3])
        // Still a viewer: its role survived in the store.
        try await resumed.send(["type": "request-sync"])
        #expect(try await owner.receive("request-sync")["clientId"] == .string(viewer.id.rawValue))
        try await owner.expectNothing()
    }

    @Test func aLateViewerGetsTheLatestStateUntilItExpires() async throws {
        let relay = try await self.relay(config: "{stateTTL: 60, presence: false}")
        let owner = try await relay.connect("/ws/portal-view/pv1", userId: "u1", claims: self.claims("pv1", "OWNER"))
        try await owner.send(["type": "portal-view-update", "payload": ["page": 1]])
        try await owner.send(["type": "portal-view-update", "payload": ["page": 2]])

        let late = try await relay.connect("/ws/portal-view/pv1", userId: "u2", claims: self.claims("pv1", "VIEWER"))
        #expect(try await late.receive("portal-view-update")["payload"] == ["page": 2])
        try await late.expectNothing()

        await relay.advance(by: .seconds(61))
        let later = try await relay.connect("/ws/portal-view/pv1", userId: "u3", claims: self.claims("pv1", "VIEWER"))
        try await later.expectNothing()
    }

    @Test func restBroadcastNeedsTheAPIKeyAndReachesTheView() async throws {
        let relay = try await self.relay(config: "{presence: false}")
        let viewer = try await relay.connect("/ws/portal-view/pv1", userId: "u2", claims: self.claims("pv1", "VIEWER"))
        let unauthorized = try await relay.request("POST", "/api/portal-views/pv1/broadcast", json: ["payload": ["page": 1]])
        #expect(unauthorized.status == 401)
        let answer = try await relay.request("POST", "/api/portal-views/pv1/broadcast", headers: ["X-API-Key": TestRelay.apiKey], json: ["payload": ["page": 4]])
        #expect(answer.status == 200)
        #expect(answer.json?["delivered"] == 1)
        #expect(try await viewer.receive("portal-view-update")["payload"] == ["page": 4])
        let bad = try await relay.request("POST", "/api/portal-views/pv1/broadcast", headers: ["X-API-Key": TestRelay.apiKey], json: ["payload": 1])
        #expect(bad.status == 400)
    }

    /// The same conversation in the test process and against a real relay over sockets.
    @Test(arguments: TestRelayMode.allCases)
    func rolesAndUpdatesOverRealSocketsToo(mode: TestRelayMode) async throws {
        let routes = """
            endpoints:
              - {path: "/ws/portal-view/:portalViewId", codec: json, auth: required}
            plugins:
              views: {plugin: portal-view, config: {presence: false}}
            routes:
              - {endpoint: "/ws/portal-view/:portalViewId", type: "*", plugin: views}
            """
        try await TestRelay.run(mode, routes: routes, plugins: [PortalViewPlugin.self]) { relay in
            let owner = try await relay.connect("/ws/portal-view/pv1", userId: "u1", claims: ["portalViews": ["pv1": "OWNER"]])
            #expect(owner.connected["role"] == "controller")
            let viewer = try await relay.connect("/ws/portal-view/pv1", userId: "u2", claims: ["portalViews": ["pv1": "VIEWER"]])
            #expect(viewer.connected["role"] == "viewer")
            let refusal = await #expect(throws: CloseReason.self) {
                _ = try await relay.connect("/ws/portal-view/pv1", userId: "u3", claims: ["portalViews": ["pv2": "OWNER"]])
            }
            #expect(refusal?.code == .policyViolation)

            try await owner.send(["type": "portal-view-update", "payload": ["page": 2]])
            #expect(try await viewer.receive("portal-view-update")["payload"] == ["page": 2])
            try await viewer.send(["type": "portal-view-update", "payload": ["page": 9]])
            try await viewer.receiveError("forbidden", ref: "portal-view-update")
            try await owner.expectNothing()

            let broadcast = try await relay.request("POST", "/api/portal-views/pv1/broadcast", headers: ["X-API-Key": TestRelay.apiKey], json: ["payload": ["page": 4]])
            #expect(broadcast.status == 200)
            #expect(try await viewer.receive("portal-view-update")["payload"] == ["page": 4])
            #expect(try await owner.receive("portal-view-update")["payload"] == ["page": 4])
        }
    }
}
