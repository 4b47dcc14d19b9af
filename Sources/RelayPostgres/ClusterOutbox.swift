import DequeModule
import RelayKernel
import Synchronization

/// The bounded, ordered queue between the relay's delivery path and the backplane's one writer:
/// adding never waits; the writer takes everything queued at once (with the client journals'
/// records, which wake it too).
final class ClusterOutbox: Sendable {
    private struct State {
        var items = Deque<ClusterOutgoing>()
        var open = false
        /// Items ever added, and of those, the ones written (or failed).
        var added = 0
        var settled = 0
        var flushes: [(upTo: Int, continuation: CheckedContinuation<Void, Never>)] = []
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
            state.added += 1
            return true
        }
        if added { self.signal.signal() }
        return added
    }

    /// Starts accepting items.
    func open() {
        self.state.withLock { $0.open = true }
    }

    /// Stops accepting items and returns what was still queued (settled as failed).
    func close() -> [ClusterOutgoing] {
        let (items, flushes) = self.state.withLock { state in
            state.open = false
            defer { state.items.removeAll() }
            return (Array(state.items), self.settle(&state, count: state.items.count))
        }
        for flush in flushes { flush.resume() }
        return items
    }

    /// Records that the writer is done with `count` more items (written or failed).
    func settled(_ count: Int) {
        let flushes = self.state.withLock { self.settle(&$0, count: count) }
        for flush in flushes { flush.resume() }
    }

    private func settle(_ state: inout State, count: Int) -> [CheckedContinuation<Void, Never>] {
        state.settled += count
        let settled = state.settled
        let done = state.flushes.filter { $0.upTo <= settled }.map(\.continuation)
        state.flushes.removeAll { $0.upTo <= settled }
        return done
    }

    /// Returns once every item added before the call is written or has failed.
    func flush() async {
        await withCheckedContinuation { continuation in
            let now = self.state.withLock { state -> Bool in
                guard state.settled < state.added else { return true }
                state.flushes.append((state.added, continuation))
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// Waits until items were added or ``wakeWriter()`` was called since the last wait (returns
    /// at once when cancelled).
    func waitForWork() async {
        await self.signal.wait()
    }

    /// Wakes the writer (the client journals have records to write).
    func wakeWriter() {
        self.signal.signal()
    }

    /// Takes up to `limit` items, oldest first, without waiting.
    func take(upTo limit: Int) -> [ClusterOutgoing] {
        self.state.withLock { state -> [ClusterOutgoing] in
            let count = min(limit, state.items.count)
            defer { state.items.removeFirst(count) }
            return Array(state.items.prefix(count))
        }
    }
}
