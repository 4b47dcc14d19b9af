import Foundation
public import Logging
import NIOCore
import Synchronization
public import PostgresNIO
import RelayKernel

/// A PostgreSQL database shared by the relay's stores and cluster components.
///
/// It owns a connection pool, ``client``, which runs from creation until ``close()``. Components that need a
/// connection of their own outside the pool (a `LISTEN` connection) use ``connectionConfiguration``.
///
/// ```swift
/// let database = try await PostgresDatabase.open(url: "postgres://relay:secret@db:5432/relay", logger: logger)
/// let values = PostgresKeyValueStore(database: database)
/// let records = PostgresDurableStore(database: database, ownsDatabase: true)
/// ```
public final class PostgresDatabase: Sendable {
    /// The connection pool; it runs until ``close()``.
    public let client: PostgresClient
    /// Settings for a dedicated connection to the same database, outside the pool.
    public let connectionConfiguration: PostgresConnection.Configuration
    /// Where the database is, for messages and logs: `user@host:port/database`, never the password.
    public let location: String
    let logger: Logger
    private let runTask: Task<Void, Never>
    /// Until when requests fail at once (the database was just found unreachable).
    private let unreachableUntil = Mutex<ContinuousClock.Instant?>(nil)

    /// How long ``isReachable()`` waits for an answer.
    static let reachabilityTimeout = Duration.seconds(2)

    /// Creates the pool for `url` and starts running it, without waiting for the server or migrating.
    init(url: String, logger: Logger) throws {
        let endpoint = try Endpoint(url: url)
        var clientConfiguration = PostgresClient.Configuration(
            host: endpoint.host,
            port: endpoint.port,
            username: endpoint.username,
            password: endpoint.password,
            database: endpoint.database,
            tls: .disable
        )
        // A request the relay gave up on (see `requestTimeout`) must not keep running in the
        // server: statements end after twice that.
        let statementTimeout = Self.requestTimeout.components.seconds * 2 * 1000
        clientConfiguration.options.additionalStartupParameters = [("statement_timeout", "\(statementTimeout)")]
        var connectionConfiguration = PostgresConnection.Configuration(
            host: endpoint.host,
            port: endpoint.port,
            username: endpoint.username,
            password: endpoint.password,
            database: endpoint.database,
            tls: .disable
        )
        if let tls = endpoint.tls {
            clientConfiguration.tls = .require(tls)
            connectionConfiguration.tls = .require(try NIOSSLContext(configuration: tls))
        }
        var logger = logger
        logger[metadataKey: "relay.database"] = "\(endpoint.location)"
        let client = PostgresClient(configuration: clientConfiguration, backgroundLogger: logger)
        self.client = client
        self.connectionConfiguration = connectionConfiguration
        self.location = endpoint.location
        self.logger = logger
        self.runTask = Task { await client.run() }
    }

    /// Connects to the database at `url` and brings its schema up to date.
    ///
    /// - Parameters:
    ///   - url: `postgres://user:password@host:port/database` (or `postgresql://`), with an optional
    ///     `?sslmode=disable` (the default), `require` (encrypted, certificate not checked, as libpq does) or
    ///     `verify-full` (encrypted, certificate and host name checked). Percent-encode reserved characters.
    ///   - logger: Where the pool and the migrations log.
    ///   - startupTimeout: How long to wait for a server that is still starting or not reachable yet.
    /// - Throws: ``PostgresDatabaseError`` for a malformed URL, a server that does not accept the connection
    ///   (wrong password, unknown database) or is not reachable within `startupTimeout`, or a failed migration.
    public static func open(url: String, logger: Logger, startupTimeout: Duration = .seconds(10)) async throws -> PostgresDatabase {
        let database = try PostgresDatabase(url: url, logger: logger)
        do {
            try await database.waitForServer(timeout: startupTimeout)
            do {
                try await PostgresSchema.migrate(database)
            } catch {
                throw PostgresDatabaseError("cannot migrate the schema of \(database.location): \(Self.reason(error))")
            }
        } catch {
            await database.close()
            throw error
        }
        return database
    }

    /// Whether the database answers a query within two seconds.
    public func isReachable() async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask { (try? await self.query("SELECT 1")) != nil }
            group.addTask {
                try? await Task.sleep(for: Self.reachabilityTimeout)
                return false
            }
            let reachable = await group.next() ?? false
            group.cancelAll()
            return reachable
        }
    }

    /// Stops the pool and closes its connections; the database cannot be used afterwards.
    public func close() async {
        self.runTask.cancel()
        await self.runTask.value
    }

    /// Runs `query` on a pooled connection and returns all its rows.
    ///
    /// Reading every row is what surfaces an error the server raises while the statement runs.
    @discardableResult
    func query(_ query: PostgresQuery, file: String = #fileID, line: Int = #line) async throws -> [PostgresRow] {
        try await self.reachable {
            try await self.client.query(query, logger: self.logger, file: file, line: line).collect()
        }
    }

    /// Runs `query` on `connection` and returns all its rows.
    @discardableResult
    func query(_ query: PostgresQuery, on connection: PostgresConnection, file: String = #fileID, line: Int = #line) async throws
        -> [PostgresRow]
    {
        try await connection.query(query, logger: self.logger, file: file, line: line).collect()
    }

    /// Runs `body` in a transaction on one pooled connection: committed if it returns, rolled back if it throws.
    /// With `snapshot`, a read-only transaction whose statements all see one snapshot (repeatable read).
    func withTransaction<Result: Sendable>(snapshot: Bool = false, _ body: @escaping @Sendable (PostgresConnection) async throws -> Result) async throws -> Result {
        try await self.reachable {
            try await self.client.withConnection { connection in
                try await self.withTransaction(on: connection, snapshot: snapshot, body)
            }
        }
    }

    /// Runs `query` on `connection` if given (one outside the pool), else on a pooled one.
    @discardableResult
    func query(_ query: PostgresQuery, via connection: PostgresConnection?, file: String = #fileID, line: Int = #line) async throws -> [PostgresRow] {
        if let connection { return try await self.query(query, on: connection, file: file, line: line) }
        return try await self.query(query, file: file, line: line)
    }

    /// Runs `body` in a transaction on `connection`: committed if it returns, rolled back if it
    /// throws (`snapshot`: read only, one snapshot for every statement).
    func withTransaction<Result: Sendable>(
        on connection: PostgresConnection,
        snapshot: Bool = false,
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await self.query(snapshot ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN", on: connection)
        do {
            let result = try await body(connection)
            try await self.query("COMMIT", on: connection)
            return result
        } catch {
            _ = try? await self.query("ROLLBACK", on: connection)
            throw error
        }
    }

    /// How long a pooled request may take before it counts as the database being unreachable.
    static let requestTimeout = Duration.seconds(5)
    /// After a request found the database unreachable, how long others fail at once instead
    /// of each waiting ``requestTimeout``.
    static let outageHold = Duration.seconds(3)

    /// Runs a pooled request within ``requestTimeout``; a server that cannot be reached (or
    /// does not answer in time) becomes ``StoreUnavailableError``, which the kernel answers
    /// with `unavailable` instead of failing the plugin.
    private func reachable<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let location = self.location
        if let until = self.unreachableUntil.withLock({ $0 }), ContinuousClock.now < until {
            throw StoreUnavailableError("\(location) was unreachable a moment ago")
        }
        do {
            return try await withTimeLimit(Self.requestTimeout, timeoutError: { StoreUnavailableError("no answer from \(location) within \(Self.requestTimeout)") }, body)
        } catch let error as PSQLError where Self.isTransient(error) {
            self.unreachableUntil.withLock { $0 = .now + Self.outageHold }
            throw StoreUnavailableError("\(location): \(Self.reason(error))")
        } catch let error as StoreUnavailableError {
            self.unreachableUntil.withLock { $0 = .now + Self.outageHold }
            throw error
        }
    }

    /// Opens and closes test connections until one succeeds; the last attempt starts when `timeout` is up.
    ///
    /// Refusals that waiting cannot fix (authentication, unknown database, TLS unsupported) fail at once.
    private func waitForServer(timeout: Duration) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var delay = Duration.milliseconds(100)
        for attempt in 1... {
            var configuration = self.connectionConfiguration
            configuration.options.connectTimeout = TimeAmount(max(clock.now.duration(to: deadline), .seconds(1)))
            do {
                let connection = try await PostgresConnection.connect(configuration: configuration, id: attempt, logger: self.logger)
                try? await connection.close()
                return
            } catch {
                let reason = Self.reason(error)
                let remaining = clock.now.duration(to: deadline)
                guard Self.isTransient(error), remaining > .zero else {
                    throw PostgresDatabaseError("cannot connect to PostgreSQL at \(self.location): \(reason)")
                }
                self.logger.info("PostgreSQL not reachable yet, retrying", metadata: ["error.message": "\(reason)"])
                try await Task.sleep(for: min(delay, remaining))
                delay = min(delay * 2, .seconds(2))
            }
        }
    }

    /// Whether waiting may fix `error`: a connection that failed, or a server that is starting or shutting down.
    private static func isTransient(_ error: any Error) -> Bool {
        guard let error = error as? PSQLError else { return true }
        if let state = error.serverInfo?[.sqlState] {
            return state.hasPrefix("57") || state.hasPrefix("08")
        }
        return error.code != .sslUnsupported
    }

    /// A readable reason for `error` (PSQLError's own description says nothing, on purpose).
    static func reason(_ error: any Error) -> String {
        guard let error = error as? PSQLError else { return "\(error)" }
        if let message = error.serverInfo?[.message] {
            return "\(message) (SQLSTATE \(error.serverInfo?[.sqlState] ?? "unknown"))"
        }
        if let underlying = error.underlying {
            return "\(error.code): \(underlying)"
        }
        return "\(error.code)"
    }
}

extension PostgresDatabase {
    /// The parts of a database URL.
    private struct Endpoint {
        var host: String
        var port: Int
        var username: String
        var password: String?
        var database: String?
        var tls: TLSConfiguration?

        /// `user@host:port/database`.
        var location: String { "\(self.username)@\(self.host):\(self.port)/\(self.database ?? self.username)" }

        init(url: String) throws(PostgresDatabaseError) {
            let expected = "expected postgres://user:password@host:port/database"
            guard let components = URLComponents(string: url), let scheme = components.scheme else {
                throw PostgresDatabaseError("malformed database URL (\(expected))")
            }
            guard scheme == "postgres" || scheme == "postgresql" else {
                throw PostgresDatabaseError("unsupported database URL scheme '\(scheme)' (\(expected))")
            }
            guard var host = components.host, !host.isEmpty else {
                throw PostgresDatabaseError("database URL has no host (\(expected))")
            }
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard let username = components.user, !username.isEmpty else {
                throw PostgresDatabaseError("database URL has no user name (\(expected))")
            }
            let port = components.port ?? 5432
            guard (1...65535).contains(port) else {
                throw PostgresDatabaseError("database URL port \(port) is out of range")
            }
            let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
            guard !path.contains("/") else {
                throw PostgresDatabaseError("database URL path must be a single database name (\(expected))")
            }
            self.host = host
            self.port = port
            self.username = username
            self.password = components.password
            self.database = path.isEmpty ? nil : path
            self.tls = nil
            for item in components.queryItems ?? [] {
                guard item.name == "sslmode" else {
                    throw PostgresDatabaseError("unsupported database URL parameter '\(item.name)' (only sslmode)")
                }
                switch item.value {
                case "disable":
                    self.tls = nil
                case "require":
                    var tls = TLSConfiguration.makeClientConfiguration()
                    tls.certificateVerification = .none
                    self.tls = tls
                case "verify-full":
                    self.tls = TLSConfiguration.makeClientConfiguration()
                default:
                    throw PostgresDatabaseError(
                        "unsupported sslmode '\(item.value ?? "")' (expected disable, require or verify-full)"
                    )
                }
            }
        }
    }
}

/// Why a ``PostgresDatabase`` could not be opened; messages never contain the password.
public struct PostgresDatabaseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong.
    public let message: String

    /// Creates an error.
    public init(_ message: String) {
        self.message = message
    }

    public var description: String { self.message }
}
