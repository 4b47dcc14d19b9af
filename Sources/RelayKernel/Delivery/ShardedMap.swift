import Synchronization

/// A dictionary split over independently locked shards, so unrelated keys never contend.
final class ShardedMap<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private final class Shard: Sendable {
        let entries = Mutex<[Key: Value]>([:])
    }

    private let shards: [Shard]

    init(shardCount: Int = 64) {
        self.shards = (0..<shardCount).map { _ in Shard() }
    }

    private func shard(for key: Key) -> Shard {
        self.shards[Int(UInt(bitPattern: key.hashValue) % UInt(self.shards.count))]
    }

    subscript(key: Key) -> Value? {
        self.shard(for: key).entries.withLock { $0[key] }
    }

    /// Runs `body` on the value slot for `key` under its shard's lock.
    func update<Result>(_ key: Key, _ body: (inout Value?) -> Result) -> Result {
        self.shard(for: key).entries.withLock { dictionary in
            var value = dictionary[key]
            let result = body(&value)
            dictionary[key] = value
            return result
        }
    }

    @discardableResult
    func removeValue(forKey key: Key) -> Value? {
        self.shard(for: key).entries.withLock { $0.removeValue(forKey: key) }
    }

    /// Every value (a snapshot, shard by shard).
    var values: [Value] {
        self.shards.flatMap { shard in shard.entries.withLock { Array($0.values) } }
    }

    var count: Int {
        self.shards.reduce(0) { total, shard in total + shard.entries.withLock { $0.count } }
    }
}
