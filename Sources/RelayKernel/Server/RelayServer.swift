import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
public import Logging
import NIOCore
import NIOSSL
public import ServiceLifecycle

/// A relay process: the HTTP and WebSocket server on one port, the plugin runtime, and the
/// services that must run beside it. Run its ``services`` in one `ServiceGroup`.
public final class RelayServer: Sendable {
    /// How the server finds its keys and files at start and on reload.
    public struct Options: Sendable {
        /// The route file.
        public var routeFile: String
        /// The environment (overrides and secrets).
        public var environment: [String: String]
        /// Overrides `server.port` (the `--port` flag).
        public var port: Int?
        /// Renders `/metrics` (the composition root owns the metrics backend).
        public var renderMetrics: (@Sendable () -> String)?
        /// Opens the stores and the cluster backplane for the route file's `store:` and
        /// `cluster:` settings (the composition root owns the drivers); the default keeps
        /// everything in memory.
        public var openBackends: @Sendable (RelayConfiguration) async throws -> RelayBackends

        /// Creates options.
        public init(
            routeFile: String,
            environment: [String: String],
            port: Int? = nil,
            renderMetrics: (@Sendable () -> String)? = nil,
            openBackends: @escaping @Sendable (RelayConfiguration) async throws -> RelayBackends = { _ in .inMemory() }
        ) {
            self.routeFile = routeFile
            self.environment = environment
            self.port = port
            self.renderMetrics = renderMetrics
            self.openBackends = openBackends
        }
    }

    let state: RelayState
    let options: Options
    private let timers: RelayTimers
    private let application: any Service
    private let logger: Logger

    /// Loads the route file, its keys and plugins, and builds the server (nothing listens yet).
    public init(options: Options, registry: PluginRegistry, logger: Logger) async throws {
        self.options = options
        self.logger = logger
        let file = try RouteFile.load(path: options.routeFile, environment: options.environment, registry: registry)
        try Self.requireKeySources(file)
        let keys = try await Self.loadKeys(file.configuration, environment: options.environment)
        let table = try RouteTable(file: file, registry: registry, previous: nil, logger: logger)
        let metrics = RelayMetrics()
        let timers = RelayTimers()
        let backends = try await options.openBackends(file.configuration)
        let runtime = PluginRuntime(
            hub: RelayHub(metrics: metrics, cluster: backends.cluster, journals: file.configuration.cluster.exactResume),
            timers: timers,
            store: backends.store,
            records: backends.records,
            keys: keys,
            logger: logger
        )
        let state = RelayState(table: table, registry: registry, runtime: runtime, metrics: metrics, logger: logger)
        self.state = state
        self.timers = timers
        self.application = try Self.makeApplication(state: state, table: table, options: options, logger: logger)
        await Self.start(table.createdInstances, state: state)
    }

    /// Tells newly created plugin instances that they are live.
    private static func start(_ instances: some Sequence<PluginInstance>, state: RelayState) async {
        for instance in instances {
            await instance.plugin.started(context: state.runtime.context(instance: instance.name, client: nil, route: nil))
        }
    }

    /// The services to run, in start order: the store closer, the cluster, timers, the listener,
    /// then the drainer (which therefore shuts down first, closing clients with 1001 before the
    /// listener stops; the store closes last). Connections need no service: each event loop
    /// sweeps its own.
    public var services: [any Service] {
        let cluster: [any Service] = self.state.clusterNode.map { node in
            [ClusterService(backplane: self.state.runtime.hub.cluster!, node: node)]
        } ?? []
        return [DurableStoreCloser(store: self.state.runtime.records, logger: self.logger)] + cluster + [
            self.timers,
            self.application,
            ConnectionDrainer(state: self.state, drainTimeout: self.state.currentTable.configuration.server.drainTimeout),
        ]
    }

    /// Re-reads the route file and swaps the new routes in; the old routes stay if it is invalid.
    public func reload() async throws {
        let file = try RouteFile.load(path: self.options.routeFile, environment: self.options.environment, registry: self.state.registry)
        try Self.requireKeySources(file)
        let keys = try await Self.loadKeys(file.configuration, environment: self.options.environment)
        let previous = self.state.currentTable
        let table = try RouteTable(file: file, registry: self.state.registry, previous: previous, logger: self.logger)
        self.state.runtime.replaceKeys(keys)
        self.state.replaceTable(table)
        await Self.start(table.createdInstances, state: self.state)
    }

    /// The resolved route table of a file, one line per endpoint and route (`relay routes`).
    public static func describeRoutes(file: String, environment: [String: String], registry: PluginRegistry, logger: Logger) throws -> String {
        let routeFile = try RouteFile.load(path: file, environment: environment, registry: registry)
        return try RouteTable(file: routeFile, registry: registry, previous: nil, logger: logger).description
    }

    /// Validates a route file fully, plugin creation included (`relay check`).
    public static func check(file: String, environment: [String: String], registry: PluginRegistry, logger: Logger) throws {
        let routeFile = try RouteFile.load(path: file, environment: environment, registry: registry)
        _ = try RouteTable(file: routeFile, registry: registry, previous: nil, logger: logger)
    }

    // MARK: Keys

    /// Refuses a route file whose endpoints verify tokens while no key source is configured
    /// (every token would be refused), naming each endpoint and the variables that supply keys.
    static func requireKeySources(_ file: RouteFile) throws(RelayConfigError) {
        guard file.keySourceProblems.isEmpty else { throw RelayConfigError(file: file.path, issues: file.keySourceProblems) }
    }

    static func loadKeys(_ configuration: RelayConfiguration, environment: [String: String]) async throws -> PluginRuntime.Keys {
        let auth = configuration.auth
        let secret = try environment["RELAY_JWT_SECRET"] ?? auth.jwtSecretFile.map(Self.readSecret)
        let jwks = try auth.jwksFile.map { try String(contentsOfFile: $0, encoding: .utf8) }
        let apiKey = try environment["RELAY_API_KEY"] ?? auth.apiKeyFile.map(Self.readSecret)
        let verifier = secret == nil && jwks == nil ? nil : try await TokenVerifier(settings: auth, secret: secret, jwks: jwks)
        return PluginRuntime.Keys(verifier: verifier, apiKey: apiKey)
    }

    private static func readSecret(_ path: String) throws -> String {
        try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    // MARK: HTTP and WebSocket

    private static func makeApplication(state: RelayState, table: RouteTable, options: Options, logger: Logger) throws -> any Service {
        let server = table.configuration.server
        let router = Router(context: RelayRequestContext.self)
        router.add(middleware: CORSPolicy(state: state))
        router.add(middleware: PluginHTTPDispatcher(state: state))
        ServerAPI(state: state).register(on: router)
        router.get("/healthz") { _, _ in Self.jsonResponse(["status": "ok"]) }
        router.get("/readyz") { _, _ in
            if state.isDraining { return Self.jsonResponse(["status": "draining"], status: .serviceUnavailable) }
            if let cluster = state.runtime.hub.cluster, !cluster.isReady {
                return Self.jsonResponse(["status": "cluster unreachable"], status: .serviceUnavailable)
            }
            guard await state.runtime.records.isReachable() else {
                return Self.jsonResponse(["status": "store unreachable"], status: .serviceUnavailable)
            }
            return Self.jsonResponse(["status": "ready"])
        }
        if let render = options.renderMetrics {
            router.get("/metrics") { _, _ in
                Response(
                    status: .ok,
                    headers: [.contentType: "text/plain; version=0.0.4"],
                    body: .init(byteBuffer: ByteBuffer(string: render()))
                )
            }
        }
        let upgrader = WebSocketUpgrader(state: state)
        var builder = HTTPServerBuilder { responder in
            RelayChildChannel(responder: responder, state: state, upgrader: upgrader, idleTimeout: .seconds(60))
        }
        if let tls = server.tls {
            let certificates = try NIOSSLCertificate.fromPEMFile(tls.certificateFile).map { NIOSSLCertificateSource.certificate($0) }
            let key = try NIOSSLPrivateKey(file: tls.keyFile, format: .pem)
            builder = try .tls(builder, tlsConfiguration: TLSConfiguration.makeServerConfiguration(certificateChain: certificates, privateKey: NIOSSLPrivateKeySource.privateKey(key)))
        }
        let port = options.port ?? server.port
        return Application(
            router: router,
            server: builder,
            configuration: ApplicationConfiguration(address: .hostname(server.host, port: port), serverName: "relay"),
            onServerRunning: { channel in
                logger.notice(
                    "relay listening",
                    metadata: ["network.local.address": "\(channel.localAddress?.description ?? "?")", "relay.routes": "\(options.routeFile)"]
                )
            },
            logger: logger
        )
    }

    static func jsonResponse(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        var buffer = ByteBuffer()
        value.write(into: &buffer)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: buffer))
    }
}
