import Plugins
import RelayKernel
import RelayTesting
import Testing

/// The `pubsub` plugin through RelayTesting: topics, echo, open publishing, direct messages,
/// presence and bad input.
@Suite("PubSubPlugin")
struct PubSubPluginTests {
    func relay(_ config: String = "{}") async throws -> TestRelay {
        try await TestRelay(plugin: PubSubPlugin.self, config: config)
    }

    /// A connected client whose `connected` greeting is read.
    func client(_ relay: TestRelay, _ user: String) async throws -> TestClient {
        try await relay.connect("/ws", userId: user)
    }

    @Test func subscribeAndPublish() async throws {
        let relay = try await self.relay()
        let (alice, bob, carol) = (try await self.client(relay, "alice"), try await self.client(relay, "bob"), try await self.client(relay, "carol"))
        try await alice.send(["type": "subscribe", "topic": "news"])
        try await bob.send(["type": "subscribe", "topic": "news"])
        #expect(try await alice.receive() == ["type": "subscribed", "topic": "news"])
        #expect(try await bob.receive() == ["type": "subscribed", "topic": "news"])

        try await alice.send(["type": "publish", "topic": "news", "data": ["headline": "hi"]])
        #expect(try await bob.receive() == ["type": "message", "topic": "news", "from": .string(alice.id.rawValue), "data": ["headline": "hi"]])
        // No echo by default, and non-subscribers get nothing.
        try await alice.expectNothing()
        try await carol.expectNothing()
    }

    @Test func echoDeliversToTheSenderToo() async throws {
        let relay = try await self.relay("{echo: true}")
        let alice = try await self.client(relay, "alice")
        try await alice.send(["type": "subscribe", "topic": "t"])
        try await alice.receive("subscribed")
        try await alice.send(["type": "publish", "topic": "t", "data": 1])
        #expect(try await alice.receive() == ["type": "message", "topic": "t", "from": .string(alice.id.rawValue), "data": 1])
    }

    @Test(arguments: [false, true])
    func publishingRequiresMembershipUnlessOpen(open: Bool) async throws {
        let relay = try await self.relay("{openPublish: \(open)}")
        let (alice, bob) = (try await self.client(relay, "alice"), try await self.client(relay, "bob"))
        try await bob.send(["type": "subscribe", "topic": "t"])
        try await bob.receive("subscribed")
        try await alice.send(["type": "publish", "topic": "t", "data": 1])
        if open {
            #expect(try await bob.receive("message")["data"] == 1)
            try await alice.expectNothing()
        } else {
            try await alice.receiveError("forbidden", ref: "publish")
            try await bob.expectNothing()
        }
    }

    @Test func invalidMessagesAreAnsweredWithTheirErrors() async throws {
        let relay = try await self.relay("{maxTopicLength: 5}")
        let alice = try await self.client(relay, "alice")
        let refused: [(JSONValue, String)] = [
            (["type": "subscribe"], "invalid_message"),
            (["type": "subscribe", "topic": 7], "invalid_message"),
            (["type": "subscribe", "topic": ""], "invalid_message"),
            (["type": "subscribe", "topic": "toolong"], "invalid_message"),
            (["type": "publish", "topic": "five5"], "invalid_message"),
            (["type": "direct", "data": 1], "invalid_message"),
            (["type": "direct", "to": "alice"], "invalid_message"),
            (["type": "shout"], "unknown_type"),
        ]
        for (message, code) in refused {
            try await alice.send(message)
            try await alice.receiveError(code, ref: message["type"]?.stringValue)
        }
        try await alice.send(["type": "subscribe", "topic": "five5"])
        #expect(try await alice.receive() == ["type": "subscribed", "topic": "five5"])
    }

    @Test func directMessages() async throws {
        let relay = try await self.relay()
        let (alice, bob) = (try await self.client(relay, "alice"), try await self.client(relay, "bob"))
        try await alice.send(["type": "direct", "to": .string(bob.id.rawValue), "data": [1, 2]])
        #expect(try await bob.receive() == ["type": "direct", "from": .string(alice.id.rawValue), "data": [1, 2]])
        try await alice.expectNothing()
        try await alice.send(["type": "direct", "to": "nobody", "data": 1])
        try await alice.receiveError("not_found", ref: "direct")
    }

    @Test func presenceAnnouncesJoinsAndLeaves() async throws {
        let relay = try await self.relay("{presence: true}")
        let (alice, bob) = (try await self.client(relay, "alice"), try await self.client(relay, "bob"))
        try await alice.send(["type": "subscribe", "topic": "t"])
        try await alice.receive("subscribed")
        try await bob.send(["type": "subscribe", "topic": "t"])
        #expect(try await alice.receive() == ["type": "joined", "topic": "t", "clientId": .string(bob.id.rawValue)])
        #expect(try await bob.receive() == ["type": "subscribed", "topic": "t"])

        try await bob.send(["type": "unsubscribe", "topic": "t"])
        #expect(try await bob.receive() == ["type": "unsubscribed", "topic": "t"])
        #expect(try await alice.receive() == ["type": "left", "topic": "t", "clientId": .string(bob.id.rawValue)])
    }

    @Test func presenceAnnouncesAClientThatLeftForGoodOnlyWhereItWas() async throws {
        let relay = try await self.relay("{presence: true}")
        let (alice, bob) = (try await self.client(relay, "alice"), try await self.client(relay, "bob"))
        for topic in ["a", "b"] {
            try await alice.send(["type": "subscribe", "topic": .string(topic)])
            try await alice.receive("subscribed")
        }
        try await bob.send(["type": "subscribe", "topic": "a"])
        try await alice.receive("joined")
        await bob.leave()
        #expect(try await alice.receive() == ["type": "left", "topic": "a", "clientId": .string(bob.id.rawValue)])
        try await alice.expectNothing()
    }

    @Test func aDroppedClientLeavesOnlyAfterTheResumeGrace() async throws {
        let relay = try await self.relay("{presence: true}")
        let (alice, bob) = (try await self.client(relay, "alice"), try await self.client(relay, "bob"))
        try await alice.send(["type": "subscribe", "topic": "t"])
        try await alice.receive("subscribed")
        try await bob.send(["type": "subscribe", "topic": "t"])
        try await alice.receive("joined")
        await bob.drop()
        try await alice.expectNothing()
        let back = try await bob.resume()
        #expect(back.connected["resumed"] == true)
        try await alice.send(["type": "publish", "topic": "t", "data": "still here"])
        #expect(try await back.receive(until: "message")["data"] == "still here")
        try await alice.expectNothing()
    }

    @Test func withoutPresenceNoNotices() async throws {
        let relay = try await self.relay()
        let (alice, bob) = (try await self.client(relay, "alice"), try await self.client(relay, "bob"))
        try await alice.send(["type": "subscribe", "topic": "t"])
        try await bob.send(["type": "subscribe", "topic": "t"])
        try await bob.send(["type": "unsubscribe", "topic": "t"])
        #expect(try await alice.receive() == ["type": "subscribed", "topic": "t"])
        try await alice.expectNothing()
    }
}
