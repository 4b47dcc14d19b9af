import Logging
import PostgresNIO
public import RelayKernel
import Synchronization

/// ``KeyValueStore`` in PostgreSQL (table `relay_kv`): shared plugin state for every node of a cluster.
///
/// Expiry follows the database clock, so nodes agree on it whatever their own clocks say. Versions come from one
/// database sequence and increase on every write. Each write is one statement, so ``insert(_:_:ttl:)`` is atomic
/// across nodes: of several nodes inserting the same key, exactly one succeeds.
///
/// Expired rows read as absent; every ``sweepInterval`` writes, the node deletes rows that expired more than a
/// minute earlier, so the table does not grow without bound.
///
/// The store never closes its ``PostgresDatabase``; whoever opened the database does (see ``PostgresDurableStore``).
public final class PostgresKeyValueStore: KeyValueStore {
    private let database: PostgresDatabase
    private let writesSinceSweep = Mutex(0)

    /// Writes of this node between two sweeps of expired rows.
    static let sweepInterval = 1024
    /// The condition for a row that has not expired.
    private static let live = "(expires_at IS NULL OR expires_at > now())"

    /// A store in `database`, whose schema ``PostgresDatabase/open(url:logger:startupTimeout:)`` has created.
    public init(database: PostgresDatabase) {
        self.database = database
    }

    public func get(_ key: String) async throws -> StoredValue? {
        let rows = try await self.database.query("SELECT value, version FROM relay_kv WHERE key = \(key) AND \(unescaped: Self.live)")
        guard let row = rows.first else { return nil }
        let (text, version) = try row.decode((String, Int64).self)
        return StoredValue(value: try JSONParser.parse(Array(text.utf8)), version: UInt64(version))
    }

    @discardableResult
    public func set(_ key: String, _ value: JSONValue, ttl: Duration?) async throws -> UInt64 {
        let rows = try await self.database.query(
            """
            INSERT INTO relay_kv (key, value, version, expires_at)
            VALUES (\(key), \(value.jsonText), nextval('relay_kv_version'), now() + \(Self.seconds(ttl)) * interval '1 second')
            ON CONFLICT (key) DO UPDATE
            SET value = excluded.value, version = nextval('relay_kv_version'), expires_at = excluded.expires_at
            RETURNING version
            """
        )
        return try await self.written(rows)!
    }

    public func insert(_ key: String, _ value: JSONValue, ttl: Duration?) async throws -> UInt64? {
        let rows = try await self.database.query(
            """
            INSERT INTO relay_kv AS current (key, value, version, expires_at)
            VALUES (\(key), \(value.jsonText), nextval('relay_kv_version'), now() + \(Self.seconds(ttl)) * interval '1 second')
            ON CONFLICT (key) DO UPDATE
            SET value = excluded.value, version = nextval('relay_kv_version'), expires_at = excluded.expires_at
            WHERE current.expires_at <= now()
            RETURNING version
            """
        )
        return try await self.written(rows)
    }

    public func compareAndSet(_ key: String, expected: UInt64, _ value: JSONValue, ttl: Duration?) async throws -> UInt64? {
        guard let expected = Int64(exactly: expected) else { return nil }
        let rows = try await self.database.query(
            """
            UPDATE relay_kv
            SET value = \(value.jsonText), version = nextval('relay_kv_version'),
                expires_at = now() + \(Self.seconds(ttl)) * interval '1 second'
            WHERE key = \(key) AND version = \(expected) AND \(unescaped: Self.live)
            RETURNING version
            """
        )
        return try await self.written(rows)
    }

    @discardableResult
    public func delete(_ key: String) async throws -> Bool {
        let rows = try await self.database.query("DELETE FROM relay_kv WHERE key = \(key) RETURNING \(unescaped: Self.live)")
        return try rows.first?.decode(Bool.self) ?? false
    }

    public func delete(_ key: String, expected: UInt64) async throws -> Bool {
        guard let expected = Int64(exactly: expected) else { return false }
        let rows = try await self.database.query(
            "DELETE FROM relay_kv WHERE key = \(key) AND version = \(expected) AND \(unescaped: Self.live) RETURNING 1"
        )
        return !rows.isEmpty
    }

    public func keys(withPrefix prefix: String) async throws -> [String] {
        let rows = try await self.database.query(
            "SELECT key FROM relay_kv WHERE key LIKE \(Self.likePattern(prefix: prefix)) ESCAPE '\\' AND \(unescaped: Self.live) ORDER BY key"
        )
        return try rows.map { try $0.decode(String.self) }
    }

    /// Deletes rows that expired more than a minute ago (a minute keeps the sweep off keys being rewritten),
    /// at most 10 000 at a time, skipping rows another node is sweeping or writing.
    func sweep() async throws {
        try await self.database.query(
            """
            DELETE FROM relay_kv WHERE key IN (
                SELECT key FROM relay_kv WHERE expires_at < now() - interval '1 minute' LIMIT 10000 FOR UPDATE SKIP LOCKED
            )
            """
        )
    }

    /// The version a write returned, or `nil` if it wrote nothing; counts the write towards the next sweep.
    private func written(_ rows: [PostgresRow]) async throws -> UInt64? {
        guard let row = rows.first else { return nil }
        let version = UInt64(try row.decode(Int64.self))
        let due = self.writesSinceSweep.withLock { count in
            count += 1
            guard count >= Self.sweepInterval else { return false }
            count = 0
            return true
        }
        if due {
            do {
                try await self.sweep()
            } catch {
                self.database.logger.debug(
                    "sweeping expired keys failed",
                    metadata: ["error.message": "\(PostgresDatabase.reason(error))"]
                )
            }
        }
        return version
    }

    /// `ttl` in seconds (`nil`: no expiry); a `Double` is exact to the microsecond, PostgreSQL's precision, for
    /// two centuries.
    private static func seconds(_ ttl: Duration?) -> Double? {
        ttl.map { Double($0.components.seconds) + Double($0.components.attoseconds) * 1e-18 }
    }

    /// A `LIKE` pattern matching strings that start with `prefix`, with `\` as the escape character.
    static func likePattern(prefix: String) -> String {
        var pattern = ""
        for character in prefix {
            if character == "\\" || character == "%" || character == "_" { pattern.append("\\") }
            pattern.append(character)
        }
        return pattern + "%"
    }
}
