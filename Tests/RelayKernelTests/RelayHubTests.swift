import Testing
@testable import RelayKernel

@Suite("RelayHub")
struct RelayHubTests {
    let harness = DeliveryHarness()
    let lobby = RoomKey(instance: "chat", name: "lobby")

    @Test func sendToOneClient() {
        let (a, _) = self.harness.session("a")
        #expect(self.harness.hub.session(ClientID("a")) === a)
        #expect(self.harness.hub.send(numbered(1), to: ClientID("a"), policy: .close, counter: nil) == RelayHub.Report(delivered: 1, dropped: 0))
        #expect(drain(a, generation: 0).map(\.n) == [1])
    }

    @Test func sendToAnUnknownClientIsADrop() {
        #expect(self.harness.hub.send(numbered(1), to: ClientID("nobody"), policy: .close, counter: nil) == RelayHub.Report(delivered: 0, dropped: 1))
    }

    @Test func publishReachesEveryMemberButTheExcludedOne() {
        let hub = self.harness.hub
        let (a, _) = self.harness.session("a")
        let (b, _) = self.harness.session("b")
        let (c, _) = self.harness.session("c")
        let (outsider, _) = self.harness.session("d")
        for id in ["a", "b", "c"] { #expect(hub.join(self.lobby, client: ClientID(id))) }
        #expect(Set(hub.members(of: self.lobby).map(\.id.rawValue)) == ["a", "b", "c"])
        #expect(hub.isMember(ClientID("a"), of: self.lobby))
        #expect(!hub.isMember(ClientID("d"), of: self.lobby))

        let report = hub.publish(numbered(7), to: self.lobby, except: ClientID("a"), policy: .close, counter: nil)
        #expect(report == RelayHub.Report(delivered: 2, dropped: 0))
        #expect(drain(a, generation: 0).isEmpty)
        #expect(drain(b, generation: 0).map(\.n) == [7])
        #expect(drain(c, generation: 0).map(\.n) == [7])
        #expect(drain(outsider, generation: 0).isEmpty)

        let everyone = hub.publish(numbered(8), to: self.lobby, except: nil, policy: .close, counter: nil)
        #expect(everyone.delivered == 3)
    }

    @Test func roomsAreScopedByInstance() {
        let hub = self.harness.hub
        let (a, _) = self.harness.session("a")
        #expect(hub.join(self.lobby, client: ClientID("a")))
        let other = RoomKey(instance: "other", name: "lobby")
        #expect(!hub.isMember(ClientID("a"), of: other))
        #expect(hub.publish(numbered(1), to: other, except: nil, policy: .close, counter: nil) == RelayHub.Report())
        #expect(drain(a, generation: 0).isEmpty)
    }

    @Test func publishCountsDropsUnderDropOldest() {
        let hub = self.harness.hub
        let (full, _) = self.harness.session("full", queueMessages: 1)
        let (free, _) = self.harness.session("free")
        hub.join(self.lobby, client: full.id)
        hub.join(self.lobby, client: free.id)
        #expect(hub.publish(numbered(1), to: self.lobby, except: nil, policy: .dropOldest, counter: nil) == RelayHub.Report(delivered: 2, dropped: 0))
        #expect(hub.publish(numbered(2), to: self.lobby, except: nil, policy: .dropOldest, counter: nil) == RelayHub.Report(delivered: 1, dropped: 1))
        // Drop-oldest: the full client keeps the newest message.
        #expect(drain(full, generation: 0).map(\.n) == [2])
        #expect(drain(free, generation: 0).map(\.n) == [1, 2])
    }

    @Test func publishUnderCloseClosesTheSlowMember() {
        let hub = self.harness.hub
        let (slow, slowControl) = self.harness.session("slow", queueMessages: 1)
        let (_, fastControl) = self.harness.session("fast")
        hub.join(self.lobby, client: ClientID("slow"))
        hub.join(self.lobby, client: ClientID("fast"))
        _ = hub.publish(numbered(1), to: self.lobby, except: nil, policy: .close, counter: nil)
        let report = hub.publish(numbered(2), to: self.lobby, except: nil, policy: .close, counter: nil)
        #expect(report.dropped == 0)
        #expect(slowControl.closeReason == CloseReason(.tryAgainLater, "slow consumer"))
        #expect(fastControl.closeReason == nil)
        #expect(slow.pendingCount == 2)
    }

    @Test func joinRequiresALiveClient() {
        let hub = self.harness.hub
        #expect(!hub.join(self.lobby, client: ClientID("nobody")))
        let (a, _) = self.harness.session("a")
        _ = a.markGone()
        #expect(!hub.join(self.lobby, client: ClientID("a")))
        #expect(hub.members(of: self.lobby).isEmpty)
    }

    @Test func leaveRemovesMembership() {
        let hub = self.harness.hub
        let (a, _) = self.harness.session("a")
        let (b, _) = self.harness.session("b")
        hub.join(self.lobby, client: a.id)
        hub.join(self.lobby, client: b.id)
        hub.leave(self.lobby, client: a.id)
        #expect(!hub.isMember(a.id, of: self.lobby))
        #expect(a.rooms.isEmpty)
        #expect(hub.publish(numbered(1), to: self.lobby, except: nil, policy: .close, counter: nil).delivered == 1)
        hub.leave(self.lobby, client: b.id)
        #expect(hub.members(of: self.lobby).isEmpty)
        #expect(hub.publish(numbered(2), to: self.lobby, except: nil, policy: .close, counter: nil) == RelayHub.Report())
        #expect(drain(a, generation: 0).isEmpty)
    }

    @Test func removeLeavesEveryRoomAndTheDirectory() throws {
        let hub = self.harness.hub
        let (a, _) = self.harness.session("a")
        let (b, _) = self.harness.session("b")
        let dm = RoomKey(instance: "chat", name: "dm")
        hub.join(self.lobby, client: a.id)
        hub.join(dm, client: a.id)
        hub.join(self.lobby, client: b.id)
        #expect(hub.remove(a) == [self.lobby, dm])
        #expect(hub.remove(a) == nil)
        #expect(hub.session(a.id) == nil)
        #expect(a.phase == .gone)
        #expect(!hub.isMember(a.id, of: self.lobby))
        #expect(hub.members(of: dm).isEmpty)
        #expect(hub.members(of: self.lobby).map(\.id) == [b.id])
        #expect(hub.send(numbered(1), to: a.id, policy: .close, counter: nil) == RelayHub.Report(delivered: 0, dropped: 1))
        #expect(hub.redeem(resumeToken: "token-a", accept: { _ in true }) == nil)
        // Delivering to a session object that has gone counts as a drop.
        #expect(hub.deliver(numbered(2), to: a, policy: .close, counter: nil) == RelayHub.Report(delivered: 0, dropped: 1))
    }

    @Test func resumeTokensAreSingleUse() {
        let hub = self.harness.hub
        let (a, _) = self.harness.session("a")
        #expect(hub.redeem(resumeToken: "token-a", accept: { _ in true }) === a)
        #expect(hub.redeem(resumeToken: "token-a", accept: { _ in true }) == nil)
        hub.issue(resumeToken: "fresh", for: a)
        #expect(hub.redeem(resumeToken: "fresh", accept: { _ in true }) === a)
        #expect(hub.redeem(resumeToken: "unknown", accept: { _ in true }) == nil)
    }

    @Test func refusedRedeemLeavesTheTokenToItsOwner() {
        let hub = self.harness.hub
        let (a, _) = self.harness.session("a")
        var offered: [ClientID] = []
        #expect(hub.redeem(resumeToken: "token-a", accept: { offered.append($0.id); return false }) == nil)
        #expect(offered == [a.id])
        #expect(hub.redeem(resumeToken: "token-a", accept: { _ in true }) === a)
    }

    @Test func tokenOfARemovedSessionCannotBeRedeemed() {
        let hub = self.harness.hub
        let (a, _) = self.harness.session("a")
        _ = hub.remove(a)
        var asked = false
        #expect(hub.redeem(resumeToken: "token-a", accept: { _ in asked = true; return true }) == nil)
        #expect(!asked)
    }

    @Test func aRemovedSessionDoesNotEvictItsReplacement() {
        let hub = self.harness.hub
        let (old, _) = self.harness.session("same")
        let (replacement, _) = self.harness.session("same")
        #expect(hub.session(ClientID("same")) === replacement)
        _ = hub.remove(old)
        #expect(hub.session(ClientID("same")) === replacement)
    }
}
