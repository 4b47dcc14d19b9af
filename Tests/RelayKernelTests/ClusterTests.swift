import NIOCore
import Plugins
import Testing
@testable import RelayKernel

@Suite("Cluster")
struct ClusterTests {
    static let info = ClientInfo(
        id: ClientID("c1"),
        userId: "alice",
        claims: ["role": "admin"],
        endpoint: "/ws/:room",
        parameters: ["room": "r1"],
        codec: "socketio",
        remoteAddress: "10.0.0.1",
        namespace: "/chat",
        handshake: ["token": "t"]
    )

    // MARK: Envelopes

    @Test func clientEnvelopeKeepsEveryContentKind() throws {
        let messages: [OutboundMessage] = [
            .json(type: "hello", ["n": 1]),
            .event(type: "ev", arguments: [ByteBuffer(string: "{\"a\":1}"), ByteBuffer(string: "2")], attachments: [ByteBuffer(bytes: [0, 1, 2])]),
            .binary(header: ["type": "video-frame", "seq": 3], payload: ByteBuffer(bytes: [9, 8, 7])),
            OutboundMessage(type: "ack", content: .ack(id: 42, arguments: [ByteBuffer(string: "\"ok\"")], attachments: [])),
        ]
        for message in messages {
            let bytes = ClusterEnvelope.client(ClientID("x"), message, policy: .dropOldest, hops: 1).encoded
            guard case .client(let id, let decoded, let policy, let hops) = try ClusterEnvelope(decoding: bytes) else {
                Issue.record("not a client envelope")
                continue
            }
            #expect(id == ClientID("x") && policy == .dropOldest && hops == 1)
            #expect(decoded.type == message.type)
            #expect(decoded.kind == message.kind)
            #expect(decoded.bytes == message.bytes)
            let socketIO = { (m: OutboundMessage) in m.forms.socketIO(of: m, namespace: "/").map { [$0.isText ? 1 : 0] + Array($0.bytes.readableBytesView) } }
            #expect(socketIO(decoded) == socketIO(message))
        }
    }

    @Test func roomHandoverAndFenceEnvelopesRoundTrip() throws {
        let room = RoomKey(instance: "chat", name: "a/b")
        let bytes = ClusterEnvelope.room(room, .json(type: "m"), except: ClientID("me"), policy: .close).encoded
        guard case .room(let decodedRoom, let message, let except, let policy) = try ClusterEnvelope(decoding: bytes) else {
            Issue.record("not a room envelope")
            return
        }
        #expect(decodedRoom == room && message.type == "m" && except == ClientID("me") && policy == .close)

        let frames = [
            ClusterEnvelope.HandedFrame(sequence: 7, droppable: false, message: .json(type: "seen")),
            ClusterEnvelope.HandedFrame(sequence: nil, droppable: true, message: .json(type: "queued")),
        ]
        guard case .handover(let id, let handed?, let last) = try ClusterEnvelope(decoding: ClusterEnvelope.handover(ClientID("c"), frames: frames, lastSequence: 7).encoded)
        else {
            Issue.record("not a handover")
            return
        }
        #expect(id == ClientID("c") && last == 7)
        #expect(handed.map(\.sequence) == [7, nil] && handed.map(\.droppable) == [false, true] && handed.map(\.message.type) == ["seen", "queued"])

        guard case .handover(_, nil, _) = try ClusterEnvelope(decoding: ClusterEnvelope.handover(ClientID("c"), frames: nil, lastSequence: 0).encoded) else {
            Issue.record("a refusal must decode as one")
            return
        }
        guard case .fence(let fenced) = try ClusterEnvelope(decoding: ClusterEnvelope.fence(ClientID("f")).encoded) else {
            Issue.record("not a fence")
            return
        }
        #expect(fenced == ClientID("f"))
        guard case .handoverRequest(let asked, let node, let lastSeen) = try ClusterEnvelope(decoding: ClusterEnvelope.handoverRequest(ClientID("c"), toNode: "b", lastSeen: 5).encoded) else {
            Issue.record("not a handover request")
            return
        }
        #expect(asked == ClientID("c") && node == "b" && lastSeen == 5)
    }

    @Test func truncatedOrUnknownEnvelopesAreRejected() {
        let bytes = ClusterEnvelope.client(ClientID("x"), .json(type: "hello"), policy: .close, hops: 0).encoded
        for length in 0..<bytes.readableBytes {
            #expect(throws: ClusterEnvelope.DecodingError.self) { try ClusterEnvelope(decoding: bytes.getSlice(at: 0, length: length)!) }
        }
        #expect(throws: ClusterEnvelope.DecodingError.self) { try ClusterEnvelope(decoding: ByteBuffer(bytes: [99, 0, 0])) }
    }

    // MARK: Directory

    @Test func clientInfoSurvivesJSON() {
        #expect(ClientInfo(json: Self.info.json) == Self.info)
        #expect(ClientInfo(json: ["id": "x"]) == nil)
    }

    @Test func directoryTracksOtherNodesOnly() {
        let directory = ClusterDirectory(localNode: "a")
        let other = ClientInfo(id: ClientID("c2"), userId: nil, claims: [:], endpoint: "/ws", parameters: [:])
        directory.apply(.clientUp(Self.info, node: "b"))
        directory.apply(.clientUp(other, node: "a"))  // this node's own: not kept
        directory.apply(.joined(room: "chat/r", Self.info.id, node: "b"))
        directory.apply(.joined(room: "chat/r", other.id, node: "a"))
        #expect(directory.location(of: Self.info.id) == .node("b"))
        #expect(directory.location(of: other.id) == nil)
        #expect(directory.info(of: Self.info.id) == Self.info)
        #expect(directory.memberCount(of: "chat/r") == 1)
        #expect(directory.isMember(Self.info.id, of: "chat/r"))
        #expect(directory.recipients(of: "chat/r", except: nil).nodes == ["b": 1])
        #expect(directory.recipients(of: "chat/r", except: Self.info.id).nodes.isEmpty)

        directory.apply(.nodeDied("b"))
        #expect(directory.location(of: Self.info.id) == .orphaned)
        #expect(directory.recipients(of: "chat/r", except: nil).orphans == [Self.info.id])
        #expect(directory.recipients(of: "chat/r", except: nil).nodes.isEmpty)

        directory.apply(.moved(Self.info, node: "c", rooms: ["chat/r", "chat/s"]))
        #expect(directory.location(of: Self.info.id) == .node("c"))
        #expect(directory.recipients(of: "chat/s", except: nil).nodes == ["c": 1])
        directory.apply(.moved(Self.info, node: "a", rooms: ["chat/r"]))  // taken over here
        #expect(directory.location(of: Self.info.id) == nil)
        #expect(directory.memberCount(of: "chat/r") == 0)

        directory.apply(.clientUp(Self.info, node: "b"))
        directory.apply(.joined(room: "chat/r", Self.info.id, node: "b"))
        directory.apply(.left(room: "chat/r", Self.info.id))
        #expect(directory.memberCount(of: "chat/r") == 0)
        directory.apply(.clientDown(Self.info.id))
        #expect(directory.location(of: Self.info.id) == nil)
    }

    @Test func directoryLoadReplacesEverything() {
        let directory = ClusterDirectory(localNode: "a")
        directory.apply(.clientUp(Self.info, node: "b"))
        let fresh = ClientInfo(id: ClientID("c3"), userId: nil, claims: [:], endpoint: "/ws", parameters: [:])
        directory.load(.init(
            clients: [(fresh, nil), (ClientInfo(id: ClientID("mine"), userId: nil, claims: [:], endpoint: "/ws", parameters: [:]), "a")],
            memberships: [("chat/r", fresh.id, nil), ("chat/r", ClientID("unknown"), "b"), ("chat/r", ClientID("mine"), "a")]
        ))
        #expect(directory.location(of: Self.info.id) == nil)
        #expect(directory.location(of: fresh.id) == .orphaned)
        #expect(directory.location(of: ClientID("mine")) == nil)
        #expect(directory.memberCount(of: "chat/r") == 1)
        #expect(directory.clientCount == 1)
    }

    @Test func eventsSurviveJSON() {
        let events: [ClusterDirectory.Event] = [
            .clientUp(Self.info, node: "b"), .clientDown(Self.info.id), .joined(room: "chat/r", Self.info.id, node: "b"),
            .left(room: "chat/r", Self.info.id), .moved(Self.info, node: "c", rooms: ["chat/r"]), .nodeDied("b"),
        ]
        for event in events {
            #expect(ClusterDirectory.Event(json: event.json) == event)
        }
        #expect(ClusterDirectory.Event(json: ["k": "up"]) == nil)
        #expect(ClusterDirectory.Event(json: ["k": "nonsense"]) == nil)
        #expect(ClusterChange.resumeToken(Self.info.id, "t").event(node: "a") == nil)
        #expect(ClusterChange.joined(room: "chat/r", Self.info.id).event(node: "a") == .joined(room: "chat/r", Self.info.id, node: "a"))
    }

    @Test func roomKeyClusterName() {
        let key = RoomKey(instance: "chat", name: "a/b")
        #expect(key.clusterName == "chat/a/b")
        #expect(RoomKey(clusterName: key.clusterName) == key)
        #expect(RoomKey(clusterName: "noslash") == nil)
    }

    // MARK: Settings

    @Test func clusterSettingsDecodeAndValidate() throws {
        let file = try RouteFile.decode(
            yaml: "cluster: {backend: postgres, nodeId: node_1, heartbeatInterval: 0.5, nodeTimeout: 2, linkPort: 7001}\n",
            file: "c.yaml",
            environment: [:],
            registry: BuiltinPlugins.registry
        )
        #expect(file.configuration.cluster.isEnabled)
        #expect(file.configuration.cluster.nodeId == "node_1")
        #expect(file.configuration.cluster.linkPort == 7001)
        #expect(file.configuration.cluster.exactResume)
        let inexact = try RouteFile.decode(yaml: "cluster: {backend: postgres, exactResume: false}\n", file: "c.yaml", environment: [:], registry: BuiltinPlugins.registry)
        #expect(!inexact.configuration.cluster.exactResume)
        #expect(file.configuration.store.backend == .postgres)

        let overridden = try RouteFile.decode(yaml: "cluster: {backend: postgres}\n", file: "c.yaml", environment: ["RELAY_CLUSTER_NODE_ID": "b"], registry: BuiltinPlugins.registry)
        #expect(overridden.configuration.cluster.nodeId == "b")

        for (yaml, path) in [
            ("cluster: {backend: redis}\n", "cluster.backend"),
            ("cluster: {backend: postgres, nodeId: 'bad id'}\n", "cluster.nodeId"),
            ("cluster: {backend: postgres, heartbeatInterval: 1, nodeTimeout: 1}\n", "cluster.nodeTimeout"),
            ("cluster: {backend: postgres}\nstore: {path: x.sqlite}\n", "store"),
            ("store: {backend: sqlite}\n", "store.backend"),
            ("cluster: {backend: postgres, linkPort: 70000}\n", "cluster.linkPort"),
            ("cluster: {backend: postgres, exactResume: sometimes}\n", "cluster.exactResume"),
        ] {
            do {
                _ = try RouteFile.decode(yaml: yaml, file: "c.yaml", environment: [:], registry: BuiltinPlugins.registry)
                Issue.record("\(yaml) decoded")
            } catch {
                #expect(error.issues.contains { $0.path == path }, "\(yaml): \(error.issues)")
            }
        }
    }
}
