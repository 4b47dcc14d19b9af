import Synchronization

/// Runs async work one at a time per stream, in arrival order, inside one process.
///
/// A stream's status changes (register, first frame, producer gone) read, change and write its
/// record; holding the stream's lock around each keeps the stored status the last one decided.
final class MLStreamLock: Sendable {
    private let waiters = Mutex<[String: [CheckedContinuation<Void, Never>]]>([:])

    init() {}

    /// Runs `body` holding the lock for `streamId`.
    func withLock<T: Sendable>(_ streamId: String, _ body: () async throws -> T) async rethrows -> T {
        await self.acquire(streamId)
        defer { self.release(streamId) }
        return try await body()
    }

    private func acquire(_ key: String) async {
        let free = self.waiters.withLock { waiters -> Bool in
            guard waiters[key] == nil else { return false }
            waiters[key] = []
            return true
        }
        if free { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let nowFree = self.waiters.withLock { waiters -> Bool in
                guard waiters[key] != nil else {
                    waiters[key] = []
                    return true
                }
                waiters[key]!.append(continuation)
                return false
            }
            if nowFree { continuation.resume() }
        }
    }

    private func release(_ key: String) {
        let next = self.waiters.withLock { waiters -> CheckedContinuation<Void, Never>? in
            guard var queue = waiters[key] else { return nil }
            guard !queue.isEmpty else {
                waiters[key] = nil
                return nil
            }
            let first = queue.removeFirst()
            waiters[key] = queue
            return first
        }
        next?.resume()
    }
}
