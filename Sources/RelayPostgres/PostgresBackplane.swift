package import Logging
import Metrics
import NIOCore
import PostgresNIO
package import RelayKernel
import Synchronization

/// The cluster backplane on PostgreSQL.
///
/// - Cross-node messages are rows of `relay_messages`, written in batches by one writer task per
///   node (so one node's messages reach each recipient in the order sent), with a `NOTIFY` on
///   the target node's channel as a wake-up only. Payloads therefore have no size cap, and rows
///   wait for a listener that is reconnecting or for a client whose node died.
/// - Each node holds `LISTEN` on a dedicated connection (never a pooled one, which breaks behind
///   transaction-mode poolers): `relay_node_<id>` for wake-ups and `relay_events` for directory
///   changes, which every node applies to its ``ClusterDirectory``.
/// - Nodes heartbeat in `relay_nodes`; a node that stops is reaped by a survivor, which hands
///   its clients' messages to them one by one so they can resume elsewhere.
package final class PostgresBackplane: ClusterBackplane {
    package let nodeID: String
    package let directory: ClusterDirectory
    let database: PostgresDatabase
    let settings: ClusterSettings
    let logger: Logger
    let outbox: ClusterOutbox
    let fetchSignal = WakeSignal()
    let links: ClusterLinks
    /// Where this node's media link listens (once running).
    let linkAddress = Mutex<String?>(nil)
    private let ready = Atomic<Bool>(false)
    /// When the current database session started (a reaper waits `nodeTimeout` after it, so
    /// nodes that were cut off with it have had time to heartbeat again).
    let connectedSince = Mutex<ContinuousClock.Instant?>(nil)
    /// Whether this node's rows must be rewritten from its local state (changes were lost).
    let needsResync = Atomic<Bool>(true)
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
        let nodeID = settings.nodeId ?? Self.randomNodeID()
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

    private static func randomNodeID() -> String {
        "n" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
    }

    /// This node's wake-up channel.
    static func channel(of node: String) -> String { "relay_node_" + node }

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
            backoff = min(backoff * 2, .seconds(5))
            if self.isReady { backoff = .milliseconds(250) }
        }
        self.goOffline()
        await self.leaveCluster()
    }

    /// One database session: listen, register, then deliver until something fails.
    private func connectedSession(node: ClusterNode) async throws {
        let configuration = self.database.connectionConfiguration
        let id = self.connectionIDs.wrappingAdd(1, ordering: .relaxed).newValue
        let logger = self.logger
        let connection = try await self.answered("connect") {
            try await PostgresConnection.connect(configuration: configuration, id: id, logger: logger)
        }
        do {
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
                try await self.register(node: node)
                try await self.loadDirectory()
                self.connectedSince.withLock { $0 = .now }
                self.outbox.open()
                self.ready.store(true, ordering: .relaxed)
                self.up.set(1)
                self.logger.notice("cluster backplane connected")
                self.fetchSignal.signal()
                group.addTask { try await self.fetchLoop(node: node) }
                group.addTask { try await self.writeLoop() }
                group.addTask { try await self.livenessLoop(node: node) }
                _ = try await group.next()
                group.cancelAll()
            }
        } catch {
            await self.close(connection)
            throw error
        }
        await self.close(connection)
    }

    /// Closes the LISTEN connection, without waiting on a server that does not answer.
    private func close(_ connection: PostgresConnection) async {
        _ = try? await withTimeLimit(.seconds(2), timeoutError: { CancellationError() }) { try await connection.close() }
    }

    /// Refuses new items and counts what was queued as undeliverable.
    private func goOffline() {
        self.ready.store(false, ordering: .relaxed)
        self.up.set(0)
        self.connectedSince.withLock { $0 = nil }
        let lost = self.outbox.close()
        self.account(lost: lost)
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
            case .toClient(_, _, let origin), .toNode(_, _, _, let origin):
                envelopes += 1
                if let origin { origins.append(origin) }
            }
        }
        if envelopes > 0 { self.dropped.increment(by: Int64(envelopes)) }
        if !origins.isEmpty { self.node.withLock { $0 }?.undeliverable(origins) }
    }

    // MARK: Receiving

    /// Takes this node's rows and hands them to the kernel, oldest first.
    private func fetchLoop(node: ClusterNode) async throws {
        let batch = 500
        while !Task.isCancelled {
            await self.fetchSignal.wait()
            while !Task.isCancelled {
                let me = self.nodeID
                let rows = try await self.answered("fetch") {
                    try await self.database.query(
                        """
                        DELETE FROM relay_messages WHERE id IN (
                            SELECT id FROM relay_messages WHERE node_id = \(me) ORDER BY id LIMIT \(batch) FOR UPDATE SKIP LOCKED
                        ) RETURNING id, envelope
                        """
                    )
                }
                var envelopes = try rows.map { try $0.decode((Int64, ByteBuffer).self) }
                envelopes.sort { $0.0 < $1.0 }
                for (_, envelope) in envelopes { node.receive(envelope) }
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

    /// Reloads the directory from the tables.
    func loadDirectory() async throws {
        let clients = try await self.database.query("SELECT node_id, info FROM relay_clients")
        let members = try await self.database.query("SELECT room, client_id, node_id FROM relay_room_members")
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
        try await self.loadLinks()
    }

    /// Reads the media link secret and every node's link address.
    func loadLinks() async throws {
        let secret = try await self.database.query("SELECT value FROM relay_cluster WHERE name = 'link_secret'")
        if let secret = try secret.first?.decode(String.self) { self.links.useSecret(secret) }
        var addresses: [String: String] = [:]
        for row in try await self.database.query("SELECT node_id, link_address FROM relay_nodes WHERE link_address IS NOT NULL") {
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
        let work = Task {
            try await self.database.withTransaction { connection in
                try await self.orphanClients(of: self.nodeID, on: connection)
                try await self.database.query("DELETE FROM relay_nodes WHERE node_id = \(self.nodeID)", on: connection)
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
