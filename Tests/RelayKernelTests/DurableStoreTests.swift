import Foundation
import Logging
import RelayKernel
import RelaySQLite
import Testing

/// The same contract checked on every ``DurableStore`` implementation.
@Suite("DurableStore")
struct DurableStoreTests {
    static func stores() async throws -> [(String, any DurableStore)] {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("relay-\(UUID().uuidString).sqlite").path
        let sqlite = try await SQLiteDurableStore.open(path: path, logger: Logger(label: "test"))
        return [("memory", MemoryDurableStore()), ("sqlite", sqlite)]
    }

    /// Runs `body` on each store, closing them afterwards.
    static func withStores(_ body: (String, any DurableStore) async throws -> Void) async throws {
        let stores = try await Self.stores()
        for (name, store) in stores {
            do {
                try await body(name, store)
            } catch {
                for (_, store) in stores { try? await store.close() }
                throw error
            }
        }
        for (_, store) in stores { try await store.close() }
    }

    @Test func putGetReplaceDelete() async throws {
        try await Self.withStores { name, store in
            let first = try await store.put("streams", id: "s1", ["name": "cam", "n": 1])
            let replaced = try await store.put("streams", id: "s1", ["name": "cam", "n": 2])
            #expect(replaced.createdAt == first.createdAt, "\(name)")
            #expect(try await store.get("streams", id: "s1")?.value == ["name": "cam", "n": 2], "\(name)")
            #expect(try await store.get("other", id: "s1") == nil, "\(name): collections are separate")
            #expect(try await store.delete("streams", id: "s1"), "\(name)")
            #expect(try await store.delete("streams", id: "s1") == false, "\(name)")
            #expect(try await store.get("streams", id: "s1") == nil, "\(name)")
        }
    }

    @Test func listPagesNewestFirstWithFilters() async throws {
        try await Self.withStores { name, store in
            for index in 0..<7 {
                _ = try await store.append("alerts", ["stream": .string(index % 2 == 0 ? "a" : "b"), "index": .int(index)])
            }
            let first = try await store.list("alerts", DurableQuery(limit: 3))
            #expect(first.records.map { $0.value["index"]?.intValue } == [6, 5, 4], "\(name)")
            let cursor = try #require(first.nextCursor, "\(name)")
            let second = try await store.list("alerts", DurableQuery(before: cursor, limit: 3))
            #expect(second.records.map { $0.value["index"]?.intValue } == [3, 2, 1], "\(name)")
            let last = try await store.list("alerts", DurableQuery(before: second.nextCursor, limit: 3))
            #expect(last.records.map { $0.value["index"]?.intValue } == [0], "\(name)")
            #expect(last.nextCursor == nil, "\(name)")
            let filtered = try await store.list("alerts", DurableQuery(filters: ["stream": "a"], limit: 10))
            #expect(filtered.records.map { $0.value["index"]?.intValue } == [6, 4, 2, 0], "\(name)")
            let exact = try await store.list("alerts", DurableQuery(filters: ["stream": "a"], limit: 4))
            #expect(exact.nextCursor == nil, "\(name): a page that ends the listing has no cursor")
        }
    }

    @Test func badCursorsAndFieldsAreRefused() async throws {
        try await Self.withStores { name, store in
            await #expect(throws: DurableStoreError.self, "\(name)") {
                _ = try await store.list("alerts", DurableQuery(before: "garbage"))
            }
            await #expect(throws: DurableStoreError.self, "\(name)") {
                _ = try await store.list("alerts", DurableQuery(filters: ["a') OR 1=1 --": 1]))
            }
        }
    }

    @Test func sqliteKeepsRecordsAcrossReopen() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("relay-\(UUID().uuidString).sqlite").path
        let store = try await SQLiteDurableStore.open(path: path, logger: Logger(label: "test"))
        _ = try await store.append("alerts", ["message": "kept"])
        try await store.close()
        let reopened = try await SQLiteDurableStore.open(path: path, logger: Logger(label: "test"))
        let page = try await reopened.list("alerts", DurableQuery())
        #expect(page.records.map { $0.value["message"] } == ["kept"])
        #expect(await reopened.isReachable())
        try await reopened.close()
    }
}
