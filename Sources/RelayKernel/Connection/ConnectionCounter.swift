import Synchronization

/// Counts open connections in total, per user and per IP address, to enforce the caps.
final class ConnectionCounter: Sendable {
    /// What a per-key count is for.
    enum Key: Hashable, Sendable {
        case address(String)
        case user(String)
    }

    private let total = Atomic<Int>(0)
    private let perKey = ShardedMap<Key, Int>(shardCount: 16)

    /// Takes a slot unless `limit` (> 0) is reached.
    func acquireTotal(limit: Int) -> Bool {
        let after = self.total.wrappingAdd(1, ordering: .relaxed).newValue
        if after > limit {
            self.total.wrappingSubtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    func releaseTotal() {
        self.total.wrappingSubtract(1, ordering: .relaxed)
    }

    var current: Int { self.total.load(ordering: .relaxed) }

    /// Takes a slot for `key` unless `limit` (> 0) is reached; a limit of 0 always succeeds.
    func acquire(_ key: Key, limit: Int) -> Bool {
        self.perKey.update(key) { count in
            let current = count ?? 0
            if limit > 0, current >= limit { return false }
            count = current + 1
            return true
        }
    }

    func release(_ key: Key) {
        self.perKey.update(key) { count in
            let remaining = (count ?? 1) - 1
            count = remaining > 0 ? remaining : nil
        }
    }
}
