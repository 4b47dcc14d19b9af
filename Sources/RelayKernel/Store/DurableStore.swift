/// A record kept by a ``DurableStore``.
public struct DurableRecord: Sendable, Equatable {
    /// The record's id within its collection.
    public let id: String
    /// The record.
    public let value: JSONValue
    /// Creation time, milliseconds since 1970.
    public let createdAt: Int64
    /// Last write time, milliseconds since 1970.
    public let updatedAt: Int64

    /// Creates a record.
    public init(id: String, value: JSONValue, createdAt: Int64, updatedAt: Int64) {
        self.id = id
        self.value = value
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// Which records of a collection to list, newest first.
public struct DurableQuery: Sendable, Equatable {
    /// Top-level fields that must equal these values.
    public var filters: [String: JSONValue]
    /// The `nextCursor` of the previous page, to continue after it.
    public var before: String?
    /// The most records to return.
    public var limit: Int

    /// Creates a query.
    public init(filters: [String: JSONValue] = [:], before: String? = nil, limit: Int = 50) {
        self.filters = filters
        self.before = before
        self.limit = limit
    }
}

/// One page of a listing.
public struct DurablePage: Sendable, Equatable {
    /// The records, newest first.
    public let records: [DurableRecord]
    /// Opaque cursor for the next (older) page, `nil` at the end.
    public let nextCursor: String?

    /// Creates a page.
    public init(records: [DurableRecord], nextCursor: String?) {
        self.records = records
        self.nextCursor = nextCursor
    }
}

/// Records that outlive the process (history, registries): collections of JSON records with
/// ids, kept in insertion order and listed newest first with cursors.
///
/// The embedded default is an SQLite file; a cluster uses PostgreSQL. Plugins see their own
/// collections only (``PluginContext/records``).
public protocol DurableStore: Sendable {
    /// Creates or replaces the record `id`; a replaced record keeps its creation time and place.
    @discardableResult
    func put(_ collection: String, id: String, _ value: JSONValue) async throws -> DurableRecord

    /// Appends a record with a new id.
    func append(_ collection: String, _ value: JSONValue) async throws -> DurableRecord

    /// The record `id`, or `nil`.
    func get(_ collection: String, id: String) async throws -> DurableRecord?

    /// Removes the record `id`; returns whether it existed.
    @discardableResult
    func delete(_ collection: String, id: String) async throws -> Bool

    /// Lists records newest first, filtered, from a cursor.
    func list(_ collection: String, _ query: DurableQuery) async throws -> DurablePage

    /// Whether the store can be reached (for `/readyz`).
    func isReachable() async -> Bool

    /// Releases the store's resources; called once when the relay stops.
    func close() async throws
}

/// Why a ``DurableStore`` refused a request.
public struct DurableStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What was wrong.
    public let message: String

    /// Creates an error.
    public init(_ message: String) {
        self.message = message
    }

    public var description: String { self.message }

    /// Field names usable in filters: letters, digits and `_`.
    public static func validateField(_ name: String) throws(DurableStoreError) {
        guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
            throw DurableStoreError("invalid filter field '\(name)'")
        }
    }
}
