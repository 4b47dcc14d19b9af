import Logging
import RelayKernel
import RelaySQLite

/// Picks the durable store driver for a route file's `store:` settings.
enum DurableStoreOpener {
    static func open(_ settings: StoreSettings, logger: Logger) async throws -> any DurableStore {
        guard let path = settings.path else { return MemoryDurableStore() }
        return try await SQLiteDurableStore.open(path: path, logger: logger)
    }
}
