/// The plugins a relay binary knows, by name. Route files instantiate them.
public struct PluginRegistry: Sendable {
    struct Factory: Sendable {
        /// ``RelayPlugin/messageTypes`` of the plugin.
        let messageTypes: [String]?
        let decode: @Sendable (JSONValue) throws -> any Sendable
        let make: @Sendable (any Sendable, inout PluginSetup) throws -> any RelayPlugin
    }

    private(set) var factories: [String: Factory] = [:]

    /// An empty registry.
    public init() {}

    /// A registry holding `plugins`.
    public init(_ plugins: [any RelayPlugin.Type]) {
        for plugin in plugins { self.register(plugin) }
    }

    /// Adds a plugin type; a later registration of the same name replaces the earlier one.
    public mutating func register<P: RelayPlugin>(_ plugin: P.Type) {
        self.factories[P.name] = Factory(
            messageTypes: P.messageTypes,
            decode: { value in
                try ConfigDecoder.decode(P.Configuration.self, from: value)
            },
            make: { configuration, setup in
                guard let configuration = configuration as? P.Configuration else {
                    throw RelayConfigError(file: "", issues: [ConfigIssue(path: "", message: "settings of \(P.name) are not a \(P.Configuration.self)")])
                }
                return try P(configuration: configuration, setup: &setup)
            }
        )
    }

    /// Registered plugin names, sorted.
    public var names: [String] { self.factories.keys.sorted() }

    func factory(named name: String) -> Factory? { self.factories[name] }
}
