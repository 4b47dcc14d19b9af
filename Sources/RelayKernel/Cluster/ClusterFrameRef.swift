/// Where a message that crossed the cluster is kept: its row in a node's inbox.
///
/// Every node process has an inbox (its incarnation id), and the rows in it are numbered in
/// the order they were committed. The rows stay in the database until the clients they were
/// for have passed them (see ``ClientJournal``), so a node that takes a client over after its
/// node died can read them again.
package struct ClusterFrameRef: Sendable, Hashable {
    /// The inbox (node incarnation) the row was written to.
    package var inbox: String
    /// The row's number in that inbox.
    package var seq: Int64

    /// Creates a reference.
    package init(inbox: String, seq: Int64) {
        self.inbox = inbox
        self.seq = seq
    }
}
