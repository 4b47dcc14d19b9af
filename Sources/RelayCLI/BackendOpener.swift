import Logging
import RelayKernel
import RelayPostgres
import RelaySQLite

/// Opens the store and cluster drivers a route file's `store:` and `cluster:` ask for.
enum BackendOpener {
    /// Why the backends cannot be opened.
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static func open(_ configuration: RelayConfiguration, environment: [String: String], logger: Logger) async throws -> RelayBackends {
        switch configuration.store.backend {
        case .memory:
            return .inMemory()
        case .sqlite:
            let records = try await SQLiteDurableStore.open(path: configuration.store.path ?? "relay-data.sqlite", logger: logger)
            return RelayBackends(store: MemoryKeyValueStore(), records: records)
        case .postgres:
            guard let url = environment["RELAY_DATABASE_URL"], !url.isEmpty else {
                let who = configuration.cluster.isEnabled ? "cluster.backend: postgres" : "store.backend: postgres"
                throw Failure(description: "\(who) needs the database URL in RELAY_DATABASE_URL (postgres://user:password@host:port/database)")
            }
            let database = try await PostgresDatabase.open(url: url, logger: logger)
            let cluster = configuration.cluster.isEnabled ? PostgresBackplane(database: database, settings: configuration.cluster, logger: logger) : nil
            return RelayBackends(
                store: PostgresKeyValueStore(database: database),
                records: PostgresDurableStore(database: database, ownsDatabase: true),
                cluster: cluster
            )
        }
    }
}
