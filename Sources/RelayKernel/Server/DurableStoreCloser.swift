import Logging
import ServiceLifecycle

/// Closes the durable store once everything that uses it has stopped (it is the first service
/// of the group, so it shuts down last).
struct DurableStoreCloser: Service {
    let store: any DurableStore
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        // Close even when the group is being cancelled (a failed start): the close must not be
        // cancelled with it, so it runs in a task of its own.
        let store = self.store
        do {
            try await Task { try await store.close() }.value
        } catch {
            self.logger.warning("closing the store failed", metadata: ["error.type": "\(error)"])
        }
    }
}
