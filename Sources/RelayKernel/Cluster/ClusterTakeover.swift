import Metrics
import Synchronization

/// Resumes, on this node, a client identity another node held: the takeover itself (the
/// backplane's claim), then what the client missed, exactly, or nothing at all.
///
/// - The previous node is alive: it hands the client's queue over (its replay log after the
///   client's `lastSeen`, then what it had queued).
/// - It died, cannot be reached, or does not answer in time: the client's ``ClientJournal``
///   says what it can have missed; the rows are read back from the database. When the journal
///   cannot vouch for every position (a message that never crossed the database was missed,
///   the client saw more than was journaled, rows were dropped), the identity ends and the
///   client starts afresh (`resumed: false`).
enum ClusterTakeover {
    /// A client taken over and resumed here.
    struct Resumed {
        let session: ClientSession
        let token: String
        /// Messages that follow `connected` (replayed and queued meanwhile).
        let replayed: Int
    }

    /// Takes over the identity `request` names (its resume token from then on `newToken`) and
    /// fills its queue with what followed the client's `lastSeen`; `nil` when the client must
    /// start afresh.
    static func resume(
        _ request: ClusterClaim.Request,
        lastSeen: Int,
        newToken: String,
        bounds: ClientSession.Bounds,
        connection: any SessionConnection,
        state: RelayState
    ) async -> Resumed? {
        let hub = state.runtime.hub
        guard let cluster = hub.cluster, let node = state.clusterNode else { return nil }
        let registered = Mutex<ClientSession?>(nil)
        let claim: ClusterClaim?
        do {
            claim = try await cluster.claim(request) { claim in
                // Registered before the takeover commits: whatever is sent to the client from
                // then on queues here, behind what it missed.
                let session = ClientSession(
                    info: claim.info, bounds: bounds, connection: connection, resumeToken: newToken,
                    cluster: hub.journal, journal: hub.takenOverJournal(claim.journal), restoring: true
                )
                hub.register(session, announce: false)
                node.fence(session)
                for room in claim.rooms.compactMap(RoomKey.init(clusterName:)) { hub.join(room, client: session.id, announce: false, arrival: true) }
                cluster.directory.apply(.moved(claim.info, node: cluster.nodeID, rooms: claim.rooms))
                registered.withLock { $0 = session }
            }
        } catch {
            if let session = registered.withLock({ $0 }) { _ = hub.remove(session, announce: false) }
            state.logger.warning("cluster resume failed", metadata: ["error.type": "\(error)"])
            return nil
        }
        guard let claim, let session = registered.withLock({ $0 }) else { return nil }
        hub.issue(resumeToken: newToken, for: session)
        switch await Self.refill(session, claim: claim, lastSeen: lastSeen, node: node, cluster: cluster, state: state) {
        case .success(let replayed):
            return Resumed(session: session, token: newToken, replayed: replayed)
        case .failure(let refusal):
            // The identity cannot be resumed exactly: it ends (its peers hear it left) and the
            // client is told to start afresh.
            state.logger.notice("resume refused: \(refusal.reason)", metadata: ["relay.client.id": "\(session.id)"])
            state.metrics.clusterResumes.refused.increment()
            await ClientLifecycle.leaveForGood(session, state: state)
            return nil
        }
    }

    struct Refusal: Error {
        let reason: String
    }

    /// Puts what the client missed in front of `session`'s queue; returns how many messages follow.
    private static func refill(
        _ session: ClientSession,
        claim: ClusterClaim,
        lastSeen: Int,
        node: ClusterNode,
        cluster: any ClusterBackplane,
        state: RelayState
    ) async -> Result<Int, Refusal> {
        if let previous = claim.previousNode {
            let settings = state.currentTable.configuration.cluster
            let timeout = Duration.seconds(min(settings.nodeTimeout, max(1, 2 * settings.heartbeatInterval)))
            if let handed = await node.requestHandover(of: session.id, from: previous, lastSeen: lastSeen, timeout: timeout) {
                guard lastSeen <= handed.lastSequence else {
                    return .failure(Refusal(reason: "the client saw \(lastSeen) messages, its node gave out \(handed.lastSequence)"))
                }
                session.restore(handed.frames, lastSequence: handed.lastSequence)
                state.metrics.clusterResumes.handover.increment()
                return .success(session.pendingCount)
            }
            state.logger.warning("previous node did not hand the client over; resuming it from its journal", metadata: ["relay.cluster.node": "\(previous)"])
            node.abandonHandover(of: session.id, journalPosition: claim.journal?.position ?? 0)
        }
        guard let journal = claim.journal else { return .failure(Refusal(reason: "no journal")) }
        switch journal.plan(lastSeen: lastSeen) {
        case .refuse(let reason):
            return .failure(Refusal(reason: reason))
        case .replay(let tail, let ranges):
            // Rows of this node's own inbox arrive through its inbox as usual.
            let ranges = ranges.filter { $0.inbox != cluster.nodeID }
            let rows: [ClusterRow]?
            do {
                rows = try await cluster.rows(tail: tail, ranges: ranges, client: session.id)
            } catch {
                return .failure(Refusal(reason: "the rows could not be read: \(error)"))
            }
            guard let rows, let frames = node.replayFrames(rows, tail: tail.count, for: session.id, lastSeen: lastSeen, ranges: ranges) else {
                return .failure(Refusal(reason: "rows it missed are no longer kept"))
            }
            session.restore(frames, lastSequence: journal.position)
            state.metrics.clusterResumes.journal.increment()
            return .success(session.pendingCount)
        }
    }
}
