public import Logging
import NIOCore
public import RelayKernel

/// Plugin instances running as a relay runs them, with clients the test drives and a clock it
/// moves (the `RelayTesting` counterpart of Hummingbird's `HummingbirdTesting`).
///
/// Start one from a route file snippet, or from one plugin and its settings; connect clients
/// with the claims and endpoint parameters you need; send; read what each client got; move the
/// clock to fire the plugin's timers and expire its store entries; drop and resume clients.
///
/// By default (``TestRelayMode/inProcess``) everything runs in the test process without
/// sockets, and every call returns once everything it caused has happened, so tests need no
/// sleeps. ``run(_:routes:plugins:environment:_:)`` runs the same test body ``TestRelayMode/live``
/// too: against a real relay on a free port, over real WebSockets and HTTP.
///
/// ```swift
/// let relay = try await TestRelay(plugin: PollsPlugin.self, config: "{maxOptions: 3}", endpoint: "/ws/polls/:room")
/// let alice = try await relay.connect("/ws/polls/lunch", userId: "alice")
/// try await alice.send(["type": "poll.open", "question": "Pizza?", "options": ["yes", "no"]])
/// let opened = try await alice.receive("poll.opened")
/// await relay.advance(by: .seconds(60))
/// try await alice.receive("poll.closed")
/// ```
public final class TestRelay: Sendable {
    enum Backend: Sendable {
        case inProcess(InProcessRelay)
        case live(LiveRelay)
    }

    let backend: Backend

    /// The secret test relays sign and verify tokens with (`RELAY_JWT_SECRET`).
    public static let jwtSecret = "relay-testing-jwt-secret-0123456789abcdef"
    /// The server API key of test relays (`RELAY_API_KEY`), for plugins' REST routes.
    public static let apiKey = "relay-testing-api-key-0123456789"

    /// A logger that prints nothing.
    public static let quietLogger = Logger(label: "relay.testing", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Runs the route file `routes` (YAML) with the plugin types `plugins` in the test process.
    /// `configurations` replaces the settings of named instances with values built in code. The
    /// environment always holds ``jwtSecret`` and ``apiKey`` unless `environment` sets them.
    public init(
        routes: String,
        plugins: [any RelayPlugin.Type],
        configurations: [String: any Sendable] = [:],
        environment: [String: String] = [:],
        clock: RelayClock = .manual(),
        logger: Logger = TestRelay.quietLogger
    ) async throws {
        self.backend = .inProcess(
            try await InProcessRelay(
                routeFile: routes,
                registry: PluginRegistry(plugins),
                environment: Self.environment(environment),
                configurations: configurations,
                clock: clock,
                logger: logger
            )
        )
    }

    /// Runs one instance (named `instance`) of `plugin` with the settings `config` (YAML, e.g.
    /// `{codeTTL: 5}`) on one endpoint `endpoint` (`:name` segments are parameters) that routes
    /// every message type to it, in the test process.
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

    private init(live: LiveRelay) {
        self.backend = .live(live)
    }

    /// Runs `body` with the route file `routes` and the plugin types `plugins` in `mode`; a live
    /// relay stops when `body` returns. Write the body once and run it both ways.
    public static func run<Result: Sendable>(
        _ mode: TestRelayMode,
        routes: String,
        plugins: [any RelayPlugin.Type],
        environment: [String: String] = [:],
        logger: Logger = TestRelay.quietLogger,
        _ body: @Sendable (TestRelay) async throws -> Result
    ) async throws -> Result {
        switch mode {
        case .inProcess:
            return try await body(TestRelay(routes: routes, plugins: plugins, environment: environment, logger: logger))
        case .live:
            return try await LiveRelay.run(routes: routes, registry: PluginRegistry(plugins), environment: Self.environment(environment), logger: logger) { live in
                try await body(TestRelay(live: live))
            }
        }
    }

    /// Where the plugins run.
    public var mode: TestRelayMode {
        if case .live = self.backend { return .live }
        return .inProcess
    }

    /// The in-process relay underneath (stores, clock, HTTP) for what this type does not wrap;
    /// `nil` when live.
    public var inProcess: InProcessRelay? {
        if case .inProcess(let relay) = self.backend { return relay }
        return nil
    }

    /// The clock the plugins read and their timers run on (the system clock when live).
    public var clock: RelayClock {
        if case .inProcess(let relay) = self.backend { return relay.clock }
        return .system
    }

    /// Connects a client to the endpoint serving `path` as `userId` with token `claims` (live:
    /// a token signed with ``jwtSecret``; none when both are empty); returns it once the plugins
    /// accepted it (its `connected` message is ``TestClient/connected``). Throws the
    /// ``CloseReason`` when a plugin refuses it.
    public func connect(_ path: String, userId: String? = nil, claims: [String: JSONValue] = [:]) async throws -> TestClient {
        switch self.backend {
        case .inProcess(let relay):
            return try TestClient(inProcess: try await relay.connect(path, userId: userId, claims: claims), relay: self, path: path, userId: userId, claims: claims)
        case .live(let live):
            let (connection, connected) = try await LiveConnection.open(port: live.port, path: try await self.livePath(path, userId: userId, claims: claims))
            return TestClient(live: connection, connected: connected, relay: self, path: path, userId: userId, claims: claims)
        }
    }

    /// Moves the clock forward, firing every timer that comes due (resume graces included);
    /// live, waits that long.
    public func advance(by duration: Duration) async {
        switch self.backend {
        case .inProcess(let relay): await relay.advance(by: duration)
        case .live: try? await Task.sleep(for: duration)
        }
    }

    /// Sends an HTTP request to the plugins' REST routes (`body` is sent as JSON).
    public func request(_ method: String, _ path: String, headers: [String: String] = [:], json body: JSONValue? = nil) async throws -> TestHTTPResponse {
        var headers = headers
        var buffer = ByteBuffer()
        if let body {
            buffer.writeString(body.jsonText)
            headers["content-type"] = headers["content-type"] ?? "application/json"
        }
        switch self.backend {
        case .inProcess(let relay):
            let response = await relay.request(method, path, headers: headers, body: buffer)
            return TestHTTPResponse(status: response.status, contentType: response.contentType, body: String(buffer: response.body), headers: response.headers)
        case .live(let live):
            let response = try await live.request(method, path, headers: headers, body: buffer)
            return TestHTTPResponse(status: response.status, contentType: response.contentType, body: response.body, headers: response.headers)
        }
    }

    /// A bearer token for `sub` with `claims`, signed with ``jwtSecret`` and valid for an hour.
    public func token(sub: String, claims: [String: JSONValue] = [:]) async throws -> String {
        let now = self.clock.secondsSince1970
        var all = claims
        all["sub"] = .string(sub)
        all["iat"] = .int(Int(now))
        all["exp"] = .int(Int(now) + 3600)
        return try await TokenVerifier.mintDevelopmentToken(secret: Self.jwtSecret, claims: all)
    }

    /// `path` with `?token=` for a live connection of `userId` with `claims`.
    func livePath(_ path: String, userId: String?, claims: [String: JSONValue], query: String = "") async throws -> String {
        var parameters: [String] = []
        if userId != nil || !claims.isEmpty {
            var all = claims
            if let userId { all["sub"] = .string(userId) }
            parameters.append("token=\(try await self.token(sub: all["sub"]?.stringValue ?? "anonymous", claims: all))")
        }
        if !query.isEmpty { parameters.append(query) }
        return parameters.isEmpty ? path : "\(path)?\(parameters.joined(separator: "&"))"
    }

    private static func environment(_ given: [String: String]) -> [String: String] {
        ["RELAY_JWT_SECRET": Self.jwtSecret, "RELAY_API_KEY": Self.apiKey].merging(given) { _, given in given }
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
