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
        if !self.name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) || self.name.isEmpty {
            self.recordInvalidName(decoder)
        }
    }

    private func recordInvalidName(_ decoder: any Decoder) {
        (decoder.userInfo[ConfigDecodingContext.userInfoKey] as? ConfigDecodingContext)?
            .record(decoder.codingPath, "instance names use letters, digits, '-' and '_'")
    }
}
