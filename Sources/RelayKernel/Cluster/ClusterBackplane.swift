package import NIOCore

/// How relay nodes reach each other: the kernel's side of a cluster.
///
/// The kernel keeps every delivery local when it can and hands the backplane only what must
/// cross nodes: envelopes for clients and rooms elsewhere, and changes to this node's clients
/// and memberships (so the other nodes' ``ClusterDirectory`` replicas stay current). Nothing
/// here waits on the database: ``submit(_:)`` queues or refuses at once.
package protocol ClusterBackplane: Sendable {
    /// This node's id.
    var nodeID: String { get }

    /// The other nodes' clients and room memberships, as last heard.
    var directory: ClusterDirectory { get }

    /// Whether cross-node delivery works right now (database reachable, listening).
    var isReady: Bool { get }

    /// Connects, listens and keeps this node registered until cancelled; hands what arrives for
    /// this node to `node`. Reconnects with backoff on its own.
    func run(node: ClusterNode) async throws

    /// Queues an envelope or a change, in order after everything submitted before it; `false`
    /// when the backplane is down or its queue is full (the caller counts and reports it).
    func submit(_ item: ClusterOutgoing) -> Bool

    /// Returns once everything submitted before the call is written (or has failed), so that
    /// what a client is told next is already visible to every node.
    func flush() async

    /// What the database says of a client this node's directory does not know (yet).
    func lookup(_ id: ClientID) async throws -> ClientInfo?

    /// Takes over the identity holding `request.resumeToken` for this node, if the token names
    /// a client that is on another node or whose node died; `nil` when it names none.
    /// `prepare` runs just before the takeover commits, so the client is registered here before
    /// any node can address it here (if the commit then fails, the caller unregisters it).
    func claim(_ request: ClusterClaim.Request, prepare: @escaping @Sendable (ClusterClaim) -> Void) async throws -> ClusterClaim?

    /// The nodes heartbeating now, this one included (the server API asks each of them).
    func liveNodes() async throws -> [String]

    /// Ends the identities of selected clients whose node died (they could still resume
    /// elsewhere): their rows, rooms and waiting messages go, every node hears they are down.
    /// Returns them with their rooms, so their plugins hear they left.
    func endOrphans(_ selector: ClientSelector) async throws -> [(info: ClientInfo, rooms: [String])]
}

/// One item for the backplane's ordered outbound stream.
package enum ClusterOutgoing: Sendable {
    /// An envelope for whichever node holds `client` (or waiting for it if it is between nodes).
    case toClient(ClientID, ByteBuffer, origin: ClusterOrigin? = nil)
    /// An envelope for one node (`room` names the room it is for, if any).
    case toNode(String, room: String?, ByteBuffer, origin: ClusterOrigin? = nil)
    /// A change to this node's clients and memberships.
    case change(ClusterChange)
    /// Media (a `drop-oldest` message) for one node: sent straight to it, never through the
    /// database, and dropped rather than queued when the way there is busy.
    case media(node: String, ByteBuffer)
}

/// Who sent a cross-node message: told with an `unavailable` error if it cannot be written.
package struct ClusterOrigin: Sendable, Hashable {
    /// The sending client (on this node).
    package var client: ClientID
    /// The type of the message whose handling sent it.
    package var ref: String

    /// Creates an origin.
    package init(client: ClientID, ref: String) {
        self.client = client
        self.ref = ref
    }
}

/// A change to the clients and room memberships a node holds.
package enum ClusterChange: Sendable, Equatable {
    /// A client identity now lives on this node (with its current resume token).
    case clientUp(ClientInfo, resumeToken: String)
    /// A client's resume token changed (after a resume).
    case resumeToken(ClientID, String)
    /// A client left for good.
    case clientDown(ClientID)
    /// A client joined a room (`room` is ``RoomKey/clusterName``).
    case joined(room: String, ClientID)
    /// A client left a room.
    case left(room: String, ClientID)
}

/// The result of ``ClusterBackplane/claim(_:)``.
package struct ClusterClaim: Sendable {
    /// What the claiming node knows of the resuming client.
    package struct Request: Sendable {
        /// The resume token the client presented.
        package var resumeToken: String
        /// The authenticated user of the new connection (must match the identity's).
        package var userId: String?
        /// The endpoint of the new connection (must match the identity's).
        package var endpoint: String
        /// The Socket.IO namespace asked for (must match the identity's; `nil` for `json`).
        package var namespace: String?

        /// Creates a request.
        package init(resumeToken: String, userId: String?, endpoint: String, namespace: String? = nil) {
            self.resumeToken = resumeToken
            self.userId = userId
            self.endpoint = endpoint
            self.namespace = namespace
        }
    }

    /// The client identity taken over.
    package var info: ClientInfo
    /// Its rooms (``RoomKey/clusterName``), now held by this node.
    package var rooms: [String]
    /// The live node that held it and must hand its queue over, or `nil` when that node is dead.
    package var previousNode: String?
    /// Envelopes that were waiting for the client while it had no live node, oldest first.
    package var waiting: [ByteBuffer]

    /// Creates a claim.
    package init(info: ClientInfo, rooms: [String], previousNode: String?, waiting: [ByteBuffer]) {
        self.info = info
        self.rooms = rooms
        self.previousNode = previousNode
        self.waiting = waiting
    }
}

extension RoomKey {
    /// The room's name across the cluster: `instance/name`.
    package var clusterName: String { self.instance + "/" + self.name }

    /// Parses ``clusterName``.
    package init?(clusterName: String) {
        guard let slash = clusterName.firstIndex(of: "/") else { return nil }
        self.init(instance: String(clusterName[..<slash]), name: String(clusterName[clusterName.index(after: slash)...]))
    }
}
