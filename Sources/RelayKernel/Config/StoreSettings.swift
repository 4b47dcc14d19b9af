/// `store:` — where durable records (history, registries) and shared plugin state live.
public struct StoreSettings: Sendable, Equatable {
    /// The store driver.
    public enum Backend: String, Sendable, Equatable {
        /// Records in process memory (lost on restart).
        case memory
        /// Records in the SQLite file `path` (the embedded default); shared state in memory.
        case sqlite
        /// Records and shared state in PostgreSQL (`RELAY_DATABASE_URL`); what a cluster uses.
        case postgres
    }

    /// SQLite file for durable records (implies `backend: sqlite`).
    public var path: String?
    /// The driver: `sqlite` when `path` is set, `postgres` for a cluster, else `memory`.
    public var backend = Backend.memory

    /// The defaults (records in memory).
    public init() {}
}

extension StoreSettings: Decodable {
    enum Keys: String, CodingKey, CaseIterable { case path, backend }

    public init(from decoder: any Decoder) throws {
        let fields = ConfigFields(decoder, keys: Keys.self)
        self.path = fields.optional(.path)
        if let path = self.path, path.isEmpty { fields.invalid(.path, "must not be empty") }
        let backend: String? = fields.optional(.backend)
        switch backend.map({ Backend(rawValue: $0) }) {
        case .none:
            self.backend = self.path == nil ? .memory : .sqlite
        case .some(.none):
            fields.invalid(.backend, "must be memory, sqlite or postgres")
        case .some(.some(let chosen)):
            self.backend = chosen
            if chosen == .sqlite, self.path == nil { fields.invalid(.backend, "sqlite needs store.path") }
            if chosen != .sqlite, self.path != nil { fields.invalid(.path, "only the sqlite backend uses a path") }
        }
        try fields.finish()
    }
}
