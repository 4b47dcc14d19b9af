/// A plugin instance's view of the durable store: every collection is prefixed with the
/// instance name.
struct ScopedDurableStore: DurableStore {
    let base: any DurableStore
    let prefix: String

    func put(_ collection: String, id: String, _ value: JSONValue) async throws -> DurableRecord {
        try await self.base.put(self.prefix + collection, id: id, value)
    }

    func append(_ collection: String, _ value: JSONValue) async throws -> DurableRecord {
        try await self.base.append(self.prefix + collection, value)
    }

    func get(_ collection: String, id: String) async throws -> DurableRecord? {
        try await self.base.get(self.prefix + collection, id: id)
    }

    func delete(_ collection: String, id: String) async throws -> Bool {
        try await self.base.delete(self.prefix + collection, id: id)
    }

    func list(_ collection: String, _ query: DurableQuery) async throws -> DurablePage {
        try await self.base.list(self.prefix + collection, query)
    }

    func isReachable() async -> Bool {
        await self.base.isReachable()
    }

    func close() async throws {
        // The shared store is closed by the relay, never by one plugin.
    }
}
