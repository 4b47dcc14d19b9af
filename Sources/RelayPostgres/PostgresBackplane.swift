package import Logging
import Metrics
import NIOCore
import PostgresNIO
package import RelayKernel
import Synchronization

/// The cluster backplane on PostgreSQL.
///
/// - Every node process has an inbox (``nodeID``: the configured node id and a random suffix,
///   new at every start). Cross-node messages are rows of `relay_messages`, numbered per inbox
///   in commit order, written in batches by one writer per node (so one node's messages reach
///   each recipient in the order sent), with a `NOTIFY` on the target inbox's channel as a
///   wake-up only. Payloads therefore have no size cap, and rows wait for a listener that is
///   reconnecting. The target takes its rows in order and leaves them in place: they are
///   deleted once the clients they were for have passed them (their journals say so).
/// - Before a node writes a frame to a client's socket, the client's journal record is in
///   `relay_journal` (same writer, same batch). A node that takes a client over after its node
///   died replays from it exactly what the client missed, or answers `resumed: false`.
/// - Each node holds `LISTEN` on a dedicated connection (never a pooled one, which breaks behind
///   transaction-mode poolers): `relay_inbox_<inbox>` for wake-ups and `relay_events` for
///   directory changes, which every node applies to its ``ClusterDirectory``. The writer and
///   the fetch loop have a connection each too (prepared statements, no pool waits).
/// - Nodes heartbeat in `relay_nodes`; a node that stops is reaped by a survivor (its clients
///   stay with its inbox until they resume elsewhere or their grace ends).
package final class PostgresBackplane: ClusterBackplane {
    package let nodeID: String
    /// The configured node id (``nodeID`` is this process's inbox).
    /// The configured node id, shared by its processes.
    package let nodeName: String
    package let directory: ClusterDirectory
    let database: PostgresDatabase
    let settings: ClusterSettings
    let logger: Logger
    let outbox: ClusterOutbox
    let fetchSignal = WakeSignal()
    /// The writer's batches and this node's takeovers, one at a time.
    let takeovers = AsyncGate()
    let links: ClusterLinks
    /// Where this node's media link listens (once running).
    let linkAddress = Mutex<String?>(nil)
    private let ready = Atomic<Bool>(false)
    /// When the current database session started (a reaper waits `nodeTimeout` after it, so
    /// nodes that were cut off with it have had time to heartbeat again).
    let connectedSince = Mutex<ContinuousClock.Instant?>(nil)
    /// Whether this node's rows must be rewritten from its local state (changes were lost).
    let needsResync = Atomic<Bool>(false)
    /// The last row of this node's inbox taken.
    let fetched = Atomic<Int64>(0)
    private let connectionIDs = Atomic<Int>(0)
    /// The kernel side, once running.
    let node = Mutex<ClusterNode?>(nil)
    let dropped = Counter(label: "relay_drops_total", dimensions: [("reason", "cluster_unavailable")])
    /// 1 while the backplane is connected (LISTEN running, outbox open), else 0.
    private let up = Meter(label: "relay_cluster_backplane_up")

    /// The channel every node listens on for directory events.
    static let eventsChannel = "relay_events"

    /// Creates the backplane for this node (nothing connects before ``run(node:)``).
    package init(database: PostgresDatabase, settings: ClusterSettings, logger: Logger) {
        let name = settings.nodeId ?? "n" + Self.randomSuffix()
        let nodeID = name + "_" + Self.randomSuffix()
        self.nodeName = name
        self.nodeID = nodeID
        self.directory = ClusterDirectory(localNode: nodeID)
        self.database = database
        self.settings = settings
        self.outbox = ClusterOutbox(capacity: settings.outboundQueue)
        var logger = logger
        logger[metadataKey: "relay.cluster.node"] = "\(nodeID)"
        self.logger = logger
        self.links = ClusterLinks(nodeID: nodeID, logger: logger)
    }

    private static func randomSuffix() -> String {
        String(UInt64.random(in: 0...UInt64(UInt32.max)), radix: 36)
    }

    /// The wake-up channel of an inbox.
    static func channel(of inbox: String) -> String { "relay_inbox_" + inbox }

    package var isReady: Bool { self.ready.load(ordering: .relaxed) }

    package func submit(_ item: ClusterOutgoing) -> Bool {
        if case .media(let node, let envelope) = item { return self.links.send(envelope, to: node) }
        if self.outbox.add(item) { return true }
        if case .change = item { self.needsResync.store(true, ordering: .relaxed) }
        return false
    }

    package func flush() async {
        await self.outbox.flush()
    }

    // MARK: Running

    package func run(node: ClusterNode) async throws {
        self.node.withLock { $0 = node }
        let address = try await self.links.listen(host: self.settings.linkHost, port: self.settings.linkPort, node: node)
        self.linkAddress.withLock { $0 = address }
        defer { self.links.close() }
        var backoff = Duration.milliseconds(250)
        while !Task.isCancelled {
            do {
                try await self.connectedSession(node: node)
            } catch {
                if Task.isCancelled { break }
                self.logger.warning("cluster backplane disconnected; reconnecting", metadata: ["error.type": "\(PostgresDatabase.reason(error))"])
            }
            self.goOffline()
            if Task.isCancelled { break }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(2))
            if self.isReady { backoff = .milliseconds(250) }
        }
        self.goOffline()
        await self.leaveCluster()
    }

    /// One database session: listen, register, then deliver until something fails.
    private func connectedSession(node: ClusterNode) async throws {
        let connection = try await self.connect("listen")
        var others: [PostgresConnection] = []
        do {
            let writer = try await self.connect("writer", synchronousCommit: false)
            others.append(writer)
            let fetcher = try await self.connect("fetch")
            others.append(fetcher)
            try await withThrowingTaskGroup(of: Void.self) { group in
                let listening = ListeningGate(expected: 2)
                group.addTask {
                    defer { listening.fail() }
                    try await connection.listen(on: Self.eventsChannel) { notifications in
                        listening.arrive()
                        for try await notification in notifications { self.handleEvents(notification.payload) }
                    }
                    throw PostgresDatabaseError("the LISTEN connection closed")
                }
                group.addTask {
                    defer { listening.fail() }
                    try await connection.listen(on: Self.channel(of: self.nodeID)) { notifications in
                        listening.arrive()
                        for try await _ in notifications { self.fetchSignal.signal() }
                    }
                    throw PostgresDatabaseError("the LISTEN connection closed")
                }
                let limit = Duration.seconds(max(self.settings.nodeTimeout, 1))
                let deadline = Task {
                    try await Task.sleep(for: limit)
                    listening.fail()  // LISTEN did not start in time: this session is over
                }
                defer { deadline.cancel() }
                guard await listening.wait() else {
                    throw PostgresDatabaseError("LISTEN did not start within \(limit)")
                }
                try await self.answered("register") { try await self.register(node: node, on: writer) }
                try await self.answered("directory") { try await self.loadDirectory(on: writer) }
                self.connectedSince.withLock { $0 = .now }
                node.journalConnected()
                self.outbox.open()
                self.ready.store(true, ordering: .relaxed)
                self.up.set(1)
                self.logger.notice("cluster backplane connected")
                self.fetchSignal.signal()
                group.addTask { try await self.fetchLoop(node: node, on: fetcher) }
                group.addTask { try await self.writeLoop(node: node, on: writer) }
                group.addTask { try await self.livenessLoop(node: node) }
                _ = try await group.next()
                group.cancelAll()
            }
        } catch {
            for other in others { await self.close(other) }
            await self.close(connection)
            throw error
        }
        for other in others { await self.close(other) }
        await self.close(connection)
    }

    /// A dedicated connection (outside the pool) named after this node process; `synchronousCommit`
    /// off for the writer (see docs/cluster.md, "Durability").
    private func connect(_ role: String, synchronousCommit: Bool = true) async throws -> PostgresConnection {
        var configuration = self.database.connectionConfiguration
        configuration.options.additionalStartupParameters += [
            ("application_name", "relay \(self.nodeID) \(role)"),
            ("statement_timeout", "\(PostgresDatabase.requestTimeout.components.seconds * 2 * 1000)"),
        ]
        if !synchronousCommit { configuration.options.additionalStartupParameters.append(("synchronous_commit", "off")) }
        let id = self.connectionIDs.wrappingAdd(1, ordering: .relaxed).newValue
        let logger = self.logger
        let configured = configuration
        return try await self.answered("connect") {
            try await PostgresConnection.connect(configuration: configured, id: id, logger: logger)
        }
    }

    /// Closes a dedicated connection, without waiting on a server that does not answer.
    private func close(_ connection: PostgresConnection) async {
        _ = try? await withTimeLimit(.seconds(2), timeoutError: { CancellationError() }) { try await connection.close() }
    }

    /// Refuses new items and counts what was queued as undeliverable; frames stop waiting for
    /// journal records.
    private func goOffline() {
        let wasReady = self.ready.exchange(false, ordering: .relaxed)
        self.up.set(0)
        self.connectedSince.withLock { $0 = nil }
        let lost = self.outbox.close()
        self.account(lost: lost)
        if wasReady { self.node.withLock { $0 }?.journalDisconnected() }
    }

    /// Counts envelopes that will not be delivered and tells their senders; lost changes call
    /// for a resync.
    func account(lost items: [ClusterOutgoing]) {
        var envelopes = 0
        var origins: [ClusterOrigin] = []
        for item in items {
            switch item {
            case .change:
                self.needsResync.store(true, ordering: .relaxed)
            case .media:
                continue
            case .toClient(_, _, let origin), .toRoom(_, _, let origin, _, _):
                envelopes += 1
                if let origin { origins.append(origin) }
            case .toNode, .toNodeNamed:
                envelopes += 1
            }
        }
        if envelopes > 0 { self.dropped.increment(by: Int64(envelopes)) }
        if !origins.isEmpty { self.node.withLock { $0 }?.undeliverable(origins) }
    }

    // MARK: Receiving

    /// Takes this node's rows and hands them to the kernel, in order.
    private func fetchLoop(node: ClusterNode, on connection: PostgresConnection) async throws {
        let batch: Int64 = 1000
        while !Task.isCancelled {
            await self.fetchSignal.wait()
            while !Task.isCancelled {
                let statement = InboxFetch(inbox: self.nodeID, after: self.fetched.load(ordering: .relaxed), limit: batch)
                let logger = self.logger
                let rows = try await self.answered("fetch") {
                    try await connection.rows(of: statement, logger: logger)
                }
                for (seq, envelope) in rows {
                    node.receive(envelope, ref: ClusterFrameRef(inbox: self.nodeID, seq: seq))
                    self.fetched.store(seq, ordering: .relaxed)
                }
                if rows.count < batch { break }
            }
        }
    }

    /// Applies a batch of directory events another node broadcast.
    private func handleEvents(_ payload: String) {
        guard let batch = try? JSONParser.parse(payload.utf8), let origin = batch["o"]?.stringValue, origin != self.nodeID else { return }
        if batch["reload"]?.boolValue == true {
            Task { try? await self.loadDirectory() }
            return
        }
        for json in batch["e"]?.arrayValue ?? [] {
            if let event = ClusterDirectory.Event(json: json) { self.directory.apply(event) }
        }
    }

    /// Reloads the directory from the tables (clients of a dead node process have no node), on
    /// `connection` or a pooled one.
    func loadDirectory(on connection: PostgresConnection? = nil) async throws {
        let clientsQuery: PostgresQuery =
            "SELECT CASE WHEN n.dead_at IS NULL THEN c.inbox END, c.info FROM relay_clients c LEFT JOIN relay_nodes n ON n.inbox = c.inbox"
        let membersQuery: PostgresQuery =
            "SELECT m.room, m.client_id, CASE WHEN n.dead_at IS NULL THEN m.inbox END FROM relay_room_members m LEFT JOIN relay_nodes n ON n.inbox = m.inbox"
        let clients = try await self.database.query(clientsQuery, via: connection)
        let members = try await self.database.query(membersQuery, via: connection)
        var snapshot = ClusterDirectory.Snapshot(clients: [], memberships: [])
        for row in clients {
            let (node, text) = try row.decode((String?, String).self)
            guard let json = try? JSONParser.parse(text.utf8), let info = ClientInfo(json: json) else { continue }
            snapshot.clients.append((info, node))
        }
        for row in members {
            let (room, client, node) = try row.decode((String, String, String?).self)
            snapshot.memberships.append((room, ClientID(client), node))
        }
        self.directory.load(snapshot)
        try await self.loadLinks(on: connection)
    }

    /// Reads the media link secret and every node's link address (on `connection` or a pooled one).
    func loadLinks(on connection: PostgresConnection? = nil) async throws {
        let secretQuery: PostgresQuery = "SELECT value FROM relay_cluster WHERE name = 'link_secret'"
        let addressQuery: PostgresQuery = "SELECT inbox, link_address FROM relay_nodes WHERE link_address IS NOT NULL AND dead_at IS NULL"
        let secret = try await self.database.query(secretQuery, via: connection)
        if let secret = try secret.first?.decode(String.self) { self.links.useSecret(secret) }
        var addresses: [String: String] = [:]
        for row in try await self.database.query(addressQuery, via: connection) {
            let (node, address) = try row.decode((String, String).self)
            addresses[node] = address
        }
        self.links.useAddresses(addresses)
    }

    /// Runs `body`, failing if the database does not answer within `nodeTimeout`: a request
    /// stuck on a dead server must end the session so the backplane reconnects. The request is
    /// abandoned, not awaited (a pooled request may wait for a connection far longer).
    func answered<T: Sendable>(_ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let limit = Duration.seconds(max(self.settings.nodeTimeout, 1))
        return try await withTimeLimit(limit, timeoutError: { PostgresDatabaseError("the database did not answer (\(what)) within \(limit)") }, body)
    }

    // MARK: Leaving

    /// On shutdown: this node's clients become resumable elsewhere at once, without waiting for
    /// the heartbeat to time out.
    private func leaveCluster() async {
        let me = self.nodeID
        let work = Task {
            try await self.database.withTransaction { connection in
                try await self.database.query("UPDATE relay_nodes SET dead_at = now() WHERE inbox = \(me) AND dead_at IS NULL", on: connection)
                try await self.broadcast([ClusterDirectory.Event.nodeDied(me).json], on: connection)
            }
        }
        let timeout = Task {
            try? await Task.sleep(for: .seconds(2))
            work.cancel()
        }
        do {
            try await work.value
            self.logger.notice("left the cluster")
        } catch {
            self.logger.warning("could not leave the cluster cleanly", metadata: ["error.type": "\(PostgresDatabase.reason(error))"])
        }
        timeout.cancel()
    }
}

/// Opens once every expected listener has started, or as soon as one fails.
private final class ListeningGate: Sendable {
    private let state: Mutex<(remaining: Int, failed: Bool)>
    private let signal = WakeSignal()

    init(expected: Int) {
        self.state = Mutex((expected, false))
    }

    func arrive() {
        let done = self.state.withLock { state -> Bool in
            state.remaining -= 1
            return state.remaining == 0
        }
        if done { self.signal.signal() }
    }

    func fail() {
        self.state.withLock { $0.failed = true }
        self.signal.signal()
    }

    /// `true` when every listener started, `false` when one failed first.
    func wait() async -> Bool {
        await self.signal.wait()
        return self.state.withLock { $0.remaining == 0 && !$0.failed }
    }
}
