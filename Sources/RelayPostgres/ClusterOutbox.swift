import DequeModule
import RelayKernel
import Synchronization

/// The bounded, ordered queue between the relay's delivery path and the backplane's one writer:
/// adding never waits; the writer takes everything queued at once.
final class ClusterOutbox: Sendable {
    private struct State {
        var items = Deque<ClusterOutgoing>()
        var open = false
    }

    let capacity: Int
    private let state = Mutex(State())
    private let signal = WakeSignal()

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// Queues `item`; `false` when the outbox is closed (backplane down) or full.
    func add(_ item: ClusterOutgoing) -> Bool {
        let added = self.state.withLock { state -> Bool in
            guard state.open, state.items.count < self.capacity else { return false }
            state.items.append(item)
            return true
        }
        if added { self.signal.signal() }
        return added
    }

    /// Starts accepting items.
    func open() {
        self.state.withLock { $0.open = true }
    }

    /// Stops accepting items and returns what was still queued.
    func close() -> [ClusterOutgoing] {
        self.state.withLock { state in
            state.open = false
            defer { state.items.removeAll() }
            return Array(state.items)
        }
    }

    /// Waits for items and takes up to `limit` of them, oldest first (empty when cancelled).
    func take(upTo limit: Int) async -> [ClusterOutgoing] {
        while !Task.isCancelled {
            let batch = self.state.withLock { state -> [ClusterOutgoing] in
                let count = min(limit, state.items.count)
                defer { state.items.removeFirst(count) }
                return Array(state.items.prefix(count))
            }
            if !batch.isEmpty { return batch }
            await self.signal.wait()
        }
        return []
    }
}
