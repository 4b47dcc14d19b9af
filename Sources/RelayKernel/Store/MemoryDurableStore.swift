import Foundation
import Synchronization

/// ``DurableStore`` in memory: for tests and for deployments that keep no history.
public final class MemoryDurableStore: DurableStore {
    private struct Entry {
        var record: DurableRecord
        let sequence: Int64
    }

    private struct State {
        var collections: [String: [String: Entry]] = [:]
        var nextSequence: Int64 = 1
    }

    private let state = Mutex(State())

    /// An empty store.
    public init() {}

    public func put(_ collection: String, id: String, _ value: JSONValue) async throws -> DurableRecord {
        let now = Self.now()
        return self.state.withLock { state in
            if let existing = state.collections[collection]?[id] {
                let record = DurableRecord(id: id, value: value, createdAt: existing.record.createdAt, updatedAt: now)
                state.collections[collection]![id] = Entry(record: record, sequence: existing.sequence)
                return record
            }
            let record = DurableRecord(id: id, value: value, createdAt: now, updatedAt: now)
            state.collections[collection, default: [:]][id] = Entry(record: record, sequence: state.nextSequence)
            state.nextSequence += 1
            return record
        }
    }

    public func append(_ collection: String, _ value: JSONValue) async throws -> DurableRecord {
        try await self.put(collection, id: UUID().uuidString.lowercased(), value)
    }

    public func get(_ collection: String, id: String) async throws -> DurableRecord? {
        self.state.withLock { $0.collections[collection]?[id]?.record }
    }

    public func delete(_ collection: String, id: String) async throws -> Bool {
        self.state.withLock { $0.collections[collection]?.removeValue(forKey: id) != nil }
    }

    public func list(_ collection: String, _ query: DurableQuery) async throws -> DurablePage {
        for field in query.filters.keys { try DurableStoreError.validateField(field) }
        let before = try query.before.map(DurableCursor.decode)
        let entries = self.state.withLock { state in
            (state.collections[collection] ?? [:]).values
                .filter { entry in
                    (before.map { entry.sequence < $0 } ?? true)
                        && query.filters.allSatisfy { field, value in entry.record.value[field] == value }
                }
                .sorted { $0.sequence > $1.sequence }
        }
        let page = Array(entries.prefix(query.limit))
        let next = entries.count > query.limit ? page.last.map { DurableCursor.encode($0.sequence) } : nil
        return DurablePage(records: page.map(\.record), nextCursor: next)
    }

    public func isReachable() async -> Bool { true }

    public func close() async throws {}

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}

/// Opaque page cursors: the position of the last record of a page.
public enum DurableCursor {
    /// The cursor for a position.
    public static func encode(_ sequence: Int64) -> String {
        "c" + String(sequence, radix: 36)
    }

    /// The position of a cursor; throws for cursors this store did not issue.
    public static func decode(_ cursor: String) throws(DurableStoreError) -> Int64 {
        guard cursor.hasPrefix("c"), let value = Int64(cursor.dropFirst(), radix: 36), value > 0 else {
            throw DurableStoreError("invalid cursor")
        }
        return value
    }
}
