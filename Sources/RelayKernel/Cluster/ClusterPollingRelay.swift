import HTTPTypes
import NIOCore
import Synchronization

/// Engine.IO long-polling without sticky sessions: a polling request that reaches a node other
/// than the one holding its session (the `sid` names that node) travels there through the
/// backplane, in order with everything else between the two nodes, and its answer comes back
/// the same way; so do the steps of an upgrade to a WebSocket that reached another node. When
/// the node is declared dead, or does not answer in time, the request gets Engine.IO's
/// "Session ID unknown" and the client reconnects (and recovers its session, where
/// connection-state recovery is on).
final class ClusterPollingRelay: Sendable {
    private let waiting = Mutex<[UInt64: (node: String, continuation: CheckedContinuation<PollingTransport.Response?, Never>)]>([:])
    private let nextRequest = Atomic<UInt64>(1)

    /// The node that holds the long-polling session `sid` (a cluster node starts its sids with
    /// its id and a dot).
    static func node(of sid: String) -> String? {
        guard let dot = sid.firstIndex(of: ".") else { return nil }
        return String(sid[..<dot])
    }

    /// Sends a polling request for `sid` to `node` and waits for its answer, at most `timeout`;
    /// `nil` when it could not be sent or no answer came.
    func forward(sid: String, post: ByteBuffer?, to node: String, timeout: Duration, cluster: any ClusterBackplane) async -> PollingTransport.Response? {
        await self.ask(node, timeout: timeout, cluster: cluster) { request in
            ClusterEnvelope.pollRequest(request, sid: sid, post: post, replyTo: cluster.nodeID)
        }
    }

    /// Sends step `step` of the upgrade of `sid` to a WebSocket here to `node`, which holds the
    /// session, and waits for its answer, at most `timeout`.
    func forwardUpgrade(sid: String, step: EngineIORemoteUpgrade.Step, to node: String, timeout: Duration, cluster: any ClusterBackplane) async -> PollingTransport.Response? {
        await self.ask(node, timeout: timeout, cluster: cluster) { request in
            ClusterEnvelope.upgradeRequest(request, sid: sid, step: step, replyTo: cluster.nodeID)
        }
    }

    private func ask(
        _ node: String,
        timeout: Duration,
        cluster: any ClusterBackplane,
        envelope: (UInt64) -> ClusterEnvelope
    ) async -> PollingTransport.Response? {
        let request = self.nextRequest.wrappingAdd(1, ordering: .relaxed).oldValue
        return await withCheckedContinuation { continuation in
            self.waiting.withLock { $0[request] = (node, continuation) }
            guard cluster.submit(.toNodeNamed(node, envelope(request).encoded)) else { return self.answer(request, nil) }
            Task {
                try? await Task.sleep(for: timeout)
                self.answer(request, nil)
            }
        }
    }

    /// The answer to request `request` arrived (or its time is up: `nil`).
    func answer(_ request: UInt64, _ response: PollingTransport.Response?) {
        let waiter = self.waiting.withLock { $0.removeValue(forKey: request) }
        waiter?.continuation.resume(returning: response)
    }

    /// `node` was declared dead: what waits for it gets no answer.
    func nodeDied(_ node: String) {
        let waiters = self.waiting.withLock { waiting in
            let dead = waiting.filter { $0.value.node == node }
            for request in dead.keys { waiting.removeValue(forKey: request) }
            return dead.values.map(\.continuation)
        }
        for waiter in waiters { waiter.resume(returning: nil) }
    }

    /// Serves a request another node forwarded for one of this node's sessions and sends the
    /// answer back to it.
    func serve(_ request: UInt64, sid: String, post: ByteBuffer?, replyTo: String, state: RelayState) {
        self.serve(request, sid: sid, replyTo: replyTo, state: state) { session in
            if let post { session.value.push(post) } else { session.value.poll() }
        }
    }

    /// Serves a step of the upgrade of one of this node's sessions to a WebSocket on node
    /// `replyTo` and sends the answer back to it.
    func serveUpgrade(_ request: UInt64, sid: String, step: EngineIORemoteUpgrade.Step, replyTo: String, state: RelayState) {
        self.serve(request, sid: sid, replyTo: replyTo, state: state) { session in
            EngineIORemoteUpgrade.serve(step, of: session, state: state)
        }
    }

    private func serve(
        _ request: UInt64,
        sid: String,
        replyTo: String,
        state: RelayState,
        answer: @escaping @Sendable (NIOLoopBound<PollingTransport>) -> EventLoopFuture<PollingTransport.Response>
    ) {
        guard let cluster = state.runtime.hub.cluster else { return }
        let reply = { @Sendable (response: PollingTransport.Response) in
            let envelope = ClusterEnvelope.pollResponse(request, status: response.status.code, contentType: response.contentType, body: response.body)
            _ = cluster.submit(.toNode(replyTo, envelope.encoded))
        }
        guard let session = state.polling[sid] else { return reply(.unknownSession) }
        let answered = session.eventLoop.flatSubmit { answer(session) }
        answered.whenComplete { result in reply((try? result.get()) ?? .unknownSession) }
    }
}
