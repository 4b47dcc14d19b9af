import NIOCore
import Synchronization

/// Carries server API calls to the other live nodes of a cluster and gathers their answers:
/// each node answers for its own clients (``ClientControl``), through the backplane like any
/// cross-node envelope.
final class ClusterControl: Sendable {
    /// The answers one call still waits for.
    private struct Gathering {
        var waiting: Set<String>
        var answers: [String: JSONValue] = [:]
        let done: CheckedContinuation<[String: JSONValue], Never>
    }

    private let gatherings = Mutex<[String: Gathering]>([:])

    /// Asks every live node but this one; returns each node's answer and the nodes that did not
    /// answer within `timeout` (or could not be asked).
    func ask(_ request: ControlRequest, cluster: any ClusterBackplane, timeout: Duration) async throws -> (answers: [String: JSONValue], silent: [String]) {
        let others = Set(try await cluster.liveNodes()).subtracting([cluster.nodeID])
        guard !others.isEmpty else { return ([:], []) }
        let id = RandomToken.make(length: 20)
        let envelope = ClusterEnvelope.control(id: id, from: cluster.nodeID, body: request.json.encoded).encoded
        let answers = await withTaskGroup(of: [String: JSONValue]?.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    self.gatherings.withLock { $0[id] = Gathering(waiting: others, done: continuation) }
                    for node in others where !cluster.submit(.toNode(node, envelope)) {
                        self.arrived(id: id, from: node, answer: nil)
                    }
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                self.finish(id)
                return nil
            }
            var answers: [String: JSONValue] = [:]
            while let next = await group.next() {
                guard let next else { continue }
                answers = next
                group.cancelAll()
            }
            return answers
        }
        return (answers, others.subtracting(answers.keys).sorted())
    }

    /// Answers a call another node sent (on the timer service: closing clients waits for their
    /// plugins).
    func serve(id: String, from node: String, body: ByteBuffer, state: RelayState) {
        guard let cluster = state.runtime.hub.cluster, let json = try? JSONParser.parse(body.readableBytesView), let request = ControlRequest(json: json) else {
            state.logger.error("cluster control request cannot be read", metadata: ["relay.cluster.node": "\(node)"])
            return
        }
        state.runtime.timers.schedule(after: .zero) {
            let answer = await ClientControl.answer(request, node: cluster.nodeName, state: state)
            let envelope = ClusterEnvelope.controlAnswer(id: id, from: cluster.nodeID, body: answer.encoded).encoded
            _ = cluster.submit(.toNode(node, envelope))
        }
    }

    /// A node's answer to call `id` arrived (`nil`: the node cannot be asked).
    func arrived(id: String, from node: String, answer: ByteBuffer?) {
        let finished = self.gatherings.withLock { gatherings -> Gathering? in
            guard var gathering = gatherings[id], gathering.waiting.remove(node) != nil else { return nil }
            if let answer, let json = try? JSONParser.parse(answer.readableBytesView) { gathering.answers[node] = json }
            guard gathering.waiting.isEmpty else {
                gatherings[id] = gathering
                return nil
            }
            gatherings.removeValue(forKey: id)
            return gathering
        }
        if let finished { finished.done.resume(returning: finished.answers) }
    }

    /// Ends call `id` with the answers it has (its time is up).
    private func finish(_ id: String) {
        let finished = self.gatherings.withLock { $0.removeValue(forKey: id) }
        if let finished { finished.done.resume(returning: finished.answers) }
    }
}
