import Logging
import NIOCore

/// The immutable routing state built from one route file: endpoints, routes, plugin instances
/// and their HTTP routes. SIGHUP builds a new table and swaps it in.
final class RouteTable: Sendable {
    let file: RouteFile
    let endpoints: [CompiledEndpoint]
    let instances: [String: PluginInstance]
    /// The instances this table created (not carried over from the previous table).
    let createdInstances: [PluginInstance]
    let httpRoutes: [(instance: PluginInstance, route: PluginSetup.HTTPRoute)]
    /// `server.trustedProxies`, parsed once.
    let trustedProxies: TrustedProxies
    /// `limits.allowedOrigins`, parsed once (CORS for the REST routes).
    let allowedOrigins: [OriginPattern]

    var configuration: RelayConfiguration { self.file.configuration }

    /// Creates plugin instances (reusing those of `previous` whose settings did not change) and
    /// compiles the routes.
    init(file: RouteFile, registry: PluginRegistry, previous: RouteTable?, logger: Logger) throws(RelayConfigError) {
        self.file = file
        self.trustedProxies = TrustedProxies(file.configuration.server.trustedProxies)
        self.allowedOrigins = file.configuration.limits.allowedOrigins.compactMap(OriginPattern.init)
        var instances: [String: PluginInstance] = [:]
        var created: [PluginInstance] = []
        var issues: [ConfigIssue] = []
        for settings in file.configuration.plugins {
            if let old = previous?.instances[settings.name], old.settings == settings {
                instances[settings.name] = old
                continue
            }
            guard let factory = registry.factory(named: settings.plugin), let configuration = file.pluginConfigurations[settings.name] else {
                continue
            }
            var setup = PluginSetup(instanceName: settings.name, logger: logger.with("relay.plugin", settings.name))
            do {
                let plugin = try factory.make(configuration, &setup)
                let instance = PluginInstance(name: settings.name, settings: settings, plugin: plugin, httpRoutes: setup.httpRoutes)
                instances[settings.name] = instance
                created.append(instance)
            } catch {
                issues.append(ConfigIssue(path: "plugins.\(settings.name).config", message: "\(error)"))
            }
        }
        var served: [String: String] = [:]
        for settings in file.configuration.plugins {
            for route in instances[settings.name]?.httpRoutes ?? [] {
                let key = "\(route.method) \(route.path.text)"
                if let owner = served[key] {
                    issues.append(ConfigIssue(path: "plugins.\(settings.name)", message: "HTTP route \(key) is already served by plugin instance \"\(owner)\""))
                } else {
                    served[key] = settings.name
                }
            }
        }
        guard issues.isEmpty else { throw RelayConfigError(file: file.path, issues: issues) }
        self.instances = instances
        self.createdInstances = created
        self.endpoints = file.configuration.endpoints.compactMap { endpoint -> CompiledEndpoint? in
            guard let codec = CodecRegistry.codec(named: endpoint.codec) else { return nil }
            let routes = file.configuration.routes.filter { $0.endpoint == endpoint.path }.compactMap { settings -> CompiledRoute? in
                guard let instance = instances[settings.plugin], let pattern = TypePattern(settings.type) else { return nil }
                let counters = RelayMetrics.routeCounters(endpoint: settings.endpoint, type: settings.type, plugin: settings.plugin)
                return CompiledRoute(
                    settings: settings,
                    pattern: pattern,
                    instance: instance,
                    inboundCounter: counters.inbound,
                    outboundCounter: counters.outbound
                )
            }
            var servingNames: [String] = []
            for route in routes where !servingNames.contains(route.instance.name) { servingNames.append(route.instance.name) }
            return CompiledEndpoint(settings: endpoint, codec: codec, routes: routes, instances: servingNames.compactMap { instances[$0] })
        }
        self.httpRoutes = file.configuration.plugins.compactMap { instances[$0.name] }.flatMap { instance in
            instance.httpRoutes.map { (instance: instance, route: $0) }
        }
    }

    /// The endpoint serving `path`, with the path's parameters.
    func endpoint(forPath path: String) -> (CompiledEndpoint, [String: String])? {
        self.endpoint(forPath: path[...])
    }

    /// The endpoint serving `path`, with the path's parameters.
    func endpoint(forPath path: Substring) -> (CompiledEndpoint, [String: String])? {
        for endpoint in self.endpoints {
            if let parameters = endpoint.pattern.match(path) { return (endpoint, parameters) }
        }
        return nil
    }

    /// The endpoint whose template is `path`.
    func endpoint(named path: String) -> CompiledEndpoint? {
        self.endpoints.first { $0.settings.path == path }
    }

    /// How often each event loop sweeps its connections' deadlines: every 250 ms, or as often as
    /// the tightest codec heartbeat needs (a Socket.IO endpoint: a quarter of its ping interval
    /// or time-out, at least 10 ms).
    var sweepInterval: TimeAmount {
        let needs = self.endpoints.compactMap { $0.codec.sweepInterval(for: $0.settings) }
        let interval = min(needs.min() ?? .milliseconds(250), .milliseconds(250))
        return .nanoseconds(max(interval.nanoseconds, 10_000_000))
    }

    /// One line per route, for `relay routes`.
    var description: String {
        var lines: [String] = []
        for endpoint in self.endpoints {
            lines.append(
                "ENDPOINT \(endpoint.settings.path)  codec=\(endpoint.settings.codec) auth=\(endpoint.settings.auth.rawValue) compression=\(endpoint.settings.compression.enabled ? "on" : "off") maxMessageBytes=\(endpoint.settings.limits.maxMessageBytes)"
            )
            for route in endpoint.routes {
                var extras: [String] = ["overflow=\(route.settings.overflow.rawValue)"]
                if !route.settings.requireClaims.isEmpty {
                    extras.append("requireClaims=\(route.settings.requireClaims.keys.sorted().joined(separator: ","))")
                }
                if let limit = route.settings.maxMessageBytes { extras.append("maxMessageBytes=\(limit)") }
                if route.settings.binary { extras.append("binary") }
                lines.append(
                    "\(endpoint.settings.path)  \(route.settings.type) -> \(route.instance.name) (\(route.instance.settings.plugin)) \(extras.joined(separator: " "))"
                )
            }
        }
        for (instance, route) in self.httpRoutes {
            lines.append("HTTP \(route.method) \(route.path.text) -> \(instance.name) (\(instance.settings.plugin))")
        }
        return lines.joined(separator: "\n")
    }
}

extension Logger {
    /// A copy with one more metadata value.
    func with(_ key: String, _ value: String) -> Logger {
        var copy = self
        copy[metadataKey: key] = .string(value)
        return copy
    }
}
