/// A decoded route file: the whole configuration of one relay process.
public struct RelayConfiguration: Sendable, Equatable {
    /// `server:`
    public var server = ServerSettings()
    /// `auth:`
    public var auth = AuthSettings()
    /// `limits:` (the defaults every endpoint starts from)
    public var limits = LimitSettings()
    /// `endpoints:`
    public var endpoints: [EndpointSettings] = []
    /// `plugins:` in file order
    public var plugins: [PluginInstanceSettings] = []
    /// `routes:` in file order
    public var routes: [RouteSettings] = []
    /// `store:`
    public var store = StoreSettings()
    /// `cluster:`
    public var cluster = ClusterSettings()

    /// An empty configuration with defaults.
    public init() {}
}

extension RelayConfiguration: Decodable {
    enum Keys: String, CodingKey, CaseIterable { case server, auth, limits, endpoints, plugins, routes, store, cluster }

    public init(from decoder: any Decoder) throws {
        let fields = ConfigFields(decoder, keys: Keys.self)
        self.server = fields.value(.server, default: self.server)
        self.auth = fields.value(.auth, default: self.auth)
        self.limits = fields.value(.limits, default: self.limits)
        (decoder.userInfo[EndpointSettings.baseLimitsKey] as? LimitsBox)?.limits = self.limits
        self.endpoints = fields.value(.endpoints, default: [EndpointSettings]())
        let plugins: OrderedPlugins = fields.value(.plugins, default: OrderedPlugins())
        self.plugins = plugins.instances
        self.routes = fields.value(.routes, default: [RouteSettings]())
        self.store = fields.value(.store, default: self.store)
        self.cluster = fields.value(.cluster, default: self.cluster)
        if self.cluster.isEnabled {
            // Every node must see the same shared state and records.
            if self.store.backend == .sqlite {
                fields.invalid(.store, "a cluster keeps its store in PostgreSQL; remove store.path")
            }
            self.store.backend = .postgres
        }
        try fields.finish()
    }
}

/// Decodes `plugins:` keeping the file's order of instances.
struct OrderedPlugins: Decodable {
    var instances: [PluginInstanceSettings] = []

    init() {}

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyCodingKey.self)
        let context = decoder.userInfo[ConfigDecodingContext.userInfoKey] as? ConfigDecodingContext
        let keys = container.allKeys.sorted { lhs, rhs in
            (context?.order(of: decoder.codingPath + [lhs]) ?? 0) < (context?.order(of: decoder.codingPath + [rhs]) ?? 0)
        }
        for key in keys {
            do {
                self.instances.append(try container.decode(PluginInstanceSettings.self, forKey: key))
            } catch {
                guard let context else { throw error }
                context.record(error, at: decoder.codingPath + [key])
            }
        }
    }
}
