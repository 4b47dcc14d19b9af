import Yams

/// Finds what a valid route file most likely gets wrong (`relay check` prints these as
/// warnings; `--strict` fails on them): a route shadowed by an earlier glob route, a route to
/// a plugin that handles no messages, a `type` that matches nothing its plugin handles, an
/// endpoint no route uses, an origin list that admits every origin, and an endpoint that needs
/// token keys where none is configured.
enum RouteFileLint {
    /// The warnings for `configuration`, placed in the file through `context`, with
    /// `keySourceProblems` (``keySourceProblems(_:context:)``, computed once by the caller).
    static func warnings(
        _ configuration: RelayConfiguration,
        registry: PluginRegistry,
        context: ConfigDecodingContext,
        keySourceProblems: [ConfigIssue]
    ) -> [ConfigIssue] {
        var warnings: [ConfigIssue] = []
        func warn(_ path: [AnyCodingKey], _ message: String) {
            var issue = ConfigIssue(path: ConfigIssue.path(path), message: message)
            if let mark = context.locate(path, aboutKey: false) {
                issue.line = mark.line
                issue.column = mark.column
            }
            warnings.append(issue)
        }
        let plugins = Dictionary(configuration.plugins.map { ($0.name, $0.plugin) }, uniquingKeysWith: { first, _ in first })
        for (index, endpoint) in configuration.endpoints.enumerated() where !configuration.routes.contains(where: { $0.endpoint == endpoint.path }) {
            warn([AnyCodingKey("endpoints"), AnyCodingKey(intValue: index), AnyCodingKey("path")], "no route uses endpoint \(endpoint.path): its clients reach no plugin")
        }
        for (index, route) in configuration.routes.enumerated() {
            let path = [AnyCodingKey("routes"), AnyCodingKey(intValue: index)]
            guard let pattern = TypePattern(route.type) else { continue }
            let shadowing = configuration.routes[..<index].enumerated().first { _, earlier in
                guard earlier.endpoint == route.endpoint, let glob = TypePattern(earlier.type), !glob.isExact else { return false }
                return glob.covers(pattern)
            }
            if let (earlierIndex, earlier) = shadowing {
                warn(path + [AnyCodingKey("type")], "shadowed by routes[\(earlierIndex)] (type \"\(earlier.type)\" on the same endpoint): it never receives a message")
            }
            guard let plugin = plugins[route.plugin], let declared = registry.factory(named: plugin)?.messageTypes else { continue }
            if declared.isEmpty {
                warn(path + [AnyCodingKey("plugin")], "plugin instance \"\(route.plugin)\" (\(plugin)) handles no messages: it serves HTTP only")
            } else if !declared.contains(where: pattern.matches) {
                warn(
                    path + [AnyCodingKey("type")],
                    "\"\(route.type)\" matches none of the types \(plugin) handles (\(declared.joined(separator: ", ")))"
                )
            }
        }
        for (index, origins) in Self.originLists(configuration) {
            guard origins.compactMap(OriginPattern.init).contains(where: \.admitsEveryOrigin) else { continue }
            let path = index.map { [AnyCodingKey("endpoints"), AnyCodingKey(intValue: $0), AnyCodingKey("limits")] } ?? [AnyCodingKey("limits")]
            warn(path + [AnyCodingKey("allowedOrigins")], "'*' lets every web site open WebSockets (and call the REST API) from its visitors' browsers")
        }
        warnings += keySourceProblems
        return warnings.sorted { ($0.line ?? Int.max, $0.column ?? 0) < ($1.line ?? Int.max, $1.column ?? 0) }
    }

    /// One issue per endpoint with `auth: optional` or `required` when no token key source is
    /// configured (no `RELAY_JWT_SECRET`, `auth.jwtSecretFile` or `auth.jwksFile`): `relay check`
    /// warns (the secrets may live only where the relay runs), `relay serve` refuses to start.
    static func keySourceProblems(_ configuration: RelayConfiguration, context: ConfigDecodingContext) -> [ConfigIssue] {
        let auth = configuration.auth
        guard context.environment["RELAY_JWT_SECRET"] == nil, auth.jwtSecretFile == nil, auth.jwksFile == nil else { return [] }
        return configuration.endpoints.enumerated().compactMap { index, endpoint -> ConfigIssue? in
            guard endpoint.auth != .none else { return nil }
            let path = [AnyCodingKey("endpoints"), AnyCodingKey(intValue: index), AnyCodingKey("auth")]
            var issue = ConfigIssue(
                path: ConfigIssue.path(path),
                message: "endpoint \(endpoint.path) has auth: \(endpoint.auth.rawValue) but no token key is configured: set RELAY_JWT_SECRET (an HS256 secret of 32+ bytes), "
                    + "auth.jwtSecretFile (RELAY_AUTH_JWT_SECRET_FILE) or auth.jwksFile (RELAY_JWKS_FILE), or use auth: none"
            )
            if let mark = context.locate(path, aboutKey: true) {
                issue.line = mark.line
                issue.column = mark.column
            }
            return issue
        }
    }

    /// The server-wide origin list (index `nil`) and each endpoint's own.
    private static func originLists(_ configuration: RelayConfiguration) -> [(index: Int?, origins: [String])] {
        var lists: [(index: Int?, origins: [String])] = [(nil, configuration.limits.allowedOrigins)]
        for (index, endpoint) in configuration.endpoints.enumerated() where endpoint.limits.allowedOrigins != configuration.limits.allowedOrigins {
            lists.append((index, endpoint.limits.allowedOrigins))
        }
        return lists
    }
}
