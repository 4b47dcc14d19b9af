import Foundation
import PostgresNIO
public import RelayKernel

/// ``DurableStore`` in PostgreSQL (table `relay_records`): records shared by every node of a cluster.
///
/// Records keep the exact JSON text written. A collection is ordered by a sequence number that a replacing
/// ``put(_:id:_:)`` keeps; listings filter on top-level fields by comparing their JSON text, and page by that
/// number. Times come from the database clock.
///
/// ``close()`` closes the ``PostgresDatabase`` only when the store was created with `ownsDatabase: true`; the
/// relay gives ownership to this store, since ``PostgresKeyValueStore`` never closes the database.
public final class PostgresDurableStore: DurableStore {
    private let database: PostgresDatabase
    private let ownsDatabase: Bool

    /// Milliseconds since 1970 of a `timestamptz` column.
    private static func milliseconds(_ column: String) -> String {
        "floor(extract(epoch FROM \(column)) * 1000)::int8"
    }

    private static let recordColumns = "id, data, \(milliseconds("created_at")), \(milliseconds("updated_at"))"

    /// A store in `database`, whose schema ``PostgresDatabase/open(url:logger:startupTimeout:)`` has created.
    ///
    /// - Parameters:
    ///   - database: The database.
    ///   - ownsDatabase: Whether ``close()`` closes `database` too.
    public init(database: PostgresDatabase, ownsDatabase: Bool) {
        self.database = database
        self.ownsDatabase = ownsDatabase
    }

    @discardableResult
    public func put(_ collection: String, id: String, _ value: JSONValue) async throws -> DurableRecord {
        let rows = try await self.database.query(
            """
            INSERT INTO relay_records (collection, id, data, created_at, updated_at)
            VALUES (\(collection), \(id), \(value.jsonText)::json, now(), now())
            ON CONFLICT (collection, id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at
            RETURNING \(unescaped: Self.milliseconds("created_at")), \(unescaped: Self.milliseconds("updated_at"))
            """
        )
        guard let row = rows.first else { throw DurableStoreError("put returned no row") }
        let (createdAt, updatedAt) = try row.decode((Int64, Int64).self)
        return DurableRecord(id: id, value: value, createdAt: createdAt, updatedAt: updatedAt)
    }

    public func append(_ collection: String, _ value: JSONValue) async throws -> DurableRecord {
        try await self.put(collection, id: UUID().uuidString.lowercased(), value)
    }

    public func get(_ collection: String, id: String) async throws -> DurableRecord? {
        let rows = try await self.database.query(
            "SELECT \(unescaped: Self.recordColumns) FROM relay_records WHERE collection = \(collection) AND id = \(id)"
        )
        return try rows.first.map(Self.record)
    }

    @discardableResult
    public func delete(_ collection: String, id: String) async throws -> Bool {
        let rows = try await self.database.query("DELETE FROM relay_records WHERE collection = \(collection) AND id = \(id) RETURNING 1")
        return !rows.isEmpty
    }

    public func list(_ collection: String, _ query: DurableQuery) async throws -> DurablePage {
        var sql = "SELECT \(Self.recordColumns), seq FROM relay_records WHERE collection = $1"
        var binds = PostgresBindings()
        binds.append(collection)
        if let before = query.before {
            binds.append(try DurableCursor.decode(before))
            sql += " AND seq < $\(binds.count)"
        }
        for field in query.filters.keys.sorted() {
            try DurableStoreError.validateField(field)
            binds.append(field)
            binds.append(query.filters[field]!.jsonText)
            sql += " AND (data -> $\(binds.count - 1))::text = $\(binds.count)"
        }
        let limit = max(query.limit, 0)
        binds.append(Int64(limit) + 1)
        sql += " ORDER BY seq DESC LIMIT $\(binds.count)"
        let rows = try await self.database.query(PostgresQuery(unsafeSQL: sql, binds: binds))
        let records = try rows.prefix(limit).map(Self.record)
        let next = limit > 0 && rows.count > limit ? DurableCursor.encode(try Self.sequence(rows[limit - 1])) : nil
        return DurablePage(records: records, nextCursor: next)
    }

    public func isReachable() async -> Bool {
        await self.database.isReachable()
    }

    /// Closes the database if this store owns it.
    public func close() async throws {
        if self.ownsDatabase { await self.database.close() }
    }

    /// The record in a row that starts with ``recordColumns``.
    private static func record(_ row: PostgresRow) throws -> DurableRecord {
        let (id, text, createdAt, updatedAt) = try row.decode((String, String, Int64, Int64).self)
        return DurableRecord(id: id, value: try JSONParser.parse(Array(text.utf8)), createdAt: createdAt, updatedAt: updatedAt)
    }

    /// The `seq` of a listed row.
    private static func sequence(_ row: PostgresRow) throws -> Int64 {
        try row.decode((String, String, Int64, Int64, Int64).self).4
    }
}
