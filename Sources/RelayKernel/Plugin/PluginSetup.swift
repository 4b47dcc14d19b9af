public import Logging

/// What a plugin can declare while it is created: its HTTP routes.
public struct PluginSetup: Sendable {
    struct HTTPRoute: Sendable {
        let method: String
        let path: PathPattern
        let handler: PluginHTTPHandler
    }

    /// The instance name from the route file.
    public let instanceName: String
    /// A logger stamped with the instance.
    public let logger: Logger
    private(set) var httpRoutes: [HTTPRoute] = []

    init(instanceName: String, logger: Logger) {
        self.instanceName = instanceName
        self.logger = logger
    }

    /// Serves `method path` (path with `:name` segments) with `handler` on the relay's HTTP port.
    public mutating func http(_ method: String, _ path: String, _ handler: @escaping PluginHTTPHandler) {
        self.httpRoutes.append(HTTPRoute(method: method.uppercased(), path: PathPattern(path), handler: handler))
    }
}
