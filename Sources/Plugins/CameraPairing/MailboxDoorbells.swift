import Synchronization

/// Wakes this process's waiting long-polls when their mailbox changes.
///
/// In memory, per process: a poll also re-reads its mailbox every `pollRecheckInterval`, so a
/// message appended by another node is seen within that interval even without a ring here.
final class MailboxDoorbells: Sendable {
    private struct State {
        var generations: [String: (count: UInt64, rung: ContinuousClock.Instant)] = [:]
        var waiters: [String: [UInt64: CheckedContinuation<Void, Never>]] = [:]
        var nextWaiter: UInt64 = 1
    }

    private let state = Mutex(State())

    init() {}

    /// The current ring count of `key`; read it before looking at the mailbox.
    func generation(_ key: String) -> UInt64 {
        self.state.withLock { $0.generations[key]?.count ?? 0 }
    }

    /// Wakes every poll waiting on `key`.
    func ring(_ key: String) {
        let woken = self.state.withLock { state -> [CheckedContinuation<Void, Never>] in
            let now = ContinuousClock.now
            state.generations[key] = ((state.generations[key]?.count ?? 0) &+ 1, now)
            let waiting = state.waiters.removeValue(forKey: key) ?? [:]
            if state.generations.count > 4096 {
                // Forget keys that have not rung for a minute (no poll is between reading a
                // generation and waiting for that long).
                state.generations = state.generations.filter { now - $0.value.rung < .seconds(60) }
            }
            return Array(waiting.values)
        }
        for continuation in woken { continuation.resume() }
    }

    /// Returns when `key` rings after `seen` (at once if it already did), after `timeout`, or on
    /// cancellation.
    func wait(_ key: String, seen: UInt64, timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForRing(key, seen: seen) }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitForRing(_ key: String, seen: UInt64) async {
        let id = self.state.withLock { state -> UInt64 in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = self.state.withLock { state -> Bool in
                    if Task.isCancelled || (state.generations[key]?.count ?? 0) != seen { return true }
                    state.waiters[key, default: [:]][id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let continuation = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
                let removed = state.waiters[key]?.removeValue(forKey: id)
                if state.waiters[key]?.isEmpty == true { state.waiters[key] = nil }
                return removed
            }
            continuation?.resume()
        }
    }
}
