import Synchronization

/// ``KeyValueStore`` in process memory: the embedded default for one node.
public final class MemoryKeyValueStore: KeyValueStore {
    private struct Entry {
        var value: JSONValue
        var version: UInt64
        var expiresAt: ContinuousClock.Instant?
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var nextVersion: UInt64 = 1
        var writesSinceSweep = 0
    }

    private let state = Mutex(State())
    private let now: @Sendable () -> ContinuousClock.Instant

    /// Creates an empty store; `now` is injectable for tests.
    public init(now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.now = now
    }

    public func get(_ key: String) async throws -> StoredValue? {
        let now = self.now()
        return self.state.withLock { state in
            guard let entry = state.entries[key], Self.isLive(entry, now) else { return nil }
            return StoredValue(value: entry.value, version: entry.version)
        }
    }

    @discardableResult
    public func set(_ key: String, _ value: JSONValue, ttl: Duration?) async throws -> UInt64 {
        let now = self.now()
        return self.state.withLock { state in self.write(&state, key, value, ttl: ttl, now: now) }
    }

    public func insert(_ key: String, _ value: JSONValue, ttl: Duration?) async throws -> UInt64? {
        let now = self.now()
        return self.state.withLock { state in
            if let entry = state.entries[key], Self.isLive(entry, now) { return nil }
            return self.write(&state, key, value, ttl: ttl, now: now)
        }
    }

    public func compareAndSet(_ key: String, expected: UInt64, _ value: JSONValue, ttl: Duration?) async throws -> UInt64? {
        let now = self.now()
        return self.state.withLock { state in
            guard let entry = state.entries[key], Self.isLive(entry, now), entry.version == expected else { return nil }
            return self.write(&state, key, value, ttl: ttl, now: now)
        }
    }

    @discardableResult
    public func delete(_ key: String) async throws -> Bool {
        let now = self.now()
        return self.state.withLock { state in
            guard let entry = state.entries.removeValue(forKey: key) else { return false }
            return Self.isLive(entry, now)
        }
    }

    public func delete(_ key: String, expected: UInt64) async throws -> Bool {
        let now = self.now()
        return self.state.withLock { state in
            guard let entry = state.entries[key], Self.isLive(entry, now), entry.version == expected else { return false }
            state.entries.removeValue(forKey: key)
            return true
        }
    }

    public func keys(withPrefix prefix: String) async throws -> [String] {
        let now = self.now()
        return self.state.withLock { state in
            state.entries.compactMap { key, entry in key.hasPrefix(prefix) && Self.isLive(entry, now) ? key : nil }.sorted()
        }
    }

    private func write(_ state: inout State, _ key: String, _ value: JSONValue, ttl: Duration?, now: ContinuousClock.Instant) -> UInt64 {
        let version = state.nextVersion
        state.nextVersion += 1
        state.entries[key] = Entry(value: value, version: version, expiresAt: ttl.map { now + $0 })
        state.writesSinceSweep += 1
        if state.writesSinceSweep >= 1024 {
            state.writesSinceSweep = 0
            state.entries = state.entries.filter { Self.isLive($0.value, now) }
        }
        return version
    }

    private static func isLive(_ entry: Entry, _ now: ContinuousClock.Instant) -> Bool {
        entry.expiresAt.map { now < $0 } ?? true
    }
}
