import DequeModule
import Metrics
import NIOCore
import Synchronization

/// One client identity across connections: its outbound queue, its replay log for resume,
/// its rooms, and the connection it is attached to (if any).
///
/// Every delivery to the client takes only this session's lock; nothing on the delivery path
/// is process-wide.
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
    }

    let id: ClientID
    let bounds: Bounds
    private let state: Mutex<State>
    /// Who the client is; a token refresh replaces its claims.
    private let identity: Mutex<ClientInfo>

    init(info: ClientInfo, bounds: Bounds, connection: any SessionConnection, resumeToken: String) {
        self.id = info.id
        self.identity = Mutex(info)
        self.bounds = bounds
        self.state = Mutex(State(connection: connection, resumeToken: resumeToken))
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
        divertible: Bool = true
    ) -> EnqueueResult {
        let frame = QueuedFrame(
            message: message,
            sequence: nil,
            droppable: policy == .dropOldest,
            enqueuedAt: instant,
            deliveredCounter: counter
        )
        let size = message.size
        let (result, connection) = self.state.withLock { state -> (EnqueueResult, (any SessionConnection)?) in
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
                    state.pendingBytes += size
                    return (.dropped, attached ? state.connection : nil)
                case .close:
                    // Make room by dropping queued media first; only control messages close the client.
                    if let index = state.pending.firstIndex(where: { $0.droppable && $0.sequence == nil }) {
                        let removed = state.pending.remove(at: index)
                        state.pendingBytes -= removed.message.size
                        state.pending.append(frame)
                        state.pendingBytes += size
                        return (.dropped, attached ? state.connection : nil)
                    }
                    // Keep the message so the client finds it when it resumes, up to twice the bounds.
                    if state.pending.count >= 2 * self.bounds.queueMessages || state.pendingBytes + size > 2 * self.bounds.queueBytes {
                        state.lost = true
                        state.pending.removeAll()
                        state.pendingBytes = 0
                        return (.overflowClose, attached ? state.connection : nil)
                    }
                    state.pending.append(frame)
                    state.pendingBytes += size
                    return (.overflowClose, attached ? state.connection : nil)
                }
            }
            state.pending.append(frame)
            state.pendingBytes += size
            return (.queued, attached ? state.connection : nil)
        }
        if result == .overflowClose {
            connection?.requestClose(CloseReason(.tryAgainLater, "slow consumer"))
        } else {
            connection?.wake()
        }
        return result
    }

    /// The next frame for the writer of attachment `generation`, numbered and logged for replay.
    func popForWriter(generation: Int) -> PopResult {
        self.state.withLock { state in
            guard state.generation == generation, state.phase == .attached else { return .superseded }
            guard state.held == 0, var frame = state.pending.popFirst() else { return .empty }
            state.pendingBytes -= frame.message.size
            if frame.sequence == nil {
                state.lastSequence += 1
                frame.sequence = state.lastSequence
                guard self.bounds.replayMessages > 0 else { return .frame(frame) }
                state.replay.append(frame)
                state.replayBytes += frame.message.size
                while state.replay.count > self.bounds.replayMessages || state.replayBytes > self.bounds.queueBytes,
                    let dropped = state.replay.popFirst()
                {
                    state.replayBytes -= dropped.message.size
                }
            }
            return .frame(frame)
        }
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
            var frames = Array(state.replay.filter { $0.sequence! > lastSeen })
            frames += state.pending.filter { $0.sequence == nil }
            let result = (frames, state.lastSequence, state.rooms, state.connection)
            state.phase = .gone
            state.connection = nil
            state.pending.removeAll()
            state.replay.removeAll()
            state.pendingBytes = 0
            state.replayBytes = 0
            state.rooms.removeAll()
            return result
        }
    }

    /// Puts frames handed over by another node (or found waiting for this client) in front of
    /// the queue; numbered frames go back into the replay log. Sequence numbers continue after
    /// `lastSequence`.
    func restore(_ frames: [QueuedFrame], lastSequence: Int) {
        self.state.withLock { state in
            state.lastSequence = max(state.lastSequence, lastSequence)
            for frame in frames where frame.sequence != nil {
                state.replay.append(frame)
                state.replayBytes += frame.message.size
            }
            for frame in frames.reversed() {
                state.pending.prepend(frame)
                state.pendingBytes += frame.message.size
            }
        }
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
            state.phase = .gone
            state.connection = nil
            state.pending.removeAll()
            state.replay.removeAll()
            state.pendingBytes = 0
            state.replayBytes = 0
            let rooms = state.rooms
            state.rooms.removeAll()
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
