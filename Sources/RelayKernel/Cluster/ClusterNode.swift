import HTTPTypes
package import NIOCore
import Metrics
import Synchronization

/// The kernel's side of a cluster that the backplane calls: delivers what other nodes send
/// here, hands client queues over to the node a client resumed on, and ends the identities of
/// clients whose node died and who did not come back.
package final class ClusterNode: Sendable {
    let state: RelayState
    /// Server API calls to and from the other nodes.
    let control = ClusterControl()
    private let handovers = Mutex<[ClientID: CheckedContinuation<(frames: [ClusterEnvelope.HandedFrame], lastSequence: Int)?, Never>]>([:])
    /// Long-polling requests forwarded to the nodes that hold their sessions.
    let polling = ClusterPollingRelay()

    init(state: RelayState) {
        self.state = state
    }

    private var hub: RelayHub { self.state.runtime.hub }

    /// How long a client whose connection (or node) dropped may still resume.
    package var resumeGrace: Duration { .seconds(self.state.currentTable.configuration.server.resumeGrace) }

    /// Delivers an envelope another node sent here.
    package func receive(_ bytes: ByteBuffer) {
        self.state.metrics.clusterIn.increment()
        let envelope: ClusterEnvelope
        do {
            envelope = try ClusterEnvelope(decoding: bytes)
        } catch {
            self.state.logger.error("cluster envelope cannot be read", metadata: ["relay.cluster.bytes": "\(bytes.readableBytes)"])
            return
        }
        switch envelope {
        case .client(let id, let message, let policy, let hops):
            if let session = self.hub.session(id) {
                // In the order the database gave it: never diverted again.
                _ = self.hub.deliver(message, to: session, policy: policy, counter: self.state.metrics.clusterDelivered, divertible: false)
                if hops == ClusterEnvelope.divertedHops { session.divertedArrived() }
            } else if hops == 0 {
                // The client moved on while this was on its way: one more hop to wherever it is.
                _ = self.hub.forward(.toClient(id, ClusterEnvelope.client(id, message, policy: policy, hops: 1).encoded), recipients: 1)
            } else {
                self.state.metrics.drops(.recipientGone).increment()
            }
        case .room(let room, let message, let excluded, let policy):
            _ = self.hub.publishLocally(message, to: room, except: excluded, policy: policy, counter: self.state.metrics.clusterDelivered)
        case .handoverRequest(let id, let node, let lastSeen):
            self.handOver(id, to: node, after: lastSeen)
        case .fence(let id):
            self.hub.session(id)?.divertedArrived()
        case .handover(let id, let frames, let lastSequence):
            let waiter = self.handovers.withLock { $0.removeValue(forKey: id) }
            waiter?.resume(returning: frames.map { ($0, lastSequence) })
        case .control(let id, let node, let body):
            self.control.serve(id: id, from: node, body: body, state: self.state)
        case .controlAnswer(let id, let node, let body):
            self.control.arrived(id: id, from: node, answer: body)
        case .pollRequest(let request, let sid, let post, let replyTo):
            self.polling.serve(request, sid: sid, post: post, replyTo: replyTo, state: self.state)
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
            changes.append(.clientUp(session.info, resumeToken: session.resumeToken))
            for room in session.rooms { changes.append(.joined(room: room.clusterName, session.id)) }
        }
        return changes
    }

    /// `node` was declared dead (its heartbeat stopped): requests waiting for it end.
    package func nodeDied(_ node: String) {
        self.polling.nodeDied(node)
    }

    /// A client of a dead node did not resume within the grace: its plugins hear it left, here.
    package func expire(_ info: ClientInfo, rooms: [String]) async {
        await ClientLifecycle.left(info, rooms: Set(rooms.compactMap(RoomKey.init(clusterName:))), state: self.state)
    }

    // MARK: Handover

    /// Gives a client's queue to the node it resumed on and forgets it here.
    private func handOver(_ id: ClientID, to node: String, after lastSeen: Int) {
        guard let session = self.hub.session(id), let handed = session.handOver(after: lastSeen) else {
            _ = self.hub.forward(.toNode(node, room: nil, ClusterEnvelope.handover(id, frames: nil, lastSequence: 0).encoded), recipients: 1)
            return
        }
        self.hub.forget(session, rooms: handed.rooms)
        handed.connection?.requestClose(CloseReason(.normal, "resumed on another node"))
        let frames = handed.frames.map { ClusterEnvelope.HandedFrame(sequence: $0.sequence, droppable: $0.droppable, message: $0.message) }
        _ = self.hub.forward(
            .toNode(node, room: nil, ClusterEnvelope.handover(id, frames: frames, lastSequence: handed.lastSequence).encoded),
            recipients: 1
        )
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
    func requestHandover(of id: ClientID, from node: String, lastSeen: Int, timeout: Duration) async -> (frames: [QueuedFrame], lastSequence: Int)? {
        guard let cluster = self.hub.cluster else { return nil }
        let answer = await withCheckedContinuation { continuation in
            self.handovers.withLock { $0[id] = continuation }
            let request = ClusterEnvelope.handoverRequest(id, toNode: cluster.nodeID, lastSeen: lastSeen).encoded
            if !cluster.submit(.toNode(node, room: nil, request)) {
                self.resolveHandover(id, nil)
                return
            }
            Task {
                try? await Task.sleep(for: timeout)
                self.resolveHandover(id, nil)
            }
        }
        guard let answer else { return nil }
        let now = NIODeadline.now()
        let frames = answer.frames.map {
            QueuedFrame(message: $0.message, sequence: $0.sequence, droppable: $0.droppable, enqueuedAt: now, deliveredCounter: self.state.metrics.clusterDelivered)
        }
        return (frames, answer.lastSequence)
    }

    private func resolveHandover(_ id: ClientID, _ value: (frames: [ClusterEnvelope.HandedFrame], lastSequence: Int)?) {
        let waiter = self.handovers.withLock { $0.removeValue(forKey: id) }
        waiter?.resume(returning: value)
    }

    /// Messages that waited in the database for `client` while its node was dead, as frames.
    func waitingFrames(_ envelopes: [ByteBuffer], for client: ClientID) -> [QueuedFrame] {
        let now = NIODeadline.now()
        return envelopes.compactMap { bytes -> QueuedFrame? in
            let message: OutboundMessage
            let policy: RouteSettings.OverflowPolicy
            switch try? ClusterEnvelope(decoding: bytes) {
            case .client(_, let sent, let sentPolicy, _):
                (message, policy) = (sent, sentPolicy)
            case .room(_, let sent, let excluded, let sentPolicy) where excluded != client:
                (message, policy) = (sent, sentPolicy)
            default:
                return nil
            }
            return QueuedFrame(message: message, sequence: nil, droppable: policy == .dropOldest, enqueuedAt: now, deliveredCounter: self.state.metrics.clusterDelivered)
        }
    }
}
