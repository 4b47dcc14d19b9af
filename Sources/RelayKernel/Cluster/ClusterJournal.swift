package import NIOCore
import Synchronization

/// This node's side of the client journals (``ClientJournal``): which sessions have frames
/// waiting for a journal record, and whether records are being written at all.
///
/// While the backplane is connected, a frame for a cluster client is written to its socket only
/// once a record covering it is in the database (the backplane's writer writes the records of
/// every session that asked, in its next batch). While the backplane is down, frames go out at
/// once and their positions are recorded when it is back; a client that resumes elsewhere from
/// a record that does not cover what it saw is told `resumed: false`.
package final class ClusterJournal: Sendable {
    /// One session's record, ready to be written.
    package struct Record: Sendable {
        /// The client.
        package let client: ClientID
        /// The last position the record covers.
        package let position: Int
        /// The first row of this node's inbox the client may still need.
        package let retain: Int64?
        /// The encoded ``ClientJournal``.
        package let state: ByteBuffer
        let session: ClientSession
    }

    private final class Shard: Sendable {
        let waiting = Mutex<[ClientSession]>([])
    }

    /// The writer's wake-up. (A bare closure kept in the `Mutex` would be re-wrapped in two
    /// reabstraction thunks on every `withLock`, so each call would get slower than the last.)
    private struct Waker: Sendable {
        let wake: @Sendable () -> Void
    }

    /// This node's inbox.
    package let inbox: String
    private let shards: [Shard]
    private let active = Atomic<Bool>(false)
    private let waker = Mutex<Waker?>(nil)

    /// Creates the journal of the node whose inbox is `inbox`.
    init(inbox: String, shardCount: Int = 16) {
        self.inbox = inbox
        self.shards = (0..<shardCount).map { _ in Shard() }
    }

    /// Whether frames wait for their record (the backplane is connected).
    var isActive: Bool { self.active.load(ordering: .relaxed) }

    /// Calls `wake` whenever a session starts waiting for a record (the backplane's writer).
    package func onPending(_ wake: @escaping @Sendable () -> Void) {
        self.waker.withLock { $0 = Waker(wake: wake) }
    }

    /// `session` needs a record (called once until its next record is taken).
    func needsRecord(_ session: ClientSession) {
        let shard = Int(UInt(bitPattern: session.id.hashValue) % UInt(self.shards.count))
        self.shards[shard].waiting.withLock { $0.append(session) }
        self.waker.withLock { $0 }?.wake()
    }

    /// The records of every session that asked for one since the last call; `frontier` is the
    /// last row of this node's inbox delivered (read before the sessions are staged).
    package func takeRecords(frontier: Int64) -> [Record] {
        var sessions: [ClientSession] = []
        for shard in self.shards {
            shard.waiting.withLock { waiting in
                sessions.append(contentsOf: waiting)
                waiting.removeAll(keepingCapacity: true)
            }
        }
        return sessions.compactMap { session in
            guard let journal = session.stageJournal(passing: self.inbox, through: frontier) else { return nil }
            return Record(client: session.id, position: journal.position, retain: journal.retain(in: self.inbox), state: journal.encoded, session: session)
        }
    }

    /// The records were written: their frames may go out.
    package func written(_ records: [Record]) {
        for record in records { record.session.journalWritten(through: record.position) }
    }

    /// Starts holding frames until their records are written; every session's record is
    /// written anew (positions given out while the backplane was down included).
    func activate(_ sessions: [ClientSession]) {
        self.active.store(true, ordering: .relaxed)
        for session in sessions { session.requestJournal() }
    }

    /// The backplane is down: frames go out without records (and the sessions waiting for
    /// one are woken).
    func suspend(_ sessions: [ClientSession]) {
        self.active.store(false, ordering: .relaxed)
        for session in sessions { session.journalSuspended() }
    }
}
