import Foundation
import Yams

/// Reads a route file: YAML syntax, every key, environment overrides, cross-references and
/// plugin settings; reports every problem with its line, column and key path.
public struct RouteFile: Sendable {
    /// The decoded configuration.
    public let configuration: RelayConfiguration
    /// Each plugin instance's decoded settings, by instance name.
    let pluginConfigurations: [String: any Sendable]
    /// The path it was read from.
    public let path: String
    /// What the file most likely gets wrong although it loads, with line and column: a route
    /// shadowed by an earlier glob route, a route to a plugin that handles no messages, a `type`
    /// that matches nothing its plugin handles, an endpoint no route uses.
    public let warnings: [ConfigIssue]
    /// Endpoints that verify tokens while no key source is configured (also among ``warnings``):
    /// `relay serve` refuses to start with them.
    public let keySourceProblems: [ConfigIssue]

    /// Reads and validates the file at `path`.
    public static func load(path: String, environment: [String: String], registry: PluginRegistry) throws(RelayConfigError) -> RouteFile {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw RelayConfigError(file: path, issues: [ConfigIssue(path: "", message: "cannot read file: \(error.localizedDescription)")])
        }
        return try Self.decode(yaml: text, file: path, environment: environment, registry: registry)
    }

    /// Decodes and validates route file text.
    public static func decode(yaml: String, file: String, environment: [String: String], registry: PluginRegistry) throws(RelayConfigError) -> RouteFile {
        let composed: Node?
        do {
            composed = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw RelayConfigError(file: file, issues: [Self.issue(from: error)])
        } catch {
            throw RelayConfigError(file: file, issues: [ConfigIssue(path: "", message: "\(error)")])
        }
        let root = Self.ensuringSections(composed ?? Node([(Node, Node)]()))
        let context = ConfigDecodingContext(environment: Self.applyingFixedNames(environment), root: root)
        var configuration = RelayConfiguration()
        do {
            configuration = try YAMLDecoder().decode(
                RelayConfiguration.self,
                from: root,
                userInfo: [
                    ConfigDecodingContext.userInfoKey: context,
                    EndpointSettings.baseLimitsKey: LimitsBox(LimitSettings()),
                ]
            )
        } catch {
            context.record(error, at: [])
        }
        for index in configuration.plugins.indices {
            configuration.plugins[index].config = Self.overriding(
                configuration.plugins[index].config,
                path: configuration.plugins[index].configPath,
                environment: context.environment
            )
        }
        let pluginConfigurations = Self.validate(configuration, registry: registry, context: context)
        guard context.issues.isEmpty else {
            throw RelayConfigError(file: file, issues: context.locatedIssues())
        }
        let keySourceProblems = RouteFileLint.keySourceProblems(configuration, context: context)
        return RouteFile(
            configuration: configuration,
            pluginConfigurations: pluginConfigurations,
            path: file,
            warnings: RouteFileLint.warnings(configuration, registry: registry, context: context, keySourceProblems: keySourceProblems),
            keySourceProblems: keySourceProblems
        )
    }

    /// This file with the settings of the named instances replaced by values built in code.
    func replacingPluginConfigurations(_ replacements: [String: any Sendable]) -> RouteFile {
        RouteFile(
            configuration: self.configuration,
            pluginConfigurations: self.pluginConfigurations.merging(replacements) { _, replacement in replacement },
            path: self.path,
            warnings: self.warnings,
            keySourceProblems: self.keySourceProblems
        )
    }

    /// Adds empty mappings for the sections a file leaves out, so their settings are still read
    /// from the environment.
    private static func ensuringSections(_ root: Node) -> Node {
        guard case .mapping(var mapping) = root else { return root }
        let empty = Node([(Node, Node)]())
        for key in ["server", "auth", "limits", "store"] where mapping[key] == nil {
            mapping[key] = empty
        }
        if case .sequence(var endpoints)? = mapping["endpoints"] {
            for index in endpoints.indices {
                guard case .mapping(var endpoint) = endpoints[index] else { continue }
                for key in ["limits", "compression"] where endpoint[key] == nil {
                    endpoint[key] = empty
                }
                endpoints[index] = .mapping(endpoint)
            }
            mapping["endpoints"] = .sequence(endpoints)
        }
        return .mapping(mapping)
    }

    /// `RELAY_PORT` stands for `RELAY_SERVER_PORT` unless the latter is set.
    private static func applyingFixedNames(_ environment: [String: String]) -> [String: String] {
        var result = environment
        if let port = environment["RELAY_PORT"], environment["RELAY_SERVER_PORT"] == nil { result["RELAY_SERVER_PORT"] = port }
        if let jwks = environment["RELAY_JWKS_FILE"], environment["RELAY_AUTH_JWKS_FILE"] == nil { result["RELAY_AUTH_JWKS_FILE"] = jwks }
        return result
    }

    /// Applies environment overrides to the scalar settings present in a plugin block.
    private static func overriding(_ value: JSONValue, path: [AnyCodingKey], environment: [String: String]) -> JSONValue {
        switch value {
        case .object(let members):
            return .object(Dictionary(uniqueKeysWithValues: members.map { key, member in
                (key, Self.overriding(member, path: path + [AnyCodingKey(key)], environment: environment))
            }))
        case .array(let elements):
            return .array(elements.enumerated().map { index, element in
                Self.overriding(element, path: path + [AnyCodingKey(intValue: index)], environment: environment)
            })
        default:
            guard let text = environment[ConfigDecodingContext.environmentName(path)] else { return value }
            return (try? YAMLDecoder().decode(JSONValue.self, from: text)) ?? .string(text)
        }
    }

    private static func validate(_ configuration: RelayConfiguration, registry: PluginRegistry, context: ConfigDecodingContext) -> [String: any Sendable] {
        var endpointPaths: [String: Int] = [:]
        for (index, endpoint) in configuration.endpoints.enumerated() {
            let path: [any CodingKey] = [AnyCodingKey("endpoints"), AnyCodingKey(intValue: index)]
            if let first = endpointPaths[endpoint.path] {
                context.record(path + [AnyCodingKey("path")], "duplicate endpoint \"\(endpoint.path)\" (also endpoints[\(first)])")
            } else {
                endpointPaths[endpoint.path] = index
            }
            if CodecRegistry.codec(named: endpoint.codec) == nil {
                context.record(path + [AnyCodingKey("codec")], "unknown codec \"\(endpoint.codec)\" (known: \(CodecRegistry.names.joined(separator: ", ")))")
            }
        }
        var decoded: [String: any Sendable] = [:]
        for instance in configuration.plugins {
            let path: [any CodingKey] = [AnyCodingKey("plugins"), AnyCodingKey(instance.name)]
            guard !instance.plugin.isEmpty else { continue }
            guard let factory = registry.factory(named: instance.plugin) else {
                context.record(path + [AnyCodingKey("plugin")], "unknown plugin \"\(instance.plugin)\" (known: \(registry.names.joined(separator: ", ")))")
                continue
            }
            do {
                decoded[instance.name] = try factory.decode(instance.config)
            } catch {
                context.record(error, at: instance.configPath, relative: true)
            }
        }
        let instances = Set(configuration.plugins.map(\.name))
        var seen: [String: Int] = [:]
        for (index, route) in configuration.routes.enumerated() {
            let path: [any CodingKey] = [AnyCodingKey("routes"), AnyCodingKey(intValue: index)]
            if !route.endpoint.isEmpty, endpointPaths[route.endpoint] == nil {
                context.record(
                    path + [AnyCodingKey("endpoint")],
                    "no endpoint \"\(route.endpoint)\" (known: \(configuration.endpoints.map(\.path).joined(separator: ", ")))"
                )
            }
            if !route.plugin.isEmpty, !instances.contains(route.plugin) {
                context.record(
                    path + [AnyCodingKey("plugin")],
                    "no plugin instance \"\(route.plugin)\" (known: \(configuration.plugins.map(\.name).joined(separator: ", ")))"
                )
            }
            let key = "\(route.endpoint) \(route.type)"
            if let first = seen[key] {
                context.record(path + [AnyCodingKey("type")], "duplicate route for \"\(route.type)\" on \(route.endpoint) (also routes[\(first)])")
            } else {
                seen[key] = index
            }
            if let limit = route.maxMessageBytes, let endpointIndex = endpointPaths[route.endpoint],
                limit > configuration.endpoints[endpointIndex].limits.maxMessageBytes
            {
                context.record(path + [AnyCodingKey("maxMessageBytes")], "exceeds the endpoint's maxMessageBytes")
            }
        }
        if let tls = configuration.server.tls {
            for (key, file) in [("certificateFile", tls.certificateFile), ("keyFile", tls.keyFile)] where !file.isEmpty && !FileManager.default.fileExists(atPath: file) {
                context.record([AnyCodingKey("server"), AnyCodingKey("tls"), AnyCodingKey(key)], "file not found: \(file)")
            }
        }
        return decoded
    }

    static func issue(from error: YamlError) -> ConfigIssue {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return ConfigIssue(path: "", message: "YAML syntax: \(problem)", line: mark.line, column: mark.column)
        default:
            return ConfigIssue(path: "", message: "YAML: \(error)")
        }
    }
}
