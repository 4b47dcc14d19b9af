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

    /// The first route matching `type` (exact routes are checked before globs of the same file
    /// position order), or `nil`.
    func route(for type: String) -> CompiledRoute? {
        self.routes.first { $0.pattern.matches(type) }
    }
}
