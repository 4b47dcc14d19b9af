import Foundation
public import Logging
public import RelayKernel
import SQLiteNIO

/// ``DurableStore`` in an SQLite file (WAL mode): the embedded default.
///
/// Schema versions are applied in order on open and recorded in `PRAGMA user_version`.
public final class SQLiteDurableStore: DurableStore {
    private let connection: SQLiteConnection

    /// The schema, one migration per version.
    static let migrations: [[String]] = [
        [
            """
            CREATE TABLE records (
                collection TEXT NOT NULL,
                id TEXT NOT NULL,
                seq INTEGER NOT NULL,
                data TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL,
                PRIMARY KEY (collection, id)
            )
            """,
            "CREATE UNIQUE INDEX records_by_seq ON records (collection, seq)",
        ]
    ]

    private init(connection: SQLiteConnection) {
        self.connection = connection
    }

    /// Opens (creating and migrating) the database at `path`.
    public static func open(path: String, logger: Logger) async throws -> SQLiteDurableStore {
        let connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        let store = SQLiteDurableStore(connection: connection)
        _ = try await connection.query("PRAGMA journal_mode=WAL", [])
        _ = try await connection.query("PRAGMA busy_timeout=5000", [])
        try await store.migrate(logger: logger)
        return store
    }

    private func migrate(logger: Logger) async throws {
        let rows = try await self.connection.query("PRAGMA user_version", [])
        let current = rows.first?.column("user_version")?.integer ?? 0
        for version in current..<Self.migrations.count {
            _ = try await self.connection.query("BEGIN IMMEDIATE", [])
            do {
                for statement in Self.migrations[version] { _ = try await self.connection.query(statement, []) }
                _ = try await self.connection.query("PRAGMA user_version = \(version + 1)", [])
                _ = try await self.connection.query("COMMIT", [])
            } catch {
                _ = try? await self.connection.query("ROLLBACK", [])
                throw error
            }
            logger.notice("store schema migrated", metadata: ["relay.store.version": "\(version + 1)"])
        }
    }

    /// Closes the database.
    public func close() async throws {
        try await self.connection.close()
    }

    public func put(_ collection: String, id: String, _ value: JSONValue) async throws -> DurableRecord {
        let now = Self.now()
        let rows = try await self.connection.query(
            """
            INSERT INTO records (collection, id, seq, data, created_at, updated_at)
            VALUES (?1, ?2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM records WHERE collection = ?1), ?3, ?4, ?4)
            ON CONFLICT (collection, id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at
            RETURNING created_at, seq
            """,
            [.text(collection), .text(id), .text(value.jsonText), .integer(Int(now))]
        )
        let createdAt = Int64(rows.first?.column("created_at")?.integer ?? Int(now))
        return DurableRecord(id: id, value: value, createdAt: createdAt, updatedAt: now)
    }

    public func append(_ collection: String, _ value: JSONValue) async throws -> DurableRecord {
        try await self.put(collection, id: UUID().uuidString.lowercased(), value)
    }

    public func get(_ collection: String, id: String) async throws -> DurableRecord? {
        let rows = try await self.connection.query(
            "SELECT id, data, created_at, updated_at FROM records WHERE collection = ?1 AND id = ?2",
            [.text(collection), .text(id)]
        )
        return try rows.first.map(Self.record)
    }

    public func delete(_ collection: String, id: String) async throws -> Bool {
        let rows = try await self.connection.query(
            "DELETE FROM records WHERE collection = ?1 AND id = ?2 RETURNING id",
            [.text(collection), .text(id)]
        )
        return !rows.isEmpty
    }

    public func list(_ collection: String, _ query: DurableQuery) async throws -> DurablePage {
        var sql = "SELECT id, data, created_at, updated_at, seq FROM records WHERE collection = ?1"
        var binds: [SQLiteData] = [.text(collection)]
        if let before = query.before {
            binds.append(.integer(Int(try DurableCursor.decode(before))))
            sql += " AND seq < ?\(binds.count)"
        }
        for field in query.filters.keys.sorted() {
            try DurableStoreError.validateField(field)
            binds.append(.text(query.filters[field]!.jsonText))
            sql += " AND json_quote(json_extract(data, '$.\(field)')) = json(?\(binds.count))"
        }
        binds.append(.integer(query.limit + 1))
        sql += " ORDER BY seq DESC LIMIT ?\(binds.count)"
        let rows = try await self.connection.query(sql, binds)
        let records = try rows.prefix(query.limit).map(Self.record)
        let next = rows.count > query.limit ? rows[query.limit - 1].column("seq")?.integer.map { DurableCursor.encode(Int64($0)) } : nil
        return DurablePage(records: records, nextCursor: next)
    }

    public func isReachable() async -> Bool {
        (try? await self.connection.query("SELECT 1", [])) != nil
    }

    private static func record(_ row: SQLiteRow) throws -> DurableRecord {
        guard let id = row.column("id")?.string, let text = row.column("data")?.string else {
            throw DurableStoreError("malformed record row")
        }
        return DurableRecord(
            id: id,
            value: try JSONParser.parse(Array(text.utf8)),
            createdAt: Int64(row.column("created_at")?.integer ?? 0),
            updatedAt: Int64(row.column("updated_at")?.integer ?? 0)
        )
    }

    private static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}
