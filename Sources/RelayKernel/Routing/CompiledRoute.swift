import Metrics

/// A route ready for lookup, with its metric handles bound once.
struct CompiledRoute: Sendable {
    let settings: RouteSettings
    let pattern: TypePattern
    let instance: PluginInstance
    let inboundCounter: Counter
    let outboundCounter: Counter
    /// The route as `endpoint type`: the key of its own rate bucket.
    let label: String

    init(settings: RouteSettings, pattern: TypePattern, instance: PluginInstance, inboundCounter: Counter, outboundCounter: Counter) {
        self.settings = settings
        self.pattern = pattern
        self.instance = instance
        self.inboundCounter = inboundCounter
        self.outboundCounter = outboundCounter
        self.label = "\(settings.endpoint) \(settings.type)"
    }

    /// Whether `identity` satisfies the route's claim requirements.
    func admits(_ claims: [String: JSONValue]) -> Bool {
        self.settings.requireClaims.allSatisfy { name, accepted in
            guard let value = claims[name] else { return false }
            if let values = value.arrayValue { return values.contains(where: accepted.contains) }
            return accepted.contains(value)
        }
    }
}
