import Metrics

/// A route ready for lookup, with its metric handles bound once.
struct CompiledRoute: Sendable {
    let settings: RouteSettings
    let pattern: TypePattern
    let instance: PluginInstance
    let inboundCounter: Counter
    let outboundCounter: Counter

    /// The route as `endpoint type`: the key of its per-route rate limit.
    var label: String { "\(self.settings.endpoint) \(self.settings.type)" }

    /// Whether `identity` satisfies the route's claim requirements.
    func admits(_ claims: [String: JSONValue]) -> Bool {
        self.settings.requireClaims.allSatisfy { name, accepted in
            guard let value = claims[name] else { return false }
            if let values = value.arrayValue { return values.contains(where: accepted.contains) }
            return accepted.contains(value)
        }
    }
}

/// A created plugin with the instance name it serves under.
struct PluginInstance: Sendable {
    let name: String
    let settings: PluginInstanceSettings
    let plugin: any RelayPlugin
    let httpRoutes: [PluginSetup.HTTPRoute]
}

/// An endpoint ready for upgrades: its routes in file order and the plugins that serve it.
struct CompiledEndpoint: Sendable {
    let settings: EndpointSettings
    let pattern: PathPattern
    let routes: [CompiledRoute]
    let instances: [PluginInstance]
    let acceptsBinary: Bool

    /// The first route matching `type` (exact routes are checked before globs of the same file
    /// position order), or `nil`.
    func route(for type: String) -> CompiledRoute? {
        self.routes.first { $0.pattern.matches(type) }
    }
}
