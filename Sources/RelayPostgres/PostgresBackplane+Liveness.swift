import NIOCore
import PostgresNIO
import RelayKernel
import Synchronization

extension PostgresBackplane {
    /// How many rows of its inbox a client's journal may lag behind before it is written again
    /// (rows older than every journal's `retain` are deleted).
    static let journalLag: Int64 = 2_000

    /// Registers this node process (again: it may have been reaped meanwhile); older processes
    /// of the same node id are dead from now on. After lost changes, or when it had been
    /// reaped, rewrites its rows from local state. On `connection` (one of the backplane's own,
    /// not yet used by anything else), or a pooled one.
    func register(node: ClusterNode, on own: PostgresConnection? = nil) async throws {
        let me = self.nodeID
        let address = self.linkAddress.withLock { $0 }
        do {
            let replaced = try await self.transaction(on: own) { connection -> [String] in
                let rows = try await self.database.query(
                    """
                    WITH before AS (SELECT dead_at FROM relay_nodes WHERE inbox = \(me))
                    INSERT INTO relay_nodes (inbox, node_id, link_address) VALUES (\(me), \(self.nodeName), \(address))
                    ON CONFLICT (inbox) DO UPDATE SET heartbeat_at = now(), link_address = EXCLUDED.link_address, dead_at = NULL
                    RETURNING coalesce((SELECT dead_at IS NOT NULL FROM before), false)
                    """,
                    on: connection
                )
                // Reaped while away: clients may have expired meanwhile; they are still here.
                if try rows.first?.decode(Bool.self) == true { self.needsResync.store(true, ordering: .relaxed) }
                let replaced = try await self.database.query(
                    "UPDATE relay_nodes SET dead_at = now() WHERE node_id = \(self.nodeName) AND inbox <> \(me) AND dead_at IS NULL RETURNING inbox",
                    on: connection
                ).map { try $0.decode(String.self) }
                try await self.broadcast(replaced.map { ClusterDirectory.Event.nodeDied($0).json }, on: connection)
                if self.needsResync.exchange(false, ordering: .relaxed) { try await self.rewriteRows(node: node, on: connection) }
                return replaced
            }
            for inbox in replaced { self.directory.apply(.nodeDied(inbox)) }
        } catch {
            self.needsResync.store(true, ordering: .relaxed)
            throw error
        }
    }

    /// Runs `body` in a transaction on `connection`, or on a pooled connection when `nil`.
    func transaction<Result: Sendable>(on connection: PostgresConnection?, _ body: @escaping @Sendable (PostgresConnection) async throws -> Result) async throws -> Result {
        if let connection { return try await self.database.withTransaction(on: connection, body) }
        return try await self.database.withTransaction(body)
    }

    /// Makes the tables say exactly what this node holds, and has every node reload. A client
    /// another node took over meanwhile stays there (this node hears so when its journal record
    /// is refused); clients that left while changes were lost are removed.
    private func rewriteRows(node: ClusterNode, on connection: PostgresConnection) async throws {
        let me = self.nodeID
        var batch = WriteBatch(inbox: me)
        var clients: [String] = []
        var rooms: [String] = []
        var members: [String] = []
        for change in node.localChanges() {
            switch change {
            case .clientUp(let info, let token, let journal):
                clients.append(info.id.rawValue)
                batch.add(.up, client: info.id, value: token, info: info.json.jsonText, journal: journal, retain: journal?.retain(in: me))
            case .joined(let room, let id):
                rooms.append(room)
                members.append(id.rawValue)
                batch.add(.joined, client: id, value: room)
            default:
                continue
            }
        }
        let gone = try await self.database.query(
            "DELETE FROM relay_clients WHERE inbox = \(me) AND NOT (client_id = ANY(\(clients)::text[])) RETURNING client_id",
            on: connection
        ).map { try $0.decode(String.self) }
        try await self.database.query("DELETE FROM relay_room_members WHERE client_id = ANY(\(gone)::text[])", on: connection)
        try await self.database.query("DELETE FROM relay_journal WHERE client_id = ANY(\(gone)::text[])", on: connection)
        try await self.database.query(
            """
            DELETE FROM relay_room_members WHERE inbox = \(me)
                AND (room, client_id) NOT IN (SELECT * FROM unnest(\(rooms)::text[], \(members)::text[]))
            """,
            on: connection
        )
        let logger = self.logger
        _ = try await connection.rows(of: batch, logger: logger)
        try await self.broadcast([], reload: true, on: connection)
    }

    /// Heartbeats, reaps dead node processes, ends orphans whose grace ran out and deletes rows
    /// no client needs any more, every heartbeat interval.
    func livenessLoop(node: ClusterNode) async throws {
        let interval = Duration.seconds(self.settings.heartbeatInterval)
        var beats = 0
        while !Task.isCancelled {
            try await Task.sleep(for: interval)
            beats += 1
            let me = self.nodeID
            let beat = try await self.answered("heartbeat") {
                try await self.database.query("UPDATE relay_nodes SET heartbeat_at = now() WHERE inbox = \(me) AND dead_at IS NULL RETURNING inbox")
            }
            if beat.isEmpty {
                // Another node took this one for dead: register again and rewrite its rows.
                self.logger.warning("this node was reaped by another; registering again")
                self.needsResync.store(true, ordering: .relaxed)
                try await self.register(node: node)
                self.fetchSignal.signal()  // what waited for its clients meanwhile
            }
            try await self.answered("reap") { try await self.reapDeadNodes() }
            try await self.answered("expire") { try await self.endExpiredOrphans(node: node) }
            let collectDead = beats % 10 == 0
            try await self.answered("collect") { try await self.collectGarbage(node: node, dead: collectDead) }
            if beats % 5 == 0 { node.refreshLaggingJournals(behind: Self.journalLag) }
            try await self.answered("links") { try await self.loadLinks() }
        }
    }

    /// Whether this node has been connected long enough to judge others' heartbeats (after an
    /// outage every node is late; nobody may reap before the others could beat again).
    private var mayReap: Bool {
        let since = self.connectedSince.withLock { $0 }
        guard let since else { return false }
        return ContinuousClock.now - since >= .seconds(self.settings.nodeTimeout)
    }

    /// Marks node processes whose heartbeat stopped dead: their clients stay with their inboxes
    /// (rows keep arriving there) until they resume elsewhere or their grace ends.
    private func reapDeadNodes() async throws {
        guard self.mayReap else { return }
        let timeout = self.settings.nodeTimeout
        let dead = try await self.database.withTransaction { connection -> [(inbox: String, name: String)] in
            let dead = try await self.database.query(
                """
                UPDATE relay_nodes SET dead_at = now()
                WHERE dead_at IS NULL AND inbox <> \(self.nodeID) AND heartbeat_at < now() - make_interval(secs => \(timeout))
                RETURNING inbox, node_id
                """,
                on: connection
            ).map { try $0.decode((String, String).self) }
            try await self.broadcast(dead.map { ClusterDirectory.Event.nodeDied($0.0).json }, on: connection)
            return dead.map { (inbox: $0.0, name: $0.1) }
        }
        for (inbox, name) in dead {
            self.directory.apply(.nodeDied(inbox))
            self.node.withLock { $0 }?.nodeDied(name)
            self.logger.warning("node stopped heartbeating; its clients may resume elsewhere", metadata: ["relay.cluster.dead_node": "\(inbox)"])
        }
    }

    /// Ends clients of dead node processes whose resume grace is over: their plugins hear they
    /// left (on the node that claimed the rows, once in the cluster).
    private func endExpiredOrphans(node: ClusterNode) async throws {
        let grace = Double(node.resumeGrace.components.seconds) + Double(node.resumeGrace.components.attoseconds) / 1e18
        let expired = try await self.database.withTransaction { connection -> [(info: ClientInfo, rooms: [String])] in
            let rows = try await self.database.query(
                """
                DELETE FROM relay_clients WHERE client_id IN (
                    SELECT c.client_id FROM relay_clients c JOIN relay_nodes n ON n.inbox = c.inbox
                    WHERE n.dead_at < now() - make_interval(secs => \(grace))
                    LIMIT 200 FOR UPDATE OF c SKIP LOCKED
                ) RETURNING client_id, info
                """,
                on: connection
            )
            return try await self.endOrphanRows(rows, on: connection)
        }
        for (info, rooms) in expired {
            self.directory.apply(.clientDown(info.id))
            await node.expire(info, rooms: rooms)
        }
    }

    /// Deletes the rows of this node's inbox that no client can need any more (before every
    /// client's journal `retain`, and already taken), recording the new horizon in `kept_from`
    /// (a resume that would need rows below it answers `resumed: false`). With `dead`, also
    /// drops node processes that died long ago and hold no client any more, with their rows.
    private func collectGarbage(node: ClusterNode, dead: Bool) async throws {
        let me = self.nodeID
        let taken = self.fetched.load(ordering: .relaxed)
        try await self.database.withTransaction { connection in
            let horizon = try await self.database.query(
                """
                UPDATE relay_nodes SET kept_from = greatest(kept_from, (
                    SELECT least(\(taken) + 1, coalesce(min(retain), \(taken) + 1)) FROM relay_journal WHERE inbox = \(me)
                )) WHERE inbox = \(me) RETURNING kept_from
                """,
                on: connection
            )
            guard let from = try horizon.first?.decode(Int64.self) else { return }
            try await self.database.query("DELETE FROM relay_messages WHERE inbox = \(me) AND seq < \(from)", on: connection)
        }
        guard dead else { return }
        let grace = Double(node.resumeGrace.components.seconds) + 60
        try await self.database.withTransaction { connection in
            let gone = try await self.database.query(
                """
                DELETE FROM relay_nodes n WHERE n.dead_at < now() - make_interval(secs => \(grace))
                    AND NOT EXISTS (SELECT 1 FROM relay_clients c WHERE c.inbox = n.inbox)
                RETURNING inbox
                """,
                on: connection
            ).map { try $0.decode(String.self) }
            if !gone.isEmpty {
                try await self.database.query("DELETE FROM relay_messages WHERE inbox = ANY(\(gone)::text[])", on: connection)
            }
            try await self.database.query("DELETE FROM relay_room_inboxes WHERE members <= 0", on: connection)
        }
    }

    /// Finishes ending orphans whose `relay_clients` rows (`client_id`, `info`) were deleted:
    /// their memberships and journals go, and every node hears they are down.
    func endOrphanRows(_ rows: [PostgresRow], on connection: PostgresConnection) async throws -> [(info: ClientInfo, rooms: [String])] {
        var ended: [(info: ClientInfo, rooms: [String])] = []
        for row in rows {
            let (id, text) = try row.decode((String, String).self)
            let rooms = try await self.database.query(
                "DELETE FROM relay_room_members WHERE client_id = \(id) RETURNING room",
                on: connection
            ).map { try $0.decode(String.self) }
            try await self.database.query("DELETE FROM relay_journal WHERE client_id = \(id)", on: connection)
            guard let json = try? JSONParser.parse(text.utf8), let info = ClientInfo(json: json) else { continue }
            ended.append((info, rooms))
        }
        try await self.broadcast(ended.map { ClusterDirectory.Event.clientDown($0.info.id).json }, on: connection)
        return ended
    }
}
