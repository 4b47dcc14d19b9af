import Foundation
import Plugins
import Testing
@testable import RelayKernel

@Suite("RouteFile")
struct RouteFileTests {
    static let registry = BuiltinPlugins.registry

    static func fixturePath(_ name: String) throws -> String {
        let url = try #require(Bundle.module.url(forResource: name, withExtension: "yaml", subdirectory: "Fixtures"))
        return url.path
    }

    static func fixture(_ name: String) throws -> String {
        try String(contentsOfFile: try self.fixturePath(name), encoding: .utf8)
    }

    func decode(_ yaml: String, environment: [String: String] = [:]) throws -> RouteFile {
        try RouteFile.decode(yaml: yaml, file: "test.yaml", environment: environment, registry: Self.registry)
    }

    /// The issues of a file that must not decode.
    func issues(_ yaml: String, environment: [String: String] = [:], sourceLocation: SourceLocation = #_sourceLocation) -> [ConfigIssue] {
        do {
            _ = try RouteFile.decode(yaml: yaml, file: "test.yaml", environment: environment, registry: Self.registry)
            Issue.record("the file decoded without errors", sourceLocation: sourceLocation)
            return []
        } catch {
            return error.issues
        }
    }

    // MARK: Valid files

    @Test func validFileWithDefaultsFilled() throws {
        let file = try RouteFile.load(path: try Self.fixturePath("valid-routes"), environment: [:], registry: Self.registry)
        let configuration = file.configuration
        #expect(file.path.hasSuffix("valid-routes.yaml"))

        // server: given values and defaults
        #expect(configuration.server.port == 9000)
        #expect(configuration.server.resumeGrace == 12.5)
        #expect(configuration.server.host == "0.0.0.0")
        #expect(configuration.server.maxConnections == 10_000)
        #expect(configuration.server.heartbeatInterval == 30)
        #expect(configuration.server.resumeBufferMessages == 1000)
        #expect(configuration.server.logLevel == "info")
        #expect(configuration.server.logFormat == "text")
        #expect(configuration.server.tls == nil)

        // auth
        #expect(configuration.auth.issuer == "https://issuer.example")
        #expect(configuration.auth.audience == "relay")
        #expect(configuration.auth.leeway == 5)
        #expect(configuration.auth.authTimeout == 10)
        #expect(configuration.auth.userClaim == "sub")
        #expect(configuration.auth.jwtSecretFile == nil)

        // server-wide limits
        #expect(configuration.limits.maxMessageBytes == 4096)
        #expect(configuration.limits.burst == 50)
        #expect(configuration.limits.messagesPerSecond == 100)
        #expect(configuration.limits.queueMessages == 1024)
        #expect(configuration.limits.queueBytes == 8 << 20)
        #expect(configuration.limits.allowedOrigins == ["https://app.example.com"])

        // endpoints
        #expect(configuration.endpoints.map(\.path) == ["/ws/chat", "/ws/media/:room"])
        let chat = configuration.endpoints[0]
        #expect(chat.codec == "json")
        #expect(chat.auth == .required)
        #expect(chat.compression == CompressionSettings())
        #expect(chat.limits == configuration.limits)
        let media = configuration.endpoints[1]
        #expect(media.auth == EndpointSettings.AuthMode.none)
        #expect(media.compression.enabled)
        #expect(media.compression.noContextTakeover)
        #expect(media.compression.maxWindowBits == 15)

        // plugins, in file order
        #expect(configuration.plugins.map(\.name) == ["chat", "media"])
        #expect(configuration.plugins.map(\.plugin) == ["pubsub", "pubsub"])
        #expect(configuration.plugins[0].config == ["echo": false, "presence": true])
        #expect(configuration.plugins[1].config == .object([:]))
        let chatConfig = try #require(file.pluginConfigurations["chat"] as? PubSubConfiguration)
        #expect(chatConfig.presence)
        #expect(!chatConfig.echo)
        #expect(chatConfig.maxTopicLength == 128)
        let mediaConfig = try #require(file.pluginConfigurations["media"] as? PubSubConfiguration)
        #expect(!mediaConfig.presence)

        // routes
        #expect(configuration.routes.count == 2)
        let first = configuration.routes[0]
        #expect(first.endpoint == "/ws/chat")
        #expect(first.type == "pubsub.*")
        #expect(first.plugin == "chat")
        #expect(first.requireClaims == ["role": ["admin", "editor"], "tier": ["gold"]])
        #expect(first.maxMessageBytes == 1024)
        #expect(first.overflow == .close)
        #expect(!first.reportDrops)
        #expect(!first.binary)
        let second = configuration.routes[1]
        #expect(second.overflow == .dropOldest)
        #expect(second.reportDrops)
        #expect(second.binary)
        #expect(second.maxMessageBytes == nil)
        #expect(second.requireClaims.isEmpty)
    }

    @Test func endpointLimitsOverrideServerWideLimits() throws {
        let configuration = try self.decode(try Self.fixture("valid-routes")).configuration
        let media = configuration.endpoints[1].limits
        // Overridden by the endpoint.
        #expect(media.maxMessageBytes == 1_048_576)
        #expect(media.messagesPerSecond == 500)
        // Inherited from the server-wide block, not the built-in defaults.
        #expect(media.burst == 50)
        #expect(media.allowedOrigins == ["https://app.example.com"])
        // Untouched everywhere: built-in defaults.
        #expect(media.queueMessages == 1024)
        // The server-wide block itself is unchanged.
        #expect(configuration.limits.maxMessageBytes == 4096)
        #expect(configuration.limits.messagesPerSecond == 100)
    }

    @Test func emptyFileGivesDefaults() throws {
        let file = try self.decode("")
        #expect(file.configuration == RelayConfiguration())
        let commentsOnly = try self.decode("# nothing here\n")
        #expect(commentsOnly.configuration == RelayConfiguration())
    }

    @Test func flowStyleRoutesAndTheDefaultRouteFileShape() throws {
        let yaml = """
            endpoints:
              - path: /ws/pubsub
            plugins:
              topics: {plugin: pubsub, config: {presence: true}}
            routes:
              - {endpoint: /ws/pubsub, type: subscribe, plugin: topics}
              - {endpoint: /ws/pubsub, type: publish, plugin: topics}
            """
        let configuration = try self.decode(yaml).configuration
        #expect(configuration.routes.map(\.type) == ["subscribe", "publish"])
        #expect(configuration.endpoints[0].auth == .optional)
        #expect(configuration.endpoints[0].limits == LimitSettings())
    }

    // MARK: Errors, one kind at a time

    @Test func unknownKeyIsReportedWithItsLineAndColumn() {
        let issues = self.issues("""
            server:
              port: 8080
              prot: 9090
            """)
        #expect(issues.count == 1)
        let issue = issues.first
        #expect(issue?.path == "server.prot")
        #expect(issue?.message.hasPrefix("unknown key 'prot' (known: host, port,") == true)
        #expect(issue?.line == 3)
        #expect(issue?.column == 3)
    }

    @Test func unknownTopLevelKey() {
        let issues = self.issues("server: {}\nrotes: []\n")
        #expect(issues.map(\.path) == ["rotes"])
        #expect(issues.first?.line == 2)
        #expect(issues.first?.column == 1)
        #expect(issues.first?.message.hasPrefix("unknown key 'rotes'") == true)
    }

    @Test func unknownKeyInsideAnEndpointAndARoute() {
        let issues = self.issues("""
            endpoints:
              - path: /ws
                auht: required
            plugins:
              p: {plugin: pubsub}
            routes:
              - {endpoint: /ws, type: t, plugin: p, overflw: close}
            """)
        #expect(issues.map(\.path) == ["endpoints[0].auht", "routes[0].overflw"])
        #expect(issues.map(\.line) == [3, 7])
        #expect(issues.map(\.column) == [5, 41])
    }

    @Test func wrongType() {
        let issues = self.issues("""
            server:
              port: eighty
            limits:
              burst: [1, 2]
              allowedOrigins: "http://localhost:*"
            """)
        #expect(issues.map(\.path) == ["server.port", "limits.burst", "limits.allowedOrigins"])
        #expect(issues.first?.message == "expected an integer")
        #expect(issues.allSatisfy { $0.message.hasPrefix("expected ") })
        #expect(issues.map(\.line) == [2, 4, 5])
        #expect(issues.map(\.column) == [9, 10, 19])
    }

    @Test func sectionThatIsNotAMapping() {
        let issues = self.issues("server: 8080\n")
        #expect(issues.map(\.path) == ["server"])
        #expect(issues.first?.message == "expected a mapping")
        #expect(issues.first?.line == 1)
    }

    @Test func unknownPlugin() {
        let issues = self.issues("""
            plugins:
              chat:
                plugin: nosuch
            """)
        #expect(issues.count == 1)
        #expect(issues.first?.path == "plugins.chat.plugin")
        #expect(issues.first?.message == #"unknown plugin "nosuch" (known: \#(Self.registry.names.joined(separator: ", ")))"#)
        #expect(issues.first?.line == 3)
        #expect(issues.first?.column == 13)
    }

    @Test func pluginSettingsAreValidatedByThePlugin() {
        let issues = self.issues("""
            plugins:
              chat:
                plugin: pubsub
                config:
                  echo: perhaps
                  maxTopicLength: 1
              other:
                plugin: pubsub
                config: {maxTopicLength: 0}
            """)
        #expect(issues.map(\.path) == ["plugins.chat.config.echo", "plugins.other.config.maxTopicLength"])
        #expect(issues.first?.message == "expected true or false")
        #expect(issues.last?.message == "must be positive")
        #expect(issues.map(\.line) == [5, 9])
    }

    @Test func missingPluginKeyAndBadInstanceName() {
        let issues = self.issues("""
            plugins:
              chat:
                config: {}
              "bad name":
                plugin: pubsub
            """)
        #expect(issues.map(\.path) == ["plugins.chat.plugin", "plugins.bad name"])
        #expect(issues.first?.message == "missing key 'plugin'")
        #expect(issues.last?.message == "instance names use letters, digits, '-' and '_'")
    }

    @Test func unknownInstanceInARoute() {
        let issues = self.issues("""
            endpoints:
              - path: /ws
            plugins:
              chat: {plugin: pubsub}
            routes:
              - endpoint: /ws
                type: publish
                plugin: ghost
            """)
        #expect(issues.count == 1)
        #expect(issues.first?.path == "routes[0].plugin")
        #expect(issues.first?.message == #"no plugin instance "ghost" (known: chat)"#)
        #expect(issues.first?.line == 8)
        #expect(issues.first?.column == 13)
    }

    @Test func unknownEndpointInARoute() {
        let issues = self.issues("""
            endpoints:
              - path: /ws
              - path: /ws/2
            plugins:
              chat: {plugin: pubsub}
            routes:
              - endpoint: /wss
                type: publish
                plugin: chat
            """)
        #expect(issues.count == 1)
        #expect(issues.first?.path == "routes[0].endpoint")
        #expect(issues.first?.message == #"no endpoint "/wss" (known: /ws, /ws/2)"#)
        #expect(issues.first?.line == 7)
        #expect(issues.first?.column == 15)
    }

    @Test func duplicateRoute() {
        let issues = self.issues("""
            endpoints:
              - path: /ws
              - path: /other
            plugins:
              chat: {plugin: pubsub}
            routes:
              - {endpoint: /ws, type: publish, plugin: chat}
              - {endpoint: /other, type: publish, plugin: chat}
              - {endpoint: /ws, type: publish, plugin: chat, overflow: drop-oldest}
            """)
        #expect(issues.count == 1)
        #expect(issues.first?.path == "routes[2].type")
        #expect(issues.first?.message == #"duplicate route for "publish" on /ws (also routes[0])"#)
        #expect(issues.first?.line == 9)
        #expect(issues.first?.column == 27)
    }

    @Test func duplicateEndpoint() {
        let issues = self.issues("""
            endpoints:
              - path: /ws
              - path: /ws/x
              - path: /ws
                auth: none
            """)
        #expect(issues.count == 1)
        #expect(issues.first?.path == "endpoints[2].path")
        #expect(issues.first?.message == #"duplicate endpoint "/ws" (also endpoints[0])"#)
        #expect(issues.first?.line == 4)
        #expect(issues.first?.column == 11)
    }

    @Test func invalidOverflow() {
        let issues = self.issues("""
            endpoints: [{path: /ws}]
            plugins: {chat: {plugin: pubsub}}
            routes:
              - endpoint: /ws
                type: publish
                plugin: chat
                overflow: drop-newest
            """)
        #expect(issues.count == 1)
        #expect(issues.first?.path == "routes[0].overflow")
        #expect(issues.first?.message == "must be close or drop-oldest")
        #expect(issues.first?.line == 7)
        #expect(issues.first?.column == 15)
    }

    @Test func otherValidations() {
        let issues = self.issues("""
            server:
              port: 70000
              logLevel: loud
            limits:
              maxMessageBytes: 8
              allowedOrigins: ["localhost"]
            endpoints:
              - path: ws
                codec: msgpack
                auth: sometimes
                compression: {maxWindowBits: 16}
            """)
        #expect(
            issues.map(\.path) == [
                "server.port", "server.logLevel", "limits.maxMessageBytes", "limits.allowedOrigins",
                "endpoints[0].path", "endpoints[0].codec", "endpoints[0].auth", "endpoints[0].compression.maxWindowBits",
            ]
        )
        #expect(issues[0].message == "must be 0...65535")
        #expect(issues[3].message.hasPrefix("'localhost' is not an origin pattern: scheme://host[:port]"))
        #expect(issues[4].message == "must start with '/'")
        #expect(issues[5].message == #"unknown codec "msgpack" (known: json, socketio)"#)
        #expect(issues[6].message == "must be one of none, optional, required")
    }

    @Test func missingRequiredRouteKeysAndRouteLimitAboveTheEndpoint() {
        let issues = self.issues("""
            endpoints:
              - path: /ws
                limits: {maxMessageBytes: 1000}
            plugins: {chat: {plugin: pubsub}}
            routes:
              - {endpoint: /ws, plugin: chat}
              - {endpoint: /ws, type: big, plugin: chat, maxMessageBytes: 2000}
            """)
        #expect(issues.map(\.path) == ["routes[0].type", "routes[1].maxMessageBytes"])
        #expect(issues.map(\.message) == ["missing key 'type'", "exceeds the endpoint's maxMessageBytes"])
    }

    @Test func routeRateLimits() throws {
        let yaml = """
            endpoints: [{path: /ws}]
            plugins: {chat: {plugin: pubsub}}
            routes:
              - {endpoint: /ws, type: publish, plugin: chat, messagesPerSecond: 2.5, burst: 3}
              - {endpoint: /ws, type: subscribe, plugin: chat}
            """
        let routes = try self.decode(yaml).configuration.routes
        #expect(routes[0].messagesPerSecond == 2.5)
        #expect(routes[0].burst == 3)
        #expect(routes[1].messagesPerSecond == nil)
        #expect(routes[1].burst == nil)

        let issues = self.issues("""
            endpoints: [{path: /ws}]
            plugins: {chat: {plugin: pubsub}}
            routes:
              - {endpoint: /ws, type: publish, plugin: chat, messagesPerSecond: 0, burst: 0}
            """)
        #expect(issues.map(\.path) == ["routes[0].messagesPerSecond", "routes[0].burst"])
        #expect(issues.map(\.message) == ["must be positive", "must be at least 1"])
    }

    @Test func yamlSyntaxError() {
        let issues = self.issues("server:\n  port: 8080\n\thost: x\n")
        #expect(issues.count == 1)
        #expect(issues.first?.message.hasPrefix("YAML syntax:") == true)
        #expect(issues.first?.line == 3)
        #expect(issues.first?.column == 1)
        #expect(issues.first?.path == "")

        let unclosed = self.issues("limits:\n  allowedOrigins: [\"http://a\", \n")
        #expect(unclosed.count == 1)
        #expect(unclosed.first?.message.hasPrefix("YAML syntax:") == true)
        #expect(unclosed.first?.line != nil)
    }

    // MARK: Several errors at once

    @Test func everyErrorIsReportedInOneError() throws {
        let yaml = try Self.fixture("many-errors")
        let error = #expect(throws: RelayConfigError.self) {
            try RouteFile.decode(yaml: yaml, file: "many-errors.yaml", environment: [:], registry: Self.registry)
        }
        let issues = try #require(error).issues
        #expect(
            issues.map(\.path) == [
                "server.port", "server.colour", "endpoints[1].path", "plugins.chat.plugin", "routes[0].overflow",
                "routes[1].endpoint", "routes[1].plugin",
            ]
        )
        #expect(issues.map(\.line) == [2, 3, 6, 9, 11, 12, 12])
        #expect(issues.map(\.column) == [9, 3, 11, 13, 54, 16, 43])
        let description = try #require(error).description.split(separator: "\n").map(String.init)
        #expect(description.count == 7)
        #expect(description.first == "many-errors.yaml:2:9: server.port: expected an integer")
        #expect(description.last == #"many-errors.yaml:12:43: routes[1].plugin: no plugin instance "ghost" (known: chat)"#)
    }

    @Test func loadReportsAMissingFile() {
        let error = #expect(throws: RelayConfigError.self) {
            try RouteFile.load(path: "/nonexistent/routes.yaml", environment: [:], registry: Self.registry)
        }
        #expect(error?.file == "/nonexistent/routes.yaml")
        #expect(error?.issues.first?.message.hasPrefix("cannot read file") == true)
    }

    // MARK: Environment overrides

    @Test func serverPortFromTheEnvironment() throws {
        let yaml = try Self.fixture("valid-routes")
        #expect(try self.decode(yaml, environment: ["RELAY_SERVER_PORT": "7000"]).configuration.server.port == 7000)
        #expect(try self.decode(yaml, environment: ["RELAY_PORT": "7100"]).configuration.server.port == 7100)
        // The full name wins over the alias.
        #expect(try self.decode(yaml, environment: ["RELAY_PORT": "7100", "RELAY_SERVER_PORT": "7000"]).configuration.server.port == 7000)
        // Unrelated variables change nothing.
        #expect(try self.decode(yaml, environment: ["PORT": "1", "RELAY_SERVERPORT": "2"]).configuration.server.port == 9000)
    }

    /// "Every setting can be set from the environment" — also when the file leaves the
    /// section out (the default route file has no `auth:` section, a minimal one no `server:`).
    @Test func environmentSetsKeysOfSectionsMissingFromTheFile() throws {
        let yaml = "endpoints:\n  - path: /ws\n"
        let configuration = try self.decode(
            yaml,
            environment: ["RELAY_PORT": "7100", "RELAY_LIMITS_MAX_MESSAGE_BYTES": "2048", "RELAY_AUTH_ISSUER": "https://issuer"]
        ).configuration
        #expect(configuration.server.port == 7100)
        #expect(configuration.limits.maxMessageBytes == 2048)
        #expect(configuration.auth.issuer == "https://issuer")
    }

    @Test func jwksFileAlias() throws {
        let yaml = try Self.fixture("valid-routes")
        #expect(try self.decode(yaml, environment: ["RELAY_JWKS_FILE": "/keys/a.jwks"]).configuration.auth.jwksFile == "/keys/a.jwks")
        #expect(
            try self.decode(yaml, environment: ["RELAY_JWKS_FILE": "/keys/a.jwks", "RELAY_AUTH_JWKS_FILE": "/keys/b.jwks"])
                .configuration.auth.jwksFile == "/keys/b.jwks"
        )
    }

    @Test func serverWideLimitFromTheEnvironmentReachesEndpoints() throws {
        let configuration = try self.decode(
            try Self.fixture("valid-routes"),
            environment: ["RELAY_LIMITS_MAX_MESSAGE_BYTES": "2048", "RELAY_LIMITS_ALLOWED_ORIGINS": "[https://a.example, 'http://localhost:*']"]
        ).configuration
        #expect(configuration.limits.maxMessageBytes == 2048)
        #expect(configuration.limits.allowedOrigins == ["https://a.example", "http://localhost:*"])
        // Inherited by the endpoint that does not set it…
        #expect(configuration.endpoints[0].limits.maxMessageBytes == 2048)
        #expect(configuration.endpoints[0].limits.allowedOrigins == ["https://a.example", "http://localhost:*"])
        // …while the endpoint's own value still wins.
        #expect(configuration.endpoints[1].limits.maxMessageBytes == 1_048_576)
    }

    @Test func endpointSettingsFromTheEnvironment() throws {
        let configuration = try self.decode(
            try Self.fixture("valid-routes"),
            environment: ["RELAY_ENDPOINTS_0_AUTH": "optional", "RELAY_ENDPOINTS_1_LIMITS_BURST": "7"]
        ).configuration
        #expect(configuration.endpoints[0].auth == .optional)
        #expect(configuration.endpoints[1].auth == EndpointSettings.AuthMode.none)
        #expect(configuration.endpoints[1].limits.burst == 7)
        #expect(configuration.endpoints[0].limits.burst == 50)
    }

    @Test func pluginSettingFromTheEnvironment() throws {
        let file = try self.decode(
            try Self.fixture("valid-routes"),
            environment: ["RELAY_PLUGINS_CHAT_CONFIG_ECHO": "true", "RELAY_PLUGINS_CHAT_CONFIG_PRESENCE": "false"]
        )
        #expect(file.configuration.plugins[0].config == ["echo": true, "presence": false])
        let chat = try #require(file.pluginConfigurations["chat"] as? PubSubConfiguration)
        #expect(chat.echo)
        #expect(!chat.presence)
        // Another instance of the same plugin is not affected.
        let media = try #require(file.pluginConfigurations["media"] as? PubSubConfiguration)
        #expect(!media.echo)
    }

    @Test func badlyTypedEnvironmentValueIsAnIssue() {
        let issues = self.issues("server:\n  host: 127.0.0.1\n  port: 9000\n", environment: ["RELAY_SERVER_PORT": "abc"])
        #expect(issues.count == 1)
        #expect(issues.first?.path == "server.port")
        #expect(issues.first?.message == "environment variable RELAY_SERVER_PORT: cannot read 'abc' as an integer")
        #expect(issues.first?.line == 3)
        #expect(issues.first?.column == 9)
    }

    @Test func badEnvironmentValuesAreValidatedLikeFileValues() {
        let issues = self.issues(
            try! Self.fixture("valid-routes"),
            environment: ["RELAY_ENDPOINTS_0_AUTH": "sometimes", "RELAY_PLUGINS_CHAT_CONFIG_ECHO": "maybe", "RELAY_SERVER_PORT": "99999"]
        )
        #expect(issues.map(\.path).sorted() == ["endpoints[0].auth", "plugins.chat.config.echo", "server.port"])
        #expect(issues.first { $0.path == "endpoints[0].auth" }?.message == "must be one of none, optional, required")
        #expect(issues.first { $0.path == "plugins.chat.config.echo" }?.message == "expected true or false")
        #expect(issues.first { $0.path == "server.port" }?.message == "must be 0...65535")
    }

    @Test func environmentNames() {
        let path = [AnyCodingKey("plugins"), AnyCodingKey("my-chat"), AnyCodingKey("config"), AnyCodingKey("historySize")]
        #expect(ConfigDecodingContext.environmentName(path) == "RELAY_PLUGINS_MY_CHAT_CONFIG_HISTORY_SIZE")
        #expect(ConfigDecodingContext.environmentName([AnyCodingKey("endpoints"), AnyCodingKey(intValue: 1), AnyCodingKey("limits"), AnyCodingKey("burst")]) == "RELAY_ENDPOINTS_1_LIMITS_BURST")
        #expect(ConfigDecodingContext.environmentName([AnyCodingKey("limits"), AnyCodingKey("connectionsPerIP")]) == "RELAY_LIMITS_CONNECTIONS_PER_IP")
    }
}
