import Yams

/// Finds what a valid route file most likely gets wrong (`relay check` prints these as
/// warnings; `--strict` fails on them): a route shadowed by an earlier glob route, a route to
/// a plugin that handles no messages, a `type` that matches nothing its plugin handles, and an
/// endpoint no route uses.
enum RouteFileLint {
    /// The warnings for `configuration`, placed in the file through `context`.
    static func warnings(_ configuration: RelayConfiguration, registry: PluginRegistry, context: ConfigDecodingContext) -> [ConfigIssue] {
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
        return warnings.sorted { ($0.line ?? Int.max, $0.column ?? 0) < ($1.line ?? Int.max, $1.column ?? 0) }
    }
}
