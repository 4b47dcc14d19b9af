import Synchronization
import Testing
@testable import RelayKernel

/// A clock the test moves by hand.
final class ManualClock: Sendable {
    private let instant = Mutex(ContinuousClock.now)

    var now: ContinuousClock.Instant { self.instant.withLock { $0 } }

    func advance(_ duration: Duration) {
        self.instant.withLock { $0 = $0 + duration }
    }
}

@Suite("MemoryKeyValueStore")
struct MemoryKeyValueStoreTests {
    let clock = ManualClock()
    let store: MemoryKeyValueStore

    init() {
        let clock = self.clock
        self.store = MemoryKeyValueStore(now: { clock.now })
    }

    @Test func setAndGet() async throws {
        #expect(try await self.store.get("missing") == nil)
        let version = try await self.store.set("k", ["a": 1], ttl: nil)
        #expect(try await self.store.get("k") == StoredValue(value: ["a": 1], version: version))
    }

    @Test func versionsIncreaseOnEveryWrite() async throws {
        let first = try await self.store.set("k", 1, ttl: nil)
        let second = try await self.store.set("k", 2, ttl: nil)
        let other = try await self.store.set("other", 3, ttl: nil)
        #expect(first < second)
        #expect(second < other)
        #expect(try await self.store.get("k")?.version == second)
        #expect(try await self.store.get("k")?.value == 2)
    }

    @Test func ttlExpiry() async throws {
        try await self.store.set("k", "v", ttl: .seconds(10))
        try await self.store.set("forever", "v", ttl: nil)
        self.clock.advance(.milliseconds(9999))
        #expect(try await self.store.get("k")?.value == "v")
        self.clock.advance(.milliseconds(1))
        #expect(try await self.store.get("k") == nil)
        #expect(try await self.store.get("forever")?.value == "v")
        self.clock.advance(.seconds(1_000_000))
        #expect(try await self.store.get("forever")?.value == "v")
    }

    @Test func rewritingResetsTheTTL() async throws {
        try await self.store.set("k", 1, ttl: .seconds(10))
        self.clock.advance(.seconds(8))
        try await self.store.set("k", 2, ttl: .seconds(10))
        self.clock.advance(.seconds(8))
        #expect(try await self.store.get("k")?.value == 2)
        // A write without a TTL removes the expiry.
        try await self.store.set("k", 3, ttl: nil)
        self.clock.advance(.seconds(100))
        #expect(try await self.store.get("k")?.value == 3)
    }

    @Test func insertOnlyIfAbsent() async throws {
        let version = try #require(try await self.store.insert("lock", "owner-1", ttl: .seconds(5)))
        #expect(try await self.store.insert("lock", "owner-2", ttl: .seconds(5)) == nil)
        #expect(try await self.store.get("lock") == StoredValue(value: "owner-1", version: version))
        // Once expired the key counts as absent.
        self.clock.advance(.seconds(5))
        let next = try #require(try await self.store.insert("lock", "owner-2", ttl: nil))
        #expect(next > version)
        #expect(try await self.store.get("lock")?.value == "owner-2")
    }

    @Test func compareAndSet() async throws {
        #expect(try await self.store.compareAndSet("k", expected: 1, "x", ttl: nil) == nil)
        let v1 = try await self.store.set("k", 1, ttl: nil)
        let v2 = try #require(try await self.store.compareAndSet("k", expected: v1, 2, ttl: nil))
        #expect(v2 > v1)
        // The stale version loses.
        #expect(try await self.store.compareAndSet("k", expected: v1, 3, ttl: nil) == nil)
        #expect(try await self.store.get("k") == StoredValue(value: 2, version: v2))
        // Any other write moves the version on.
        let v3 = try await self.store.set("k", 4, ttl: nil)
        #expect(try await self.store.compareAndSet("k", expected: v2, 5, ttl: nil) == nil)
        #expect(try await self.store.compareAndSet("k", expected: v3, 5, ttl: nil) != nil)
    }

    @Test func compareAndSetOnAnExpiredKeyFails() async throws {
        let version = try await self.store.set("k", 1, ttl: .seconds(1))
        self.clock.advance(.seconds(2))
        #expect(try await self.store.compareAndSet("k", expected: version, 2, ttl: nil) == nil)
        #expect(try await self.store.get("k") == nil)
    }

    @Test func deleteExpected() async throws {
        let v1 = try await self.store.set("k", 1, ttl: nil)
        let v2 = try await self.store.set("k", 2, ttl: nil)
        #expect(try await self.store.delete("k", expected: v1) == false)
        #expect(try await self.store.get("k")?.version == v2)
        #expect(try await self.store.delete("k", expected: v2) == true)
        #expect(try await self.store.get("k") == nil)
        #expect(try await self.store.delete("k", expected: v2) == false)
    }

    @Test func deleteExpectedOnAnExpiredKeyFails() async throws {
        let version = try await self.store.set("k", 1, ttl: .seconds(1))
        self.clock.advance(.seconds(1))
        #expect(try await self.store.delete("k", expected: version) == false)
    }

    @Test func deleteReportsWhetherALiveKeyExisted() async throws {
        #expect(try await self.store.delete("missing") == false)
        try await self.store.set("k", 1, ttl: nil)
        #expect(try await self.store.delete("k") == true)
        #expect(try await self.store.get("k") == nil)
        #expect(try await self.store.delete("k") == false)
        try await self.store.set("short", 1, ttl: .seconds(1))
        self.clock.advance(.seconds(2))
        #expect(try await self.store.delete("short") == false)
    }

    @Test func keysWithPrefixAreLiveAndSorted() async throws {
        try await self.store.set("room:b", 1, ttl: nil)
        try await self.store.set("room:a", 1, ttl: nil)
        try await self.store.set("room:c", 1, ttl: .seconds(1))
        try await self.store.set("user:a", 1, ttl: nil)
        #expect(try await self.store.keys(withPrefix: "room:") == ["room:a", "room:b", "room:c"])
        self.clock.advance(.seconds(1))
        #expect(try await self.store.keys(withPrefix: "room:") == ["room:a", "room:b"])
        #expect(try await self.store.keys(withPrefix: "") == ["room:a", "room:b", "user:a"])
        #expect(try await self.store.keys(withPrefix: "nothing").isEmpty)
    }

    @Test func sweepKeepsLiveKeys() async throws {
        try await self.store.set("live", "v", ttl: nil)
        try await self.store.set("dying", "v", ttl: .seconds(1))
        self.clock.advance(.seconds(2))
        // Enough writes to trigger the periodic sweep of expired entries.
        for index in 0..<1100 { try await self.store.set("filler", .int(index), ttl: nil) }
        #expect(try await self.store.get("live")?.value == "v")
        #expect(try await self.store.get("filler")?.value == 1099)
        #expect(try await self.store.get("dying") == nil)
    }
}
