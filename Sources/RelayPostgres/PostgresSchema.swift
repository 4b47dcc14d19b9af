import Logging
import PostgresNIO

/// The relay's tables: versioned migrations applied in order whenever a node opens the database.
///
/// Each version runs in its own transaction under a transaction-level advisory lock, and is recorded in
/// `relay_schema_migrations`; nodes starting at the same moment therefore apply each version exactly once.
/// Versions this node does not know (applied by a newer node) are left alone.
enum PostgresSchema {
    /// Key of the advisory lock that serializes migrations across nodes ("RELAY" in ASCII).
    static let advisoryLockKey: Int64 = 0x52_45_4C_41_59

    /// The schema: `migrations[n - 1]` holds the statements of version `n`.
    ///
    /// Append new versions at the end; never edit a version that has been released.
    static let migrations: [[String]] = [
        // Version 1: PostgresKeyValueStore and PostgresDurableStore.
        [
            // Versions of every key come from one sequence, so they increase across the cluster.
            "CREATE SEQUENCE relay_kv_version",
            // `C` collation: byte order for `keys(withPrefix:)`, and a prefix `LIKE` can use the primary key.
            """
            CREATE TABLE relay_kv (
                key text COLLATE "C" PRIMARY KEY,
                value text NOT NULL,
                version bigint NOT NULL,
                expires_at timestamptz
            )
            """,
            "CREATE INDEX relay_kv_by_expiry ON relay_kv (expires_at) WHERE expires_at IS NOT NULL",
            // `json` keeps the exact text written; `seq` orders a collection (newest first) and is its cursor.
            """
            CREATE TABLE relay_records (
                collection text NOT NULL,
                id text NOT NULL,
                seq bigint GENERATED ALWAYS AS IDENTITY,
                data json NOT NULL,
                created_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL,
                PRIMARY KEY (collection, id)
            )
            """,
            "CREATE UNIQUE INDEX relay_records_by_seq ON relay_records (collection, seq)",
        ],
        // Version 2: the cluster backplane.
        PostgresClusterSchema.version2,
        // Version 3: the cluster backplane with node inboxes and client journals.
        PostgresClusterSchema.version3,
        // Next version goes here.
    ]

    /// Applies the versions `database` lacks.
    static func migrate(_ database: PostgresDatabase) async throws {
        for (index, statements) in Self.migrations.enumerated() {
            let version = Int32(index + 1)
            let applied = try await database.withTransaction { connection in
                try await database.query("SELECT pg_advisory_xact_lock(\(Self.advisoryLockKey))", on: connection)
                try await database.query(
                    """
                    CREATE TABLE IF NOT EXISTS relay_schema_migrations (
                        version int PRIMARY KEY,
                        applied_at timestamptz NOT NULL DEFAULT now()
                    )
                    """,
                    on: connection
                )
                let done = try await database.query(
                    "SELECT 1 FROM relay_schema_migrations WHERE version = \(version)",
                    on: connection
                )
                guard done.isEmpty else { return false }
                for statement in statements {
                    try await database.query(PostgresQuery(unsafeSQL: statement), on: connection)
                }
                try await database.query("INSERT INTO relay_schema_migrations (version) VALUES (\(version))", on: connection)
                return true
            }
            if applied {
                database.logger.notice("store schema migrated", metadata: ["relay.store.version": "\(version)"])
            }
        }
    }
}
