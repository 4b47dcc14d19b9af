/// A plugin instance's view of the store: every key is prefixed with the instance name.
struct ScopedKeyValueStore: KeyValueStore {
    let base: any KeyValueStore
    let prefix: String

    func get(_ key: String) async throws -> StoredValue? {
        try await self.base.get(self.prefix + key)
    }

    func set(_ key: String, _ value: JSONValue, ttl: Duration?) async throws -> UInt64 {
        try await self.base.set(self.prefix + key, value, ttl: ttl)
    }

    func insert(_ key: String, _ value: JSONValue, ttl: Duration?) async throws -> UInt64? {
        try await self.base.insert(self.prefix + key, value, ttl: ttl)
    }

    func compareAndSet(_ key: String, expected: UInt64, _ value: JSONValue, ttl: Duration?) async throws -> UInt64? {
        try await self.base.compareAndSet(self.prefix + key, expected: expected, value, ttl: ttl)
    }

    func delete(_ key: String) async throws -> Bool {
        try await self.base.delete(self.prefix + key)
    }

    func delete(_ key: String, expected: UInt64) async throws -> Bool {
        try await self.base.delete(self.prefix + key, expected: expected)
    }

    func keys(withPrefix prefix: String) async throws -> [String] {
        try await self.base.keys(withPrefix: self.prefix + prefix).map { String($0.dropFirst(self.prefix.count)) }
    }
}
