/// `store:` — where durable records (history, registries) live.
public struct StoreSettings: Sendable, Equatable {
    /// SQLite file for durable records; when absent, records are kept in memory only.
    public var path: String?

    /// The defaults (records in memory).
    public init() {}
}

extension StoreSettings: Decodable {
    enum Keys: String, CodingKey, CaseIterable { case path }

    public init(from decoder: any Decoder) throws {
        let fields = ConfigFields(decoder, keys: Keys.self)
        self.path = fields.optional(.path)
        if let path = self.path, path.isEmpty { fields.invalid(.path, "must not be empty") }
    }
}
