import Plugins
import Testing
@testable import RelayKernel

@Suite("RouteFileLint")
struct RouteFileLintTests {
    /// Line 1 of every file; the routes follow from line 13 on.
    static let head = """
        endpoints:
          - path: /ws
            codec: json
          - path: /ws/unused
            codec: json
        plugins:
          chat:
            plugin: pubsub
          site:
            plugin: static-files
            config: {root: ., prefix: /site}
        routes:

        """

    /// A key source, so that the endpoints (auth optional) do not warn about missing keys.
    static let keys = ["RELAY_JWT_SECRET": String(repeating: "k", count: 32)]

    func warnings(routes: String) throws -> [ConfigIssue] {
        try RouteFile.decode(yaml: Self.head + routes, file: "lint.yaml", environment: Self.keys, registry: BuiltinPlugins.registry).warnings
    }

    @Test func aCleanFileHasNoWarnings() throws {
        let file = try RouteFile.decode(
            yaml: """
                endpoints: [{path: /ws, codec: json}]
                plugins: {chat: {plugin: pubsub}}
                routes:
                  - {endpoint: /ws, type: subscribe, plugin: chat}
                  - {endpoint: /ws, type: "pub*", plugin: chat}
                """,
            file: "clean.yaml",
            environment: Self.keys,
            registry: BuiltinPlugins.registry
        )
        #expect(file.warnings.isEmpty, "\(file.warnings)")
    }

    @Test func shadowedRouteAndRouteToAnHTTPOnlyPlugin() throws {
        let warnings = try self.warnings(
            routes: """
                  - {endpoint: /ws, type: "*", plugin: chat}
                  - {endpoint: /ws, type: publish, plugin: chat}
                  - {endpoint: /ws/unused, type: x, plugin: site}
                """
        )
        #expect(warnings.map(\.description) == [
            "14:27: routes[1].type: shadowed by routes[0] (type \"*\" on the same endpoint): it never receives a message",
            "15:45: routes[2].plugin: plugin instance \"site\" (static-files) handles no messages: it serves HTTP only",
        ])
    }

    @Test func unusedEndpointAndTypesThePluginDoesNotHandle() throws {
        let warnings = try self.warnings(
            routes: """
                  - {endpoint: /ws, type: "sub*", plugin: chat}
                  - {endpoint: /ws, type: "chat.*", plugin: chat}
                  - {endpoint: /ws, type: subscribe-all, plugin: chat}
                """
        )
        #expect(warnings.map(\.description) == [
            "4:11: endpoints[1].path: no route uses endpoint /ws/unused: its clients reach no plugin",
            "14:27: routes[1].type: \"chat.*\" matches none of the types pubsub handles (subscribe, unsubscribe, publish, direct)",
            "15:27: routes[2].type: shadowed by routes[0] (type \"sub*\" on the same endpoint): it never receives a message",
            "15:27: routes[2].type: \"subscribe-all\" matches none of the types pubsub handles (subscribe, unsubscribe, publish, direct)",
        ])
    }

    @Test func aPluginThatDeclaresNothingIsNotChecked() throws {
        struct Quiet: RelayPlugin {
            static let name = "quiet"
            init(configuration: NoConfiguration, setup: inout PluginSetup) throws {}
            func handle(_ message: RelayMessage, context: PluginContext) async throws {}
        }
        let file = try RouteFile.decode(
            yaml: """
                endpoints: [{path: /ws, codec: json}]
                plugins: {q: {plugin: quiet}}
                routes: [{endpoint: /ws, type: anything, plugin: q}]
                """,
            file: "quiet.yaml",
            environment: Self.keys,
            registry: PluginRegistry([Quiet.self])
        )
        #expect(Quiet.messageTypes == nil)
        #expect(file.warnings.isEmpty)
    }

    @Test func endpointsThatVerifyTokensWithoutAKeySourceAreReported() throws {
        let yaml = """
            endpoints:
              - {path: /open, codec: json, auth: none}
              - path: /members
                codec: json
                auth: required
              - {path: /maybe, codec: json}
            plugins: {chat: {plugin: pubsub}}
            routes:
              - {endpoint: /open, type: publish, plugin: chat}
              - {endpoint: /members, type: publish, plugin: chat}
              - {endpoint: /maybe, type: publish, plugin: chat}
            """
        let file = try RouteFile.decode(yaml: yaml, file: "keys.yaml", environment: [:], registry: BuiltinPlugins.registry)
        #expect(file.keySourceProblems.map(\.path) == ["endpoints[1].auth", "endpoints[2].auth"])
        #expect(file.keySourceProblems.map(\.line) == [5, 6])
        #expect(file.keySourceProblems[0].message.hasPrefix("endpoint /members has auth: required but no token key is configured"))
        #expect(file.keySourceProblems[1].message.contains("RELAY_JWT_SECRET"))
        #expect(file.warnings.filter { $0.message.contains("no token key") }.count == 2)
        for environment in [Self.keys, ["RELAY_AUTH_JWT_SECRET_FILE": "/secret"], ["RELAY_JWKS_FILE": "/keys.jwks"]] {
            let configured = try RouteFile.decode(yaml: yaml, file: "keys.yaml", environment: environment, registry: BuiltinPlugins.registry)
            #expect(configured.keySourceProblems.isEmpty, "\(environment)")
        }
    }

    @Test func anOriginListThatAdmitsEveryOriginIsReported() throws {
        let file = try RouteFile.decode(
            yaml: """
                limits: {allowedOrigins: ["https://app.example.com"]}
                endpoints:
                  - {path: /ws, codec: json, limits: {allowedOrigins: ["*"]}}
                plugins: {chat: {plugin: pubsub}}
                routes: [{endpoint: /ws, type: publish, plugin: chat}]
                """,
            file: "star.yaml",
            environment: Self.keys,
            registry: BuiltinPlugins.registry
        )
        #expect(file.warnings.map(\.path) == ["endpoints[0].limits.allowedOrigins"])
        #expect(file.warnings.first?.message.contains("every web site") == true)
    }
}
