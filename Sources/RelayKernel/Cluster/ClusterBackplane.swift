package import NIOCore

/// How relay nodes reach each other: the kernel's side of a cluster.
///
/// The kernel keeps every delivery local when it can and hands the backplane only what must
/// cross nodes: envelopes for clients and rooms elsewhere, and changes to this node's clients
/// and memberships (so the other nodes' ``ClusterDirectory`` replicas stay current). Nothing
/// here waits on the database: ``submit(_:)`` queues or refuses at once.
package protocol ClusterBackplane: Sendable {
    /// This node process's id (its inbox: a new process of the same node gets a new one).
    var nodeID: String { get }

    /// The node's configured id (``ClusterSettings/nodeId``), the same for each of its processes.
    var nodeName: String { get }

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
    /// A node that holds the client but cannot be reached (its media link refuses connections,
    /// or it answers neither its heartbeat nor a probe) does not keep the client waiting: the
    /// claim then resumes it from the database (``ClusterClaim/previousNode`` is `nil`).
    func claim(_ request: ClusterClaim.Request, prepare: @escaping @Sendable (ClusterClaim) -> Void) async throws -> ClusterClaim?

    /// The rows a resume from the journal replays: those of `tail` (in that order), then those
    /// of `ranges` that were for `client`'s node, in inbox order; `nil` when some of them are no
    /// longer kept (the resume must then answer `resumed: false`).
    func rows(tail: [ClusterFrameRef], ranges: [ClientJournal.Range], client: ClientID) async throws -> [ClusterRow]?

    /// The node processes heartbeating now (their ids, as ``nodeID``), this one included: the
    /// server API asks each of them.
    func liveNodes() async throws -> [String]

    /// Ends the identities of selected clients whose node died (they could still resume
    /// elsewhere): their rows, rooms and waiting messages go, every node hears they are down.
    /// Returns them with their rooms, so their plugins hear they left.
    func endOrphans(_ selector: ClientSelector) async throws -> [(info: ClientInfo, rooms: [String])]
}

/// A row read back from a node's inbox.
package struct ClusterRow: Sendable {
    /// Where it is.
    package var ref: ClusterFrameRef
    /// The room it was for, if it was a room row.
    package var room: String?
    /// The envelope.
    package var envelope: ByteBuffer

    /// Creates a row.
    package init(ref: ClusterFrameRef, room: String?, envelope: ByteBuffer) {
        self.ref = ref
        self.room = room
        self.envelope = envelope
    }
}

/// One item for the backplane's ordered outbound stream.
package enum ClusterOutgoing: Sendable {
    /// An envelope for whichever node holds `client` (the database looks it up when it writes
    /// the row, so the row follows a client that just moved).
    case toClient(ClientID, ByteBuffer, origin: ClusterOrigin? = nil)
    /// An envelope for the members of a room on other nodes (and on this one with
    /// `includingThisNode`): one row per node with members, found by the database when it
    /// writes them. `arrivals` is this node's arrival count when it fanned the message out here
    /// (``ClusterNode/arrivalCopies(of:room:after:)``).
    case toRoom(String, ByteBuffer, origin: ClusterOrigin? = nil, includingThisNode: Bool = false, arrivals: Int64 = 0)
    /// An envelope for one node process (hand-overs, answers to forwarded requests).
    case toNode(String, ByteBuffer)
    /// An envelope for the live process of the node named so (``ClusterBackplane/nodeName``):
    /// a long-polling request, whose `sid` names the node holding its session.
    case toNodeNamed(String, ByteBuffer)
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
    /// A client identity now lives on this node (with its current resume token and journal).
    case clientUp(ClientInfo, resumeToken: String, journal: ClientJournal?)
    /// A client's resume token changed (after a resume).
    case resumeToken(ClientID, String)
    /// A client left for good.
    case clientDown(ClientID)
    /// A client joined a room (`room` is ``RoomKey/clusterName``).
    case joined(room: String, ClientID)
    /// A client left a room.
    case left(room: String, ClientID)

    /// `session` lives on this node, as it is now.
    static func clientUp(_ session: ClientSession) -> ClusterChange {
        .clientUp(session.info, resumeToken: session.resumeToken, journal: session.journal)
    }
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
    /// The live node that held it and must hand its queue over, or `nil` when that node is dead
    /// or unreachable (the client is resumed from ``journal``).
    package var previousNode: String?
    /// The client's journal, now this node's (`nil` when the database has none that can be
    /// read: the client can then only start afresh).
    package var journal: ClientJournal?

    /// Creates a claim.
    package init(info: ClientInfo, rooms: [String], previousNode: String?, journal: ClientJournal?) {
        self.info = info
        self.rooms = rooms
        self.previousNode = previousNode
        self.journal = journal
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
