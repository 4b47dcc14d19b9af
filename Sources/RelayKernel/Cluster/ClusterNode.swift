import HTTPTypes
package import NIOCore
import Metrics
import Synchronization

/// The kernel's side of a cluster that the backplane calls: delivers what other nodes send
/// here, hands client queues over to the node a client resumed on, keeps the client journals
/// (``ClusterJournal``), and ends the identities of clients whose node died and who did not
/// come back.
package final class ClusterNode: Sendable {
    /// A hand-over: the frames the client had not seen, and the last position given out.
    typealias Handover = (frames: [QueuedFrame], lastSequence: Int)

    let state: RelayState
    /// Server API calls to and from the other nodes.
    let control = ClusterControl()
    private let handovers = Mutex<[ClientID: CheckedContinuation<(frames: [ClusterEnvelope.HandedFrame], lastSequence: Int)?, Never>]>([:])
    /// Clients resumed from their journal because their previous node did not hand them over in
    /// time, with the journal's position then: if the hand-over still comes, only what never
    /// crossed the database (and was not journaled) is delivered from it.
    private let abandoned = Mutex<[ClientID: Int]>([:])
    /// Long-polling requests forwarded to the nodes that hold their sessions.
    let polling = ClusterPollingRelay()

    init(state: RelayState) {
        self.state = state
    }

    private var hub: RelayHub { self.state.runtime.hub }

    /// This node's client journals.
    package var journal: ClusterJournal { self.hub.journal! }

    /// The last row of this node's inbox delivered here.
    package var inboxFrontier: Int64 { self.hub.inboxFrontier }

    /// Room joins of clients taken over from another node so far (see ``arrivalCopies(of:room:after:)``).
    package var arrivalCount: Int64 { self.hub.arrivalCount }

    /// A room message published here when this node's arrival count was `stamp`, whose row is
    /// written only now: members of `room` taken over since then got it neither here (they were
    /// not here when it was fanned out) nor through their previous node (the row goes to the
    /// members' nodes as they are now, and never to this one). Their copies, as one direct
    /// envelope each (the backplane's writer writes them with the room's row; it does not run
    /// while a takeover does, so none can fall in between).
    package func arrivalCopies(of envelope: ByteBuffer, room: String, after stamp: Int64) -> [(ClientID, ByteBuffer)] {
        guard let key = RoomKey(clusterName: room), case .room(_, let message, let excluded, let policy) = try? ClusterEnvelope(decoding: envelope) else { return [] }
        return self.hub.arrived(in: key, after: stamp).compactMap { session in
            session.id == excluded ? nil : (session.id, ClusterEnvelope.client(session.id, message, policy: policy, hops: 0).encoded)
        }
    }

    /// How long a client whose connection (or node) dropped may still resume.
    package var resumeGrace: Duration { .seconds(self.state.currentTable.configuration.server.resumeGrace) }

    /// Delivers an envelope another node sent here: a row of this node's inbox (`ref`), or media
    /// that came over a link.
    package func receive(_ bytes: ByteBuffer, ref: ClusterFrameRef? = nil) {
        self.state.metrics.clusterIn.increment()
        // Once delivered, the row is behind this node's frontier (journals may pass it).
        defer { if let ref { self.hub.received(row: ref.seq) } }
        let envelope: ClusterEnvelope
        do {
            envelope = try ClusterEnvelope(decoding: bytes)
        } catch {
            self.state.logger.error("cluster envelope cannot be read", metadata: ["relay.cluster.bytes": "\(bytes.readableBytes)"])
            return
        }
        switch envelope {
        case .client(let id, let message, let policy, let hops):
            guard let session = self.hub.session(id) else {
                // Left for good, or taken over by a node that replays this row from the database.
                self.state.metrics.drops(.recipientGone).increment()
                return
            }
            // In the order the database gave it: never diverted again.
            _ = self.hub.deliver(message, to: session, policy: policy, counter: self.state.metrics.clusterDelivered, divertible: false, ref: ref)
            if hops == ClusterEnvelope.divertedHops { session.divertedArrived() }
        case .room(let room, let message, let excluded, let policy):
            _ = self.hub.publishLocally(message, to: room, except: excluded, policy: policy, counter: self.state.metrics.clusterDelivered, ref: ref)
        case .handoverRequest(let id, let node, let lastSeen):
            self.handOver(id, to: node, after: lastSeen)
        case .fence(let id):
            self.hub.session(id)?.divertedArrived()
        case .handover(let id, let frames, let lastSequence):
            let waiter = self.handovers.withLock { $0.removeValue(forKey: id) }
            if let waiter {
                waiter.resume(returning: frames.map { ($0, lastSequence) })
            } else if let frames {
                self.lateHandover(of: id, frames: frames)
            }
        case .control(let id, let node, let body):
            self.control.serve(id: id, from: node, body: body, state: self.state)
        case .controlAnswer(let id, let node, let body):
            self.control.arrived(id: id, from: node, answer: body)
        case .pollRequest(let request, let sid, let post, let replyTo):
            self.polling.serve(request, sid: sid, post: post, replyTo: replyTo, state: self.state)
        case .upgradeRequest(let request, let sid, let step, let replyTo):
            self.polling.serveUpgrade(request, sid: sid, step: step, replyTo: replyTo, state: self.state)
        case .pollResponse(let request, let status, let contentType, let body):
            self.polling.answer(request, PollingTransport.Response(status: .init(code: status), body: body, contentType: contentType))
        }
    }

    /// Cross-node messages that were accepted but could not be written: each one's sender hears
    /// `unavailable`, as if it had been refused at once.
    package func undeliverable(_ origins: [ClusterOrigin]) {
        for origin in origins {
            self.state.metrics.error(.unavailable)
            self.hub.send(
                .error(RelayError(.unavailable, "a message to another node was lost: the cluster database is unreachable"), ref: origin.ref),
                to: origin.client,
                policy: .dropOldest,
                counter: self.state.metrics.kernelMessagesOut
            )
        }
    }

    /// What this node holds, to register again after the backplane lost track of it.
    package func localChanges() -> [ClusterChange] {
        var changes: [ClusterChange] = []
        for session in self.hub.allSessions where session.phase != .gone {
            changes.append(.clientUp(session))
            for room in session.rooms { changes.append(.joined(room: room.clusterName, session.id)) }
        }
        return changes
    }

    /// A process of the node named `name` was declared dead (its heartbeat stopped, or its link
    /// refuses connections): requests forwarded to it end.
    package func nodeDied(_ name: String) {
        self.polling.nodeDied(name)
    }

    /// A client of a dead node did not resume within the grace: its plugins hear it left, here.
    package func expire(_ info: ClientInfo, rooms: [String]) async {
        await ClientLifecycle.left(info, rooms: Set(rooms.compactMap(RoomKey.init(clusterName:))), state: self.state)
    }

    // MARK: Journal

    /// The backplane is connected: frames wait for their journal records again, and every
    /// session's journal is written anew.
    package func journalConnected() {
        self.journal.activate(self.hub.allSessions)
    }

    /// The backplane is down: frames go out without journal records.
    package func journalDisconnected() {
        self.journal.suspend(self.hub.allSessions)
    }

    /// Before the connections drain (shutdown): every session's waiting frames get their journal
    /// records, so the drain can write them; waits at most `limit`.
    func writeJournals(within limit: Duration) async {
        guard self.journal.isActive else { return }
        let deadline = ContinuousClock.now + limit
        for session in self.hub.allSessions { session.requestJournal() }
        while ContinuousClock.now < deadline, self.hub.allSessions.contains(where: \.awaitsJournal) {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Asks for a record of every session whose journal lags more than `rows` behind this
    /// node's inbox (an idle client's journal would otherwise keep every later row in the
    /// database).
    package func refreshLaggingJournals(behind rows: Int64) {
        let frontier = self.hub.inboxFrontier
        let inbox = self.journal.inbox
        for session in self.hub.allSessions {
            guard let positioned = session.journal?.inboxes.first(where: { $0.id == inbox && $0.end == nil })?.positioned, frontier - positioned > rows else { continue }
            session.requestJournal()
        }
    }

    /// A batch of journal records was written; the clients of `refused` had been taken over by
    /// another node meanwhile. Such a session writes nothing more and waits for that node's
    /// hand-over request; if none comes (the node resumed the client from the database), it ends.
    package func journalWritten(_ records: [ClusterJournal.Record], refused: Set<ClientID>) {
        self.journal.written(records.filter { !refused.contains($0.client) })
        let settings = self.state.currentTable.configuration.cluster
        let wait = Duration.seconds(3 * min(settings.nodeTimeout, max(1, 2 * settings.heartbeatInterval)))
        for record in records where refused.contains(record.client) {
            guard record.session.takenElsewhere() else { continue }
            let session = record.session
            Task {
                try? await Task.sleep(for: wait)
                self.movedAway(session)
            }
        }
    }

    /// `session` was taken over elsewhere from the database: it ends here, and what it queued
    /// that never crossed the database (and the client was never written) follows it there.
    private func movedAway(_ session: ClientSession) {
        guard let moved = session.movedAway() else { return }
        self.hub.forget(session, rooms: moved.rooms)
        moved.connection?.requestClose(CloseReason(.normal, "resumed on another node"))
        for frame in moved.frames where !frame.droppable {
            _ = self.hub.forward(.toClient(session.id, ClusterEnvelope.client(session.id, frame.message, policy: .close, hops: 0).encoded), recipients: 1)
        }
        self.state.logger.notice("client resumed on another node while this one was unreachable", metadata: ["relay.client.id": "\(session.id)"])
    }

    // MARK: Handover

    /// Gives a client's queue to the node it resumed on and forgets it here.
    private func handOver(_ id: ClientID, to node: String, after lastSeen: Int) {
        guard let session = self.hub.session(id), let handed = session.handOver(after: lastSeen) else {
            _ = self.hub.forward(.toNode(node, ClusterEnvelope.handover(id, frames: nil, lastSequence: 0).encoded), recipients: 1)
            return
        }
        self.hub.forget(session, rooms: handed.rooms)
        handed.connection?.requestClose(CloseReason(.normal, "resumed on another node"))
        let frames = handed.frames.map { ClusterEnvelope.HandedFrame(sequence: $0.sequence, droppable: $0.droppable, message: $0.message, ref: $0.ref) }
        _ = self.hub.forward(.toNode(node, ClusterEnvelope.handover(id, frames: frames, lastSequence: handed.lastSequence).encoded), recipients: 1)
    }

    /// Starts sending what this node sends to `session` (just taken over) through the cluster,
    /// behind a fence, so it cannot overtake what was sent before the takeover.
    func fence(_ session: ClientSession) {
        guard let cluster = self.hub.cluster else { return }
        session.startDiverting()
        if !cluster.submit(.toClient(session.id, ClusterEnvelope.fence(session.id).encoded)) { session.divertedArrived() }
    }

    /// Asks `node` for the queue of `id` (taken over by this node) and waits for it, at most
    /// `timeout`; `nil` when the node refused, could not be asked or did not answer.
    func requestHandover(of id: ClientID, from node: String, lastSeen: Int, timeout: Duration) async -> Handover? {
        guard let cluster = self.hub.cluster else { return nil }
        let answer = await withCheckedContinuation { continuation in
            self.handovers.withLock { $0[id] = continuation }
            let request = ClusterEnvelope.handoverRequest(id, toNode: cluster.nodeID, lastSeen: lastSeen).encoded
            if !cluster.submit(.toNode(node, request)) {
                self.resolveHandover(id)
                return
            }
            Task {
                try? await Task.sleep(for: timeout)
                self.resolveHandover(id)
            }
        }
        guard let answer else { return nil }
        return (self.frames(answer.frames), answer.lastSequence)
    }

    /// The previous node of `id` did not hand it over in time: it was resumed from its journal
    /// at `position`. A late hand-over then delivers only what the journal could not know.
    func abandonHandover(of id: ClientID, journalPosition position: Int) {
        self.abandoned.withLock { $0[id] = position }
        Task {
            try? await Task.sleep(for: .seconds(max(self.state.currentTable.configuration.cluster.nodeTimeout, 1) * 4))
            _ = self.abandoned.withLock { $0.removeValue(forKey: id) }
        }
    }

    private func lateHandover(of id: ClientID, frames: [ClusterEnvelope.HandedFrame]) {
        guard let position = self.abandoned.withLock({ $0.removeValue(forKey: id) }), let session = self.hub.session(id) else { return }
        for frame in frames where frame.ref == nil && (frame.sequence ?? .max) > position && !frame.droppable {
            _ = self.hub.deliver(frame.message, to: session, policy: .close, counter: self.state.metrics.clusterDelivered)
        }
    }

    private func resolveHandover(_ id: ClientID) {
        let waiter = self.handovers.withLock { $0.removeValue(forKey: id) }
        waiter?.resume(returning: nil)
    }

    private func frames(_ handed: [ClusterEnvelope.HandedFrame]) -> [QueuedFrame] {
        let now = NIODeadline.now()
        return handed.map {
            QueuedFrame(message: $0.message, sequence: $0.sequence, droppable: $0.droppable, enqueuedAt: now, deliveredCounter: self.state.metrics.clusterDelivered, ref: $0.ref)
        }
    }

    // MARK: Resume from the journal

    /// The frames a resume from the journal replays: the first `tail` rows are the positions
    /// after `lastSeen` (numbered), the others the rows of `ranges` that were for `client`.
    func replayFrames(_ rows: [ClusterRow], tail: Int, for client: ClientID, lastSeen: Int, ranges: [ClientJournal.Range]) -> [QueuedFrame]? {
        let now = NIODeadline.now()
        var frames: [QueuedFrame] = []
        for (index, row) in rows.enumerated() {
            let message: OutboundMessage
            let policy: RouteSettings.OverflowPolicy
            switch try? ClusterEnvelope(decoding: row.envelope) {
            case .client(let id, let sent, let sentPolicy, _) where id == client:
                (message, policy) = (sent, sentPolicy)
            case .room(_, let sent, let excluded, let sentPolicy) where excluded != client:
                guard index < tail || ranges.contains(where: { $0.inbox == row.ref.inbox && $0.includes(seq: row.ref.seq, room: row.room) }) else { continue }
                (message, policy) = (sent, sentPolicy)
            default:
                // A position of the tail must be a message for the client; other rows are not its.
                if index < tail { return nil }
                continue
            }
            let sequence = index < tail ? lastSeen + index + 1 : nil
            frames.append(
                QueuedFrame(message: message, sequence: sequence, droppable: policy == .dropOldest, enqueuedAt: now, deliveredCounter: self.state.metrics.clusterDelivered, ref: row.ref)
            )
        }
        return frames
    }
}
