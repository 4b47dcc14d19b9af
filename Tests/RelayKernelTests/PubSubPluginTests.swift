import Logging
import NIOCore
import Testing
@testable import Plugins
@testable import RelayKernel

@Suite("PubSubPlugin")
struct PubSubPluginTests {
    let delivery = DeliveryHarness()
    let runtime: PluginRuntime

    init() {
        self.runtime = PluginRuntime(
            hub: self.delivery.hub,
            timers: RelayTimers(),
            store: MemoryKeyValueStore(),
            records: MemoryDurableStore(),
            keys: PluginRuntime.Keys(),
            logger: Logger(label: "test")
        )
    }

    func plugin(echo: Bool = false, presence: Bool = false, openPublish: Bool = false, maxTopicLength: Int = 128) throws -> PubSubPlugin {
        var configuration = PubSubConfiguration()
        configuration.echo = echo
        configuration.presence = presence
        configuration.openPublish = openPublish
        configuration.maxTopicLength = maxTopicLength
        var setup = PluginSetup(instanceName: "chat", logger: Logger(label: "test"))
        return try PubSubPlugin(configuration: configuration, setup: &setup)
    }

    func client(_ id: String) -> ClientSession {
        self.delivery.session(id).session
    }

    /// Hands `json` from `sender` to the plugin, as the kernel would after routing.
    func handle(_ json: String, from sender: ClientSession, plugin: PubSubPlugin) async throws {
        let body = try #require(try JSONParser.parse(Array(json.utf8)).objectValue)
        let message = RelayMessage(
            type: try #require(body["type"]?.stringValue),
            body: body,
            raw: ByteBuffer(string: json),
            kind: .text,
            sender: sender.info
        )
        try await plugin.handle(message, context: self.runtime.context(instance: "chat", client: sender.info, route: nil))
    }

    /// The error code `json` is answered with, or `nil`.
    func errorCode(_ json: String, from sender: ClientSession, plugin: PubSubPlugin) async -> String? {
        do {
            try await self.handle(json, from: sender, plugin: plugin)
            return nil
        } catch let error as RelayError {
            return error.code.rawValue
        } catch {
            return "\(error)"
        }
    }

    /// Everything queued for `session`, parsed.
    func received(_ session: ClientSession) -> [JSONValue] {
        var messages: [JSONValue] = []
        while case .frame(let frame) = session.popForWriter(generation: session.generation) {
            messages.append((try? JSONParser.parse(frame.message.bytes.readableBytesView)) ?? .null)
        }
        return messages
    }

    @Test func subscribeAndPublish() async throws {
        let plugin = try self.plugin()
        let (alice, bob, carol) = (self.client("alice"), self.client("bob"), self.client("carol"))
        try await self.handle(#"{"type":"subscribe","topic":"news"}"#, from: alice, plugin: plugin)
        try await self.handle(#"{"type":"subscribe","topic":"news"}"#, from: bob, plugin: plugin)
        #expect(self.received(alice) == [["type": "subscribed", "topic": "news"]])
        #expect(self.received(bob) == [["type": "subscribed", "topic": "news"]])

        try await self.handle(#"{"type":"publish","topic":"news","data":{"headline":"hi"}}"#, from: alice, plugin: plugin)
        #expect(self.received(bob) == [["type": "message", "topic": "news", "from": "alice", "data": ["headline": "hi"]]])
        // No echo by default, and non-subscribers get nothing.
        #expect(self.received(alice).isEmpty)
        #expect(self.received(carol).isEmpty)
    }

    @Test func echoDeliversToTheSenderToo() async throws {
        let plugin = try self.plugin(echo: true)
        let alice = self.client("alice")
        try await self.handle(#"{"type":"subscribe","topic":"t"}"#, from: alice, plugin: plugin)
        _ = self.received(alice)
        try await self.handle(#"{"type":"publish","topic":"t","data":1}"#, from: alice, plugin: plugin)
        #expect(self.received(alice) == [["type": "message", "topic": "t", "from": "alice", "data": 1]])
    }

    @Test func publishingRequiresMembershipUnlessOpen() async throws {
        let closed = try self.plugin()
        let (alice, bob) = (self.client("alice"), self.client("bob"))
        try await self.handle(#"{"type":"subscribe","topic":"t"}"#, from: bob, plugin: closed)
        _ = self.received(bob)
        #expect(await self.errorCode(#"{"type":"publish","topic":"t","data":1}"#, from: alice, plugin: closed) == "forbidden")
        #expect(self.received(bob).isEmpty)

        let open = try self.plugin(openPublish: true)
        #expect(await self.errorCode(#"{"type":"publish","topic":"t","data":1}"#, from: alice, plugin: open) == nil)
        #expect(self.received(bob).count == 1)
    }

    @Test func invalidMessages() async throws {
        let plugin = try self.plugin(maxTopicLength: 5)
        let alice = self.client("alice")
        #expect(await self.errorCode(#"{"type":"subscribe"}"#, from: alice, plugin: plugin) == "invalid_message")
        #expect(await self.errorCode(#"{"type":"subscribe","topic":7}"#, from: alice, plugin: plugin) == "invalid_message")
        #expect(await self.errorCode(#"{"type":"subscribe","topic":""}"#, from: alice, plugin: plugin) == "invalid_message")
        #expect(await self.errorCode(#"{"type":"subscribe","topic":"toolong"}"#, from: alice, plugin: plugin) == "invalid_message")
        #expect(await self.errorCode(#"{"type":"subscribe","topic":"five5"}"#, from: alice, plugin: plugin) == nil)
        #expect(await self.errorCode(#"{"type":"publish","topic":"five5"}"#, from: alice, plugin: plugin) == "invalid_message")
        #expect(await self.errorCode(#"{"type":"direct","data":1}"#, from: alice, plugin: plugin) == "invalid_message")
        #expect(await self.errorCode(#"{"type":"direct","to":"alice"}"#, from: alice, plugin: plugin) == "invalid_message")
        #expect(await self.errorCode(#"{"type":"shout"}"#, from: alice, plugin: plugin) == "unknown_type")
    }

    @Test func directMessages() async throws {
        let plugin = try self.plugin()
        let (alice, bob) = (self.client("alice"), self.client("bob"))
        try await self.handle(#"{"type":"direct","to":"bob","data":[1,2]}"#, from: alice, plugin: plugin)
        #expect(self.received(bob) == [["type": "direct", "from": "alice", "data": [1, 2]]])
        #expect(self.received(alice).isEmpty)
        #expect(await self.errorCode(#"{"type":"direct","to":"nobody","data":1}"#, from: alice, plugin: plugin) == "not_found")
    }

    @Test func presenceAnnouncesJoinsAndLeaves() async throws {
        let plugin = try self.plugin(presence: true)
        let (alice, bob) = (self.client("alice"), self.client("bob"))
        try await self.handle(#"{"type":"subscribe","topic":"t"}"#, from: alice, plugin: plugin)
        try await self.handle(#"{"type":"subscribe","topic":"t"}"#, from: bob, plugin: plugin)
        #expect(self.received(alice) == [["type": "subscribed", "topic": "t"], ["type": "joined", "topic": "t", "clientId": "bob"]])
        #expect(self.received(bob) == [["type": "subscribed", "topic": "t"]])

        try await self.handle(#"{"type":"unsubscribe","topic":"t"}"#, from: bob, plugin: plugin)
        #expect(self.received(bob) == [["type": "unsubscribed", "topic": "t"]])
        #expect(self.received(alice) == [["type": "left", "topic": "t", "clientId": "bob"]])
    }

    @Test func presenceAnnouncesAClientThatLeftForGood() async throws {
        let plugin = try self.plugin(presence: true)
        let (alice, bob) = (self.client("alice"), self.client("bob"))
        try await self.handle(#"{"type":"subscribe","topic":"a"}"#, from: alice, plugin: plugin)
        try await self.handle(#"{"type":"subscribe","topic":"b"}"#, from: alice, plugin: plugin)
        try await self.handle(#"{"type":"subscribe","topic":"a"}"#, from: bob, plugin: plugin)
        _ = self.received(alice)
        // As the kernel does when a client leaves for good.
        let rooms = try #require(self.delivery.hub.remove(bob))
        var context = self.runtime.context(instance: "chat", client: bob.info, route: nil)
        context.departedRooms = rooms
        await plugin.clientLeft(bob.info, context: context)
        #expect(self.received(alice) == [["type": "left", "topic": "a", "clientId": "bob"]])
    }

    @Test func withoutPresenceNoNotices() async throws {
        let plugin = try self.plugin()
        let (alice, bob) = (self.client("alice"), self.client("bob"))
        try await self.handle(#"{"type":"subscribe","topic":"t"}"#, from: alice, plugin: plugin)
        try await self.handle(#"{"type":"subscribe","topic":"t"}"#, from: bob, plugin: plugin)
        try await self.handle(#"{"type":"unsubscribe","topic":"t"}"#, from: bob, plugin: plugin)
        #expect(self.received(alice) == [["type": "subscribed", "topic": "t"]])
    }
}
