public import Logging
import NIOCore
public import RelayKernel

/// Plugin instances running in the test process, as a relay would run them, with simulated
/// clients and a clock the test moves (the `RelayTesting` counterpart of Hummingbird's
/// `HummingbirdTesting`).
///
/// Start one from a route file snippet, or from one plugin and its settings; connect clients
/// with the claims and endpoint parameters you need; send; read what each client got; move the
/// clock to fire the plugin's timers and expire its store entries; drop and resume clients.
/// Every call returns once everything it caused has happened, so tests need no sleeps.
///
/// ```swift
/// let relay = try await TestRelay(plugin: PollsPlugin.self, config: "{maxOptions: 3}", endpoint: "/ws/polls/:room")
/// let alice = try await relay.connect("/ws/polls/lunch", userId: "alice")
/// await alice.send(["type": "poll.open", "question": "Pizza?", "options": ["yes", "no"]])
/// let opened = try alice.receive("poll.opened")
/// await relay.advance(by: .seconds(60))
/// try alice.receive("poll.closed")
/// ```
public final class TestRelay: Sendable {
    /// The relay underneath (stores, clock, HTTP) for what this type does not wrap.
    public let relay: InProcessRelay

    /// The secret test relays sign and verify tokens with (`RELAY_JWT_SECRET`).
    public static let jwtSecret = "relay-testing-jwt-secret-0123456789abcdef"
    /// The server API key of test relays (`RELAY_API_KEY`), for plugins' REST routes.
    public static let apiKey = "relay-testing-api-key-0123456789"

    /// Runs the route file `routes` (YAML) with the plugin types `plugins`. `configurations`
    /// replaces the settings of named instances with values built in code. The environment
    /// always holds ``jwtSecret`` and ``apiKey`` unless `environment` sets them.
    public init(
        routes: String,
        plugins: [any RelayPlugin.Type],
        configurations: [String: any Sendable] = [:],
        environment: [String: String] = [:],
        clock: RelayClock = .manual(),
        logger: Logger = Logger(label: "relay.testing", factory: { _ in SwiftLogNoOpLogHandler() })
    ) async throws {
        let environment = ["RELAY_JWT_SECRET": Self.jwtSecret, "RELAY_API_KEY": Self.apiKey].merging(environment) { _, given in given }
        self.relay = try await InProcessRelay(
            routeFile: routes,
            registry: PluginRegistry(plugins),
            environment: environment,
            configurations: configurations,
            clock: clock,
            logger: logger
        )
    }

    /// Runs one instance (named `instance`) of `plugin` with the settings `config` (YAML, e.g.
    /// `{codeTTL: 5}`) on one endpoint `endpoint` (`:name` segments are parameters) that routes
    /// every message type to it.
    public convenience init<P: RelayPlugin>(
        plugin: P.Type,
        config: String = "{}",
        endpoint: String = "/ws",
        auth: EndpointSettings.AuthMode = .optional,
        instance: String = "test",
        clock: RelayClock = .manual()
    ) async throws {
        try await self.init(routes: Self.routeFile(plugin: P.name, config: config, endpoint: endpoint, auth: auth, instance: instance), plugins: [plugin], clock: clock)
    }

    /// Like ``init(plugin:config:endpoint:auth:instance:clock:)`` with settings built in code.
    public convenience init<P: RelayPlugin>(
        plugin: P.Type,
        configuration: P.Configuration,
        endpoint: String = "/ws",
        auth: EndpointSettings.AuthMode = .optional,
        instance: String = "test",
        clock: RelayClock = .manual()
    ) async throws {
        try await self.init(
            routes: Self.routeFile(plugin: P.name, config: "{}", endpoint: endpoint, auth: auth, instance: instance),
            plugins: [plugin],
            configurations: [instance: configuration],
            clock: clock
        )
    }

    /// The clock the plugins read and their timers run on.
    public var clock: RelayClock { self.relay.clock }

    /// Connects a client to the endpoint serving `path` as `userId` with token `claims`;
    /// returns it once the plugins accepted it (its `connected` message is ``TestClient/connected``).
    /// Throws the ``CloseReason`` when a plugin refuses it.
    public func connect(_ path: String, userId: String? = nil, claims: [String: JSONValue] = [:]) async throws -> TestClient {
        let client = try await self.relay.connect(path, userId: userId, claims: claims)
        return try TestClient(client, relay: self, path: path, userId: userId, claims: claims)
    }

    /// Moves the clock forward, firing every timer that comes due (resume graces included).
    public func advance(by duration: Duration) async {
        await self.relay.advance(by: duration)
    }

    /// Sends an HTTP request to the plugins' REST routes (`body` is sent as JSON).
    public func request(_ method: String, _ path: String, headers: [String: String] = [:], json body: JSONValue? = nil) async -> TestHTTPResponse {
        var headers = headers
        var buffer = ByteBuffer()
        if let body {
            buffer.writeString(body.jsonText)
            headers["content-type"] = headers["content-type"] ?? "application/json"
        }
        return TestHTTPResponse(await self.relay.request(method, path, headers: headers, body: buffer))
    }

    /// A bearer token for `sub` with `claims`, signed with ``jwtSecret`` and valid for an hour.
    public func token(sub: String, claims: [String: JSONValue] = [:]) async throws -> String {
        let now = self.clock.secondsSince1970
        var all = claims
        all["sub"] = .string(sub)
        all["iat"] = .int(Int(now))
        all["exp"] = .int(Int(now) + 3600)
        return try await self.relay.signToken(all)
    }

    /// The route file of ``init(plugin:config:endpoint:auth:instance:clock:)``.
    static func routeFile(plugin: String, config: String, endpoint: String, auth: EndpointSettings.AuthMode, instance: String) -> String {
        """
        endpoints:
          - {path: "\(endpoint)", codec: json, auth: \(auth.rawValue)}
        plugins:
          \(instance):
            plugin: \(plugin)
            config: \(config)
        routes:
          - {endpoint: "\(endpoint)", type: "*", plugin: \(instance)}
        """
    }
}
