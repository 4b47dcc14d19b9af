public import Logging
import Foundation
import NIOCore
import Synchronization

/// A relay without sockets: the route table, plugin instances, delivery with resume, the store
/// and the timers of a real relay, driven by calls instead of connections, on a clock the caller
/// moves. The `RelayTesting` library builds on it; a plugin's tests use that.
///
/// Everything a call causes has happened when it returns: the plugin handled the message, every
/// recipient's message is queued, timers that came due ran. Connections are never written to:
/// each ``InProcessClient`` reads its queue when asked.
public final class InProcessRelay: Sendable {
    /// The clock plugins read and timers run on.
    public let clock: RelayClock
    let state: RelayState
    /// Clients whose connection was closed by the relay (a plugin, an overflow, a resume
    /// elsewhere) and whose end the plugins have not heard yet.
    private let closed = Mutex<[(InProcessClient, ClientSession)]>([])

    /// Loads route file text (with `environment` for overrides and secrets such as
    /// `RELAY_JWT_SECRET` and `RELAY_API_KEY`), creates its plugin instances and starts them.
    /// `configurations` replaces the decoded settings of the named instances with values built
    /// in code (each must be the instance plugin's `Configuration`). Stores are in memory.
    public init(
        routeFile yaml: String,
        registry: PluginRegistry,
        environment: [String: String] = [:],
        configurations: [String: any Sendable] = [:],
        clock: RelayClock = .manual(),
        logger: Logger = Logger(label: "relay.in-process", factory: { _ in SwiftLogNoOpLogHandler() })
    ) async throws {
        var file = try RouteFile.decode(yaml: yaml, file: "", environment: environment, registry: registry)
        if !configurations.isEmpty { file = file.replacingPluginConfigurations(configurations) }
        let keys = try await RelayServer.loadKeys(file.configuration, environment: environment)
        let table = try RouteTable(file: file, registry: registry, previous: nil, logger: logger)
        let metrics = RelayMetrics()
        let runtime = PluginRuntime(
            hub: RelayHub(metrics: metrics),
            timers: RelayTimers(clock: clock),
            store: MemoryKeyValueStore(now: { clock.instant }),
            records: MemoryDurableStore(),
            keys: keys,
            logger: logger
        )
        self.clock = clock
        self.state = RelayState(table: table, registry: registry, runtime: runtime, metrics: metrics, logger: logger)
        for instance in table.createdInstances {
            await instance.plugin.started(context: runtime.context(instance: instance.name, client: nil, route: nil))
        }
    }

    // MARK: Clients

    /// Connects a client to the endpoint serving `path` (e.g. `/ws/portal-view/v1`) as the
    /// verified identity `userId` with `claims` (ignored on an `auth: none` endpoint); the
    /// endpoint's plugins hear it joined. Its first message is `connected`.
    ///
    /// Throws ``RelayError`` `not_found` when no endpoint serves `path`, `unauthenticated` when
    /// the endpoint requires a token and no identity is given, and the ``CloseReason`` the
    /// relay closes with when a plugin refuses the client (1008, or 1011 for a plugin failure).
    public func connect(_ path: String, userId: String? = nil, claims: [String: JSONValue] = [:], remoteAddress: String? = "127.0.0.1") async throws -> InProcessClient {
        await self.settle()
        guard let (endpoint, parameters) = self.state.currentTable.endpoint(forPath: path) else {
            throw RelayError(.notFound, "no endpoint serves \(path)")
        }
        let anonymous = endpoint.settings.auth == .none || (userId == nil && claims.isEmpty)
        if anonymous, endpoint.settings.auth == .required {
            throw RelayError(.unauthenticated, "\(endpoint.settings.path) requires a token")
        }
        let info = ClientInfo(
            id: .random(),
            userId: anonymous ? nil : userId,
            claims: anonymous ? [:] : claims,
            endpoint: endpoint.settings.path,
            parameters: parameters,
            codec: endpoint.settings.codec,
            remoteAddress: remoteAddress
        )
        let client = InProcessClient(relay: self, endpoint: endpoint)
        let session = ClientSession(info: info, bounds: self.bounds(endpoint), connection: client, resumeToken: RandomToken.make(length: 32))
        self.state.runtime.hub.register(session)
        let fields: [String: JSONValue]
        do {
            fields = try await ClientLifecycle.join(info, endpoint: endpoint, state: self.state)
        } catch {
            _ = self.state.runtime.hub.remove(session)
            throw error.joinRefusal
        }
        var connected = fields
        connected["clientId"] = .string(info.id.rawValue)
        connected["resumeToken"] = .string(session.resumeToken)
        connected["resumed"] = .bool(false)
        client.attach(session, greeting: .json(type: "connected", fields: connected))
        await self.settle()
        return client
    }

    /// Reconnects with a resume token and the count of messages the client had received (what
    /// `?resume=<token>&lastSeen=<n>` does): the identity continues with every message it missed,
    /// or, when it can no longer be resumed, a fresh identity starts (`resumed: false`).
    public func resume(_ path: String, token: String, lastSeen: Int, userId: String? = nil, claims: [String: JSONValue] = [:]) async throws -> InProcessClient {
        await self.settle()
        guard let (endpoint, _) = self.state.currentTable.endpoint(forPath: path) else {
            throw RelayError(.notFound, "no endpoint serves \(path)")
        }
        let client = InProcessClient(relay: self, endpoint: endpoint)
        let hub = self.state.runtime.hub
        let newToken = RandomToken.make(length: 32)
        if let session = hub.redeem(resumeToken: token, accept: { $0.info.userId == userId && $0.info.endpoint == endpoint.settings.path }),
            let resumed = session.resume(on: client, lastSeen: lastSeen, newToken: newToken)
        {
            hub.issue(resumeToken: newToken, for: session)
            resumed.previous?.requestClose(CloseReason(.normal, "resumed on another connection"))
            let greeting = OutboundMessage.json(
                type: "connected",
                ["clientId": .string(session.id.rawValue), "resumeToken": .string(newToken), "resumed": true, "replayed": .int(resumed.replayed)]
            )
            client.attach(session, greeting: greeting, received: lastSeen)
            await self.settle()
            return client
        }
        let fresh = try await self.connect(path, userId: userId, claims: claims)
        fresh.noteFailedResume()
        return fresh
    }

    // MARK: Time

    /// Moves the clock forward by `duration` and runs every timer that came due, in deadline
    /// order (the resume grace of dropped clients included), stopping at each deadline on the
    /// way so a timer sees the time it was due at.
    public func advance(by duration: Duration) async {
        await self.settle()
        let target = self.clock.instant + duration
        while let next = self.state.runtime.timers.nextDeadline, next <= target {
            let step = next - self.clock.instant
            if step > .zero { self.clock.advance(by: step) }
            await self.settle()
        }
        let rest = target - self.clock.instant
        if rest > .zero { self.clock.advance(by: rest) }
        await self.settle()
    }

    // MARK: HTTP

    /// Sends an HTTP request to the plugins' REST routes, as the relay's port would; `path` may
    /// carry a query (`/api/alerts?limit=5`). Answers 404 when no plugin route matches.
    public func request(_ method: String, _ path: String, headers: [String: String] = [:], body: ByteBuffer = ByteBuffer()) async -> PluginHTTPResponse {
        await self.settle()
        let route = String(UpgradeRequest.path(of: path))
        let query = UpgradeRequest.query(of: path).map(UpgradeRequest.parseQuery) ?? [:]
        var lowered: [String: String] = [:]
        for (name, value) in headers { lowered[name.lowercased()] = value }
        for (instance, httpRoute) in self.state.currentTable.httpRoutes where httpRoute.method == method.uppercased() {
            guard let parameters = httpRoute.path.match(route) else { continue }
            let request = PluginHTTPRequest(
                method: method.uppercased(),
                path: route,
                parameters: parameters,
                query: query,
                headers: lowered,
                body: body,
                remoteAddress: "127.0.0.1"
            )
            let response = await PluginHTTPDispatcher.run(request, instance: instance, route: httpRoute, state: self.state, logger: self.state.logger)
            await self.settle()
            return response
        }
        return .error(RelayError(.notFound, "no route for \(method) \(route)"))
    }

    // MARK: Internals

    /// A client's connection was closed by the relay: its session is dropped (kept for the
    /// resume grace) once the current call is done.
    func closed(_ client: InProcessClient, session: ClientSession) {
        self.closed.withLock { $0.append((client, session)) }
    }

    /// Lets the plugins hear about connections the relay closed, and runs the timers already
    /// due (work a plugin deferred with a zero delay), until nothing is left.
    func settle() async {
        while true {
            while let (client, session) = self.closed.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) {
                await ClientLifecycle.connectionEnded(session, connection: client, clean: false, state: self.state)
            }
            guard await self.state.runtime.timers.fireDue() > 0 else { return }
        }
    }

    private func bounds(_ endpoint: CompiledEndpoint) -> ClientSession.Bounds {
        ClientSession.Bounds(
            queueMessages: endpoint.settings.limits.queueMessages,
            queueBytes: endpoint.settings.limits.queueBytes,
            replayMessages: self.state.currentTable.configuration.server.resumeBufferMessages
        )
    }
}
