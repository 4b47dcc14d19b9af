import Metrics
import NIOCore

/// One message waiting in a client's queue or kept in its replay log.
struct QueuedFrame: Sendable {
    /// The shared encoded message.
    let message: OutboundMessage
    /// Position in the client's stream once handed to a writer; replayed frames keep theirs.
    var sequence: Int?
    /// Whether the `drop-oldest` policy may discard it.
    let droppable: Bool
    /// When it was queued (for the delivery latency histogram).
    let enqueuedAt: NIODeadline
    /// Counts it as delivered for its route and plugin.
    let deliveredCounter: Counter?
    /// Its row in the cluster, when it came through the database (see ``ClientJournal``).
    var ref: ClusterFrameRef? = nil
}
