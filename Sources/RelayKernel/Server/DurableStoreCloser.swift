import Logging
import ServiceLifecycle

/// Closes the durable store once everything that uses it has stopped (it is the first service
/// of the group, so it shuts down last).
struct DurableStoreCloser: Service {
    let store: any DurableStore
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        do {
            try await self.store.close()
        } catch {
            self.logger.warning("closing the store failed", metadata: ["error.type": "\(error)"])
        }
    }
}
