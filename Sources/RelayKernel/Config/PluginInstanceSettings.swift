/// One entry of `plugins:` — a named instance of a registered plugin with its own settings.
public struct PluginInstanceSettings: Sendable {
    /// Instance name (the key under `plugins:`).
    public var name: String
    /// Registered plugin name.
    public var plugin: String
    /// The plugin's settings, decoded by the plugin itself.
    public var config: JSONValue
    /// Key path of `config`, for error messages.
    var configPath: [AnyCodingKey]
}

extension PluginInstanceSettings: Equatable {
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.name == rhs.name && lhs.plugin == rhs.plugin && lhs.config == rhs.config
    }
}

extension PluginInstanceSettings: Decodable {
    enum Keys: String, CodingKey, CaseIterable { case plugin, config }

    public init(from decoder: any Decoder) throws {
        let fields = ConfigFields(decoder, keys: Keys.self)
        self.name = decoder.codingPath.last?.stringValue ?? ""
        self.plugin = fields.required(.plugin) ?? ""
        self.config = fields.optional(.config) ?? .object([:])
        self.configPath = decoder.codingPath.map { AnyCodingKey($0.stringValue) } + [AnyCodingKey("config")]
        // The name is the key under `plugins:` (none when the entry is decoded on its own).
        if !decoder.codingPath.isEmpty, self.name.isEmpty || !self.name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) {
            fields.record(DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "instance names use letters, digits, '-' and '_'")))
        }
        try fields.finish()
    }
}
