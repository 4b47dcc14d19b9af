import DequeModule
import Metrics
import NIOCore
import Synchronization

/// One client identity across connections: its outbound queue, its replay log for resume,
/// its rooms, and the connection it is attached to (if any).
///
/// Every delivery to the client takes only this session's lock; nothing on the delivery path
/// is process-wide. In a cluster the session also keeps its ``ClientJournal``: while the
/// backplane is connected, frames are numbered when their journal record is taken
/// (``stageJournal()``) and reach the writer only once that record is written.
final class ClientSession: Sendable {
    /// What happened to a message handed to ``enqueue(_:policy:counter:)``.
    enum EnqueueResult: Equatable {
        case queued
        /// The queue was full; the oldest droppable message (or this one) was dropped.
        case dropped
        /// The queue was full under the `close` policy: the connection must close with 1013.
        case overflowClose
        /// The client has left for good.
        case gone
        /// Sent the way of the cluster instead (see ``startDiverting()``).
        case diverted
    }

    enum PopResult {
        case frame(QueuedFrame)
        case empty
        case superseded
    }

    enum Phase: Equatable {
        case attached
        case detached
        case gone
    }

    struct Bounds: Sendable {
        var queueMessages: Int
        var queueBytes: Int
        var replayMessages: Int
    }

    private struct State {
        var phase = Phase.attached
        var generation = 0
        var connection: (any SessionConnection)?
        var pending = Deque<QueuedFrame>()
        var pendingBytes = 0
        var replay = Deque<QueuedFrame>()
        var replayBytes = 0
        var lastSequence = 0
        var lost = false
        var rooms = Set<RoomKey>()
        var resumeToken: String
        /// While positive, the writer waits (cluster changes are being made visible).
        var held = 0
        /// Messages (and the fence) sent to this client through the cluster and not yet back.
        var diverted = 0
        /// The cluster's record of this client's stream (`nil` outside a cluster).
        var journal: ClientJournal?
        /// The last position whose journal record is in the database.
        var journaled = 0
        /// The highest position handed to a writer.
        var written = 0
        /// Waiting in the cluster journal for its next record to be taken.
        var awaitingRecord = false
        /// Taken over from another node and waiting for what it missed (``restore(_:lastSequence:)``):
        /// nothing is numbered before that goes in front.
        var restoring = false
        /// Taken over by another node (its journal record was refused here): nothing more is
        /// numbered or written until it is handed over or ends.
        var takenElsewhere = false
    }

    let id: ClientID
    let bounds: Bounds
    /// This node's client journals, in a cluster.
    let cluster: ClusterJournal?
    private let state: Mutex<State>
    /// Who the client is; a token refresh replaces its claims.
    private let identity: Mutex<ClientInfo>

    /// A session attached to `connection`; in a cluster with its `journal` (one taken over from
    /// another node is `restoring` until what it missed is restored).
    init(
        info: ClientInfo,
        bounds: Bounds,
        connection: any SessionConnection,
        resumeToken: String,
        cluster: ClusterJournal? = nil,
        journal: ClientJournal? = nil,
        restoring: Bool = false
    ) {
        self.id = info.id
        self.identity = Mutex(info)
        self.bounds = bounds
        self.cluster = journal == nil ? nil : cluster
        var state = State(connection: connection, resumeToken: resumeToken)
        state.restoring = restoring
        state.journal = journal
        state.journaled = journal?.position ?? 0
        state.lastSequence = journal?.position ?? 0
        state.written = state.lastSequence
        self.state = Mutex(state)
    }

    /// What plugins know about the client.
    var info: ClientInfo { self.identity.withLock { $0 } }

    /// Replaces the client's claims with those of a refreshed token (of the same user).
    func replaceClaims(_ claims: [String: JSONValue]) {
        self.identity.withLock { $0 = $0.replacingClaims(claims) }
    }

    var phase: Phase { self.state.withLock { $0.phase } }

    var generation: Int { self.state.withLock { $0.generation } }

    var rooms: Set<RoomKey> { self.state.withLock { $0.rooms } }

    var resumeToken: String { self.state.withLock { $0.resumeToken } }

    /// Queues `message`; never waits on the peer.
    func enqueue(
        _ message: OutboundMessage,
        policy: RouteSettings.OverflowPolicy,
        counter: Counter?,
        at instant: NIODeadline = .now(),
        divertible: Bool = true,
        ref: ClusterFrameRef? = nil
    ) -> EnqueueResult {
        let frame = QueuedFrame(
            message: message,
            sequence: nil,
            droppable: policy == .dropOldest,
            enqueuedAt: instant,
            deliveredCounter: counter,
            ref: ref
        )
        let size = message.size
        var record = false
        let (result, connection) = self.state.withLock { state -> (EnqueueResult, (any SessionConnection)?) in
            // A frame was queued (or the queue lost): in a cluster it waits for a journal record.
            var changed = false
            defer { record = changed && self.asksForRecord(&state) }
            if state.phase == .gone { return (.gone, nil) }
            if divertible, state.diverted > 0 {
                state.diverted += 1
                return (.diverted, nil)
            }
            let attached = state.phase == .attached
            let full = state.pending.count >= self.bounds.queueMessages || state.pendingBytes + size > self.bounds.queueBytes
            if full {
                switch policy {
                case .dropOldest:
                    // Evict the oldest droppable messages until the new one fits, or drop the new one.
                    while state.pending.count >= self.bounds.queueMessages || state.pendingBytes + size > self.bounds.queueBytes {
                        guard let index = state.pending.firstIndex(where: { $0.droppable && $0.sequence == nil }) else {
                            return (.dropped, nil)
                        }
                        let removed = state.pending.remove(at: index)
                        state.pendingBytes -= removed.message.size
                    }
                    state.pending.append(frame)
                    changed = true
                    state.pendingBytes += size
                    return (.dropped, attached ? state.connection : nil)
                case .close:
                    // Make room by dropping queued media first; only control messages close the client.
                    if let index = state.pending.firstIndex(where: { $0.droppable && $0.sequence == nil }) {
                        let removed = state.pending.remove(at: index)
                        state.pendingBytes -= removed.message.size
                        state.pending.append(frame)
                        changed = true
                        state.pendingBytes += size
                        return (.dropped, attached ? state.connection : nil)
                    }
                    // Keep the message so the client finds it when it resumes, up to twice the bounds.
                    if state.pending.count >= 2 * self.bounds.queueMessages || state.pendingBytes + size > 2 * self.bounds.queueBytes {
                        state.lost = true
                        state.journal?.lost = true
                        changed = true
                        state.pending.removeAll()
                        state.pendingBytes = 0
                        return (.overflowClose, attached ? state.connection : nil)
                    }
                    state.pending.append(frame)
                    changed = true
                    state.pendingBytes += size
                    return (.overflowClose, attached ? state.connection : nil)
                }
            }
            state.pending.append(frame)
            changed = true
            state.pendingBytes += size
            return (.queued, attached ? state.connection : nil)
        }
        if record { self.cluster?.needsRecord(self) }
        if result == .overflowClose {
            connection?.requestClose(CloseReason(.tryAgainLater, "slow consumer"))
        } else if !(self.cluster?.isActive ?? false) {
            // (A frame waiting for its journal record is written when the record is.)
            connection?.wake()
        }
        return result
    }

    /// Whether the session, which has something new to record, must now ask the cluster
    /// journal for a record (frames wait for one); at most one request is outstanding.
    private func asksForRecord(_ state: inout State) -> Bool {
        guard let cluster = self.cluster, cluster.isActive, !state.awaitingRecord, state.phase != .gone else { return false }
        state.awaitingRecord = true
        return true
    }

    /// Gives the next waiting frame its position (and logs it for replay and in the journal).
    private func number(_ state: inout State, at index: Int) {
        state.lastSequence += 1
        state.pending[index].sequence = state.lastSequence
        let frame = state.pending[index]
        state.journal?.append(frame.ref)
        guard self.bounds.replayMessages > 0 else { return }
        state.replay.append(frame)
        state.replayBytes += frame.message.size
        while state.replay.count > self.bounds.replayMessages || state.replayBytes > self.bounds.queueBytes,
            let dropped = state.replay.popFirst()
        {
            state.replayBytes -= dropped.message.size
        }
    }

    /// The next frame for the writer of attachment `generation`, numbered and logged for replay.
    /// In a cluster whose backplane is connected, only frames whose journal record is written.
    func popForWriter(generation: Int) -> PopResult {
        var record = false
        let result = self.state.withLock { state -> PopResult in
            guard state.generation == generation, state.phase == .attached else { return .superseded }
            guard state.held == 0, !state.takenElsewhere, let head = state.pending.first else { return .empty }
            let journaling = self.cluster?.isActive ?? false
            if head.sequence == nil {
                if journaling {
                    record = self.asksForRecord(&state)
                    return .empty
                }
                self.number(&state, at: state.pending.startIndex)
            } else if journaling, let sequence = head.sequence, sequence > state.journaled {
                return .empty
            }
            let frame = state.pending.removeFirst()
            state.pendingBytes -= frame.message.size
            state.written = max(state.written, frame.sequence ?? 0)
            return .frame(frame)
        }
        if record { self.cluster?.needsRecord(self) }
        return result
    }

    // MARK: Journal

    /// Numbers every waiting frame and returns the journal to record (`nil` once gone). Every
    /// row of `inbox` up to `frontier` was queued for this client already if it was for it: the
    /// journal passes them.
    func stageJournal(passing inbox: String, through frontier: Int64) -> ClientJournal? {
        self.state.withLock { state -> ClientJournal? in
            state.awaitingRecord = false
            guard state.phase != .gone, !state.restoring, !state.takenElsewhere, state.journal != nil else { return nil }
            for index in state.pending.indices where state.pending[index].sequence == nil {
                self.number(&state, at: index)
            }
            state.journal?.passed(inbox, through: frontier)
            state.journal?.compact()
            return state.journal
        }
    }

    /// The record up to `position` is in the database: those frames may be written.
    func journalWritten(through position: Int) {
        let connection = self.state.withLock { state -> (any SessionConnection)? in
            state.journaled = max(state.journaled, position)
            guard state.phase == .attached, state.held == 0, let head = state.pending.first?.sequence, head <= state.journaled else { return nil }
            return state.connection
        }
        connection?.wake()
    }

    /// Another node took the client over: its journal is no longer this node's to write, so
    /// nothing more goes out here. `false` if it was already so (or gone).
    func takenElsewhere() -> Bool {
        self.state.withLock { state in
            guard state.phase != .gone, !state.takenElsewhere else { return false }
            state.takenElsewhere = true
            return true
        }
    }

    /// Asks for a record of the session's journal as it is (after the backplane reconnected).
    func requestJournal() {
        let record = self.state.withLock { state -> Bool in
            guard self.cluster != nil, state.phase != .gone, !state.takenElsewhere, !state.awaitingRecord else { return false }
            state.awaitingRecord = true
            return true
        }
        if record { self.cluster?.needsRecord(self) }
    }

    /// The backplane went down: frames go out without records from now on.
    func journalSuspended() {
        let connection = self.state.withLock { state -> (any SessionConnection)? in
            state.awaitingRecord = false
            return state.phase == .attached && !state.pending.isEmpty ? state.connection : nil
        }
        connection?.wake()
    }

    /// Whether frames wait for a journal record (to be taken or written).
    var awaitsJournal: Bool {
        self.state.withLock { state in
            guard let journal = state.journal, state.phase != .gone, !state.takenElsewhere else { return false }
            return journal.position > state.journaled || state.pending.contains { $0.sequence == nil }
        }
    }

    /// The client's journal as it is now (what a record would say).
    var journal: ClientJournal? { self.state.withLock { $0.journal } }

    /// Records that the client joined `room`: rows of `inbox` for it after `after` are its own.
    func journalJoined(_ room: RoomKey, inbox: String, after: Int64) {
        self.state.withLock { $0.journal?.joined(room.clusterName, inbox: inbox, after: after) }
    }

    /// Records that the client left `room`: rows of `inbox` for it after `until` are not.
    func journalLeft(_ room: RoomKey, inbox: String, until: Int64) {
        self.state.withLock { $0.journal?.left(room.clusterName, inbox: inbox, until: until) }
    }

    /// The connection dropped: keep queueing until the client resumes or the grace ends.
    /// Returns the generation to check when the grace ends, or `nil` if `connection` was not attached.
    func detach(from connection: any SessionConnection) -> Int? {
        self.state.withLock { state in
            guard state.phase == .attached, state.connection === connection else { return nil }
            state.phase = .detached
            state.connection = nil
            return state.generation
        }
    }

    /// The highest position handed to a writer: what the client has been sent, or is about to be.
    var writtenPosition: Int { self.state.withLock { $0.written } }

    /// Whether the session is still detached from the drop numbered `generation`.
    func isStillDetached(generation: Int) -> Bool {
        self.state.withLock { $0.phase == .detached && $0.generation == generation }
    }

    /// Resumes on `connection` after the client saw `lastSeen` messages: puts the unseen part of the
    /// replay log in front of the queue. Returns how many missed messages follow (replayed and
    /// queued while away), the new generation and the connection it was attached to, or
    /// `nil` when the gap can no longer be filled (the client then gets a fresh identity).
    func resume(on connection: any SessionConnection, lastSeen: Int, newToken: String) -> (replayed: Int, generation: Int, previous: (any SessionConnection)?)? {
        self.state.withLock { state in
            guard state.phase != .gone, !state.lost, lastSeen >= 0, lastSeen <= state.lastSequence else { return nil }
            let missed = state.replay.filter { $0.sequence! > lastSeen }
            if lastSeen < state.lastSequence, missed.first?.sequence != lastSeen + 1 { return nil }
            // Frames put back by an earlier resume are in the replay log too.
            state.pending.removeAll { $0.sequence != nil }
            state.pendingBytes = state.pending.reduce(0) { $0 + $1.message.size }
            for frame in missed.reversed() {
                state.pending.prepend(frame)
                state.pendingBytes += frame.message.size
            }
            let previous = state.connection
            state.phase = .attached
            state.generation += 1
            state.connection = connection
            state.resumeToken = newToken
            return (state.pending.count, state.generation, previous)
        }
    }

    /// Moves the session to `connection` (its client changed transport) with its queue as it is;
    /// returns the new attachment's generation, or `nil` if the client is gone.
    func transfer(to connection: any SessionConnection) -> Int? {
        self.state.withLock { state in
            guard state.phase != .gone else { return nil }
            state.phase = .attached
            state.generation += 1
            state.connection = connection
            return state.generation
        }
    }

    /// The client's identity moves to another node: ends the session here (as ``markGone()``)
    /// and returns what the client has not seen after `lastSeen`: the unseen part of the replay
    /// log, then the queue, with the last sequence number given out. `nil` if already gone.
    func handOver(after lastSeen: Int) -> (frames: [QueuedFrame], lastSequence: Int, rooms: Set<RoomKey>, connection: (any SessionConnection)?)? {
        self.state.withLock { state -> (frames: [QueuedFrame], lastSequence: Int, rooms: Set<RoomKey>, connection: (any SessionConnection)?)? in
            guard state.phase != .gone else { return nil }
            let result = (Self.unseen(state, after: lastSeen, keeping: .max), state.lastSequence, state.rooms, state.connection)
            Self.end(&state)
            return result
        }
    }

    /// The client was taken over by another node that resumed it from the database: ends the
    /// session here and returns the frames that never crossed the database and that the client
    /// has not been written (the new node cannot know them; they follow the client there).
    func movedAway() -> (frames: [QueuedFrame], rooms: Set<RoomKey>, connection: (any SessionConnection)?)? {
        self.state.withLock { state -> (frames: [QueuedFrame], rooms: Set<RoomKey>, connection: (any SessionConnection)?)? in
            guard state.phase != .gone else { return nil }
            let kept = max(state.journaled, state.written)
            let unseen = Self.unseen(state, after: kept, keeping: kept).filter { $0.ref == nil }
            let result = (unseen, state.rooms, state.connection)
            Self.end(&state)
            return result
        }
    }

    /// What follows position `lastSeen`: the replay log, then what waits in the queue; frames
    /// numbered past `kept` (the client cannot have seen them) lose their numbers.
    private static func unseen(_ state: State, after lastSeen: Int, keeping kept: Int) -> [QueuedFrame] {
        var frames: [QueuedFrame] = []
        var covered = lastSeen
        for frame in state.replay {
            guard let sequence = frame.sequence, sequence > lastSeen else { continue }
            frames.append(Self.renumbered(frame, keeping: kept))
            covered = max(covered, sequence)
        }
        for frame in state.pending where (frame.sequence ?? Int.max) > covered {
            frames.append(Self.renumbered(frame, keeping: kept))
        }
        return frames
    }

    private static func renumbered(_ frame: QueuedFrame, keeping kept: Int) -> QueuedFrame {
        guard let sequence = frame.sequence, sequence > kept else { return frame }
        var unnumbered = frame
        unnumbered.sequence = nil
        return unnumbered
    }

    private static func end(_ state: inout State) {
        state.phase = .gone
        state.connection = nil
        state.pending.removeAll()
        state.replay.removeAll()
        state.pendingBytes = 0
        state.replayBytes = 0
        state.rooms.removeAll()
        state.awaitingRecord = false
    }

    /// Puts frames handed over by another node (or read back from the database) in front of
    /// the queue; numbered frames go back into the replay log (and, past the journal's
    /// position, into the journal). Sequence numbers continue after `lastSequence`.
    func restore(_ frames: [QueuedFrame], lastSequence: Int) {
        var record = false
        self.state.withLock { state in
            state.restoring = false
            state.lastSequence = max(state.lastSequence, lastSequence)
            state.written = max(state.written, frames.compactMap(\.sequence).max() ?? 0)
            for frame in frames {
                guard let sequence = frame.sequence else { continue }
                state.replay.append(frame)
                state.replayBytes += frame.message.size
                // Positions the journal does not know yet (those the client saw are unknown to it).
                while let position = state.journal?.position, position < sequence - 1 { state.journal?.append(nil) }
                if let position = state.journal?.position, sequence > position { state.journal?.append(frame.ref) }
            }
            while let position = state.journal?.position, position < state.lastSequence { state.journal?.append(nil) }
            for frame in frames.reversed() {
                state.pending.prepend(frame)
                state.pendingBytes += frame.message.size
            }
            let unrecorded = (state.journal?.position ?? 0) > state.journaled
            if unrecorded, self.cluster?.isActive == true, !state.awaitingRecord {
                state.awaitingRecord = true
                record = true
            } else {
                record = self.asksForRecord(&state)
            }
        }
        if record { self.cluster?.needsRecord(self) }
    }

    /// For a client just taken over from another node: messages sent to it from this node take
    /// the cluster's way (behind those sent before the takeover, still on their way) until
    /// the fence and all of them are back; only then do local sends go straight to the queue.
    func startDiverting() {
        self.state.withLock { $0.diverted = 1 }
    }

    /// A diverted message (or the fence) came back, or could not be sent.
    func divertedArrived() {
        self.state.withLock { $0.diverted = max(0, $0.diverted - 1) }
    }

    /// Keeps the writer from taking frames until ``release()``.
    func hold() {
        self.state.withLock { $0.held += 1 }
    }

    /// Ends a ``hold()``; wakes the writer for what queued meanwhile.
    func release() {
        let connection = self.state.withLock { state -> (any SessionConnection)? in
            state.held -= 1
            return state.held == 0 && !state.pending.isEmpty && state.phase == .attached ? state.connection : nil
        }
        connection?.wake()
    }

    /// The client left for good; returns its rooms (to leave) or `nil` if it had already gone.
    func markGone() -> Set<RoomKey>? {
        self.state.withLock { state in
            guard state.phase != .gone else { return nil }
            let rooms = state.rooms
            Self.end(&state)
            return rooms
        }
    }

    /// Records room membership; `false` if the client is gone.
    func addRoom(_ room: RoomKey) -> Bool {
        self.state.withLock { state in
            guard state.phase != .gone else { return false }
            state.rooms.insert(room)
            return true
        }
    }

    /// Forgets room membership.
    func removeRoom(_ room: RoomKey) {
        _ = self.state.withLock { $0.rooms.remove(room) }
    }

    /// The attached connection, if any.
    var connection: (any SessionConnection)? { self.state.withLock { $0.connection } }

    /// Messages waiting (for metrics and tests).
    var pendingCount: Int { self.state.withLock { $0.pending.count } }
}
