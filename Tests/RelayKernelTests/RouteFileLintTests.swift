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

    func warnings(routes: String) throws -> [ConfigIssue] {
        try RouteFile.decode(yaml: Self.head + routes, file: "lint.yaml", environment: [:], registry: BuiltinPlugins.registry).warnings
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
            environment: [:],
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
            environment: [:],
            registry: PluginRegistry([Quiet.self])
        )
        #expect(Quiet.messageTypes == nil)
        #expect(file.warnings.isEmpty)
    }
}
