/// `cluster:` — whether this process is one node of a cluster, and how nodes watch each other.
public struct ClusterSettings: Sendable, Equatable {
    /// The distributed engine.
    public enum Backend: String, Sendable, Equatable, CaseIterable {
        /// One process on its own (the embedded default).
        case none
        /// Nodes share state and deliver to each other through PostgreSQL (`RELAY_DATABASE_URL`).
        case postgres
    }

    /// `none` (default) or `postgres`.
    public var backend = Backend.none
    /// This node's name in the cluster (letters, digits, `_`); a random one when absent.
    public var nodeId: String?
    /// Seconds between this node's heartbeat writes.
    public var heartbeatInterval = 1.0
    /// Seconds without a heartbeat after which the other nodes treat a node as dead.
    public var nodeTimeout = 5.0
    /// Cross-node messages waiting to be written to the database before sends fail.
    public var outboundQueue = 10_000
    /// The address this node listens on for media links from other nodes (and advertises).
    public var linkHost = "127.0.0.1"
    /// The media link port; 0 picks a free one.
    public var linkPort = 0
    /// Whether a client whose node crashed resumes exactly on another node: frames to a client
    /// wait for its journal record (one commit). `false`: frames go out at once, and such a
    /// resume answers `resumed: false` (a resume while the client's node lives is exact either way).
    public var exactResume = true

    /// The defaults (no cluster).
    public init() {}

    /// Whether the process is a cluster node.
    public var isEnabled: Bool { self.backend != .none }
}

extension ClusterSettings: Decodable {
    enum Keys: String, CodingKey, CaseIterable { case backend, nodeId, heartbeatInterval, nodeTimeout, outboundQueue, linkHost, linkPort, exactResume }

    public init(from decoder: any Decoder) throws {
        let fields = ConfigFields(decoder, keys: Keys.self)
        let backend: String = fields.value(.backend, default: self.backend.rawValue)
        if let known = Backend(rawValue: backend) {
            self.backend = known
        } else {
            fields.invalid(.backend, "must be none or postgres")
        }
        self.nodeId = fields.optional(.nodeId)
        self.heartbeatInterval = fields.value(.heartbeatInterval, default: self.heartbeatInterval)
        self.nodeTimeout = fields.value(.nodeTimeout, default: self.nodeTimeout)
        self.outboundQueue = fields.value(.outboundQueue, default: self.outboundQueue)
        self.linkHost = fields.value(.linkHost, default: self.linkHost)
        self.linkPort = fields.value(.linkPort, default: self.linkPort)
        self.exactResume = fields.value(.exactResume, default: self.exactResume)
        if self.linkHost.isEmpty { fields.invalid(.linkHost, "must not be empty") }
        if !(0...65535).contains(self.linkPort) { fields.invalid(.linkPort, "must be 0...65535") }
        if let nodeId, !Self.isValidNodeID(nodeId) {
            fields.invalid(.nodeId, "must be 1-40 letters, digits or '_'")
        }
        if self.heartbeatInterval <= 0 { fields.invalid(.heartbeatInterval, "must be positive") }
        if self.nodeTimeout < 2 * self.heartbeatInterval { fields.invalid(.nodeTimeout, "must be at least twice heartbeatInterval") }
        if self.outboundQueue < 1 { fields.invalid(.outboundQueue, "must be at least 1") }
        try fields.finish()
    }

    /// Node ids become part of LISTEN channel names, so they are plain identifiers.
    public static func isValidNodeID(_ id: String) -> Bool {
        (1...40).contains(id.utf8.count) && id.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F }
    }
}
