import Logging
import Synchronization

/// The shared services behind every ``PluginContext``: hub, store, timers and the current keys.
final class PluginRuntime: Sendable {
    struct Keys: Sendable {
        var verifier: TokenVerifier?
        var apiKey: String?
    }

    let hub: RelayHub
    let timers: RelayTimers
    /// The clock plugins read (the timers' clock).
    var clock: RelayClock { self.timers.clock }
    let store: any KeyValueStore
    let records: any DurableStore
    let logger: Logger
    private let keys: Mutex<Keys>

    init(hub: RelayHub, timers: RelayTimers, store: any KeyValueStore, records: any DurableStore, keys: Keys, logger: Logger) {
        self.hub = hub
        self.timers = timers
        self.store = store
        self.records = records
        self.keys = Mutex(keys)
        self.logger = logger
    }

    func verifier() -> TokenVerifier? { self.keys.withLock { $0.verifier } }

    /// Verifies `token` with the current keys; throws `unauthenticated` with the reason (no keys
    /// configured, or what the verifier refused).
    func verify(_ token: String) async throws(RelayError) -> VerifiedIdentity {
        guard let verifier = self.verifier() else { throw RelayError(.unauthenticated, "no token keys are configured") }
        do {
            return try await verifier.verify(token)
        } catch {
            throw RelayError(.unauthenticated, error.reason)
        }
    }

    func apiKey() -> String? { self.keys.withLock { $0.apiKey } }

    func replaceKeys(_ keys: Keys) { self.keys.withLock { $0 = keys } }

    /// A context for `instance`, about `client`, for a message that came through `route`.
    func context(instance: String, client: ClientInfo?, route: CompiledRoute?, logger: Logger? = nil) -> PluginContext {
        PluginContext(instance: instance, client: client, baseLogger: logger ?? self.logger, runtime: self, route: route)
    }
}
