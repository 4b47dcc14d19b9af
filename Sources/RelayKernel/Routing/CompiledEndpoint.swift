/// An endpoint ready for upgrades: its codec, its origin patterns, its routes in file order
/// and the plugins that serve it. Shared by every connection on the endpoint.
final class CompiledEndpoint: Sendable {
    let settings: EndpointSettings
    let pattern: PathPattern
    let codec: any Codec.Type
    /// The browser origins that may upgrade (`limits.allowedOrigins`, parsed once).
    let origins: [OriginPattern]
    let routes: [CompiledRoute]
    let instances: [PluginInstance]
    let acceptsBinary: Bool

    init(settings: EndpointSettings, codec: any Codec.Type, routes: [CompiledRoute], instances: [PluginInstance]) {
        self.settings = settings
        self.pattern = PathPattern(settings.path)
        self.codec = codec
        self.origins = settings.limits.allowedOrigins.compactMap(OriginPattern.init)
        self.routes = routes
        self.instances = instances
        self.acceptsBinary = routes.contains { $0.settings.binary }
    }

    /// Why a request with these `Origin` header values may not reach this endpoint (the text a
    /// refusal gives), or `nil` when it may: no `Origin` (a client that is not a browser), or one
    /// that a pattern admits (parsed once for every pattern).
    func originRefusal(_ values: [String]) -> String? {
        guard let origin = values.first else { return nil }
        guard values.count == 1 else { return "origin refused: more than one Origin header" }
        let parsed = BrowserOrigin(origin)
        if origin == "null" {
            if self.origins.contains(where: { $0.matches(origin) }) { return nil }
        } else if let parsed, self.origins.contains(where: { $0.matches(parsed) }) {
            return nil
        }
        let problem = origin == "null" || parsed != nil ? "not in this endpoint's limits.allowedOrigins" : "not of the form scheme://host[:port]"
        return "origin refused: \(problem)"
    }

    /// The first route matching `type` (exact routes are checked before globs of the same file
    /// position order), or `nil`.
    func route(for type: String) -> CompiledRoute? {
        self.routes.first { $0.pattern.matches(type) }
    }
}
