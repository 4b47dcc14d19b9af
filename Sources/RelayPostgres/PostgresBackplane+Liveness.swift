import NIOCore
import PostgresNIO
import RelayKernel
import Synchronization

extension PostgresBackplane {
    /// Registers this node; after a start or a lost change, rewrites its rows from local state
    /// (clients it no longer has are orphaned, so they can resume elsewhere).
    func register(node: ClusterNode) async throws {
        let resync = self.needsResync.exchange(false, ordering: .relaxed)
        do {
            try await self.database.withTransaction { connection in
                let address = self.linkAddress.withLock { $0 }
                let fresh = try await self.database.query(
                    """
                    INSERT INTO relay_nodes (node_id, link_address) VALUES (\(self.nodeID), \(address))
                    ON CONFLICT (node_id) DO UPDATE SET heartbeat_at = now(), link_address = EXCLUDED.link_address
                    RETURNING (xmax = 0) AS inserted
                    """,
                    on: connection
                )
                let inserted = try fresh.first?.decode(Bool.self) ?? true
                if resync || inserted { try await self.rewriteRows(node: node, on: connection) }
            }
        } catch {
            self.needsResync.store(true, ordering: .relaxed)
            throw error
        }
    }

    /// Makes the tables say exactly what this node holds, and has every node reload.
    private func rewriteRows(node: ClusterNode, on connection: PostgresConnection) async throws {
        let changes = node.localChanges()
        var clients: [String] = []
        var tokens: [String] = []
        var infos: [String] = []
        var rooms: [String] = []
        var members: [String] = []
        for change in changes {
            switch change {
            case .clientUp(let info, let token):
                clients.append(info.id.rawValue)
                tokens.append(token)
                infos.append(info.json.jsonText)
            case .joined(let room, let id):
                rooms.append(room)
                members.append(id.rawValue)
            default:
                continue
            }
        }
        try await self.database.query(
            """
            UPDATE relay_clients SET node_id = NULL, detached_at = now()
            WHERE node_id = \(self.nodeID) AND NOT (client_id = ANY(\(clients)::text[]))
            """,
            on: connection
        )
        try await self.database.query(
            """
            UPDATE relay_room_members SET node_id = NULL
            WHERE node_id = \(self.nodeID) AND NOT (client_id = ANY(\(clients)::text[]))
            """,
            on: connection
        )
        // A client another node took over meanwhile stays there.
        try await self.database.query(
            """
            INSERT INTO relay_clients (client_id, node_id, resume_token, info, detached_at)
            SELECT c, \(self.nodeID), t, i, NULL FROM unnest(\(clients)::text[], \(tokens)::text[], \(infos)::text[]) AS u(c, t, i)
            ON CONFLICT (client_id) DO UPDATE SET node_id = EXCLUDED.node_id, resume_token = EXCLUDED.resume_token, detached_at = NULL
            WHERE relay_clients.node_id IS NULL OR relay_clients.node_id = EXCLUDED.node_id
            """,
            on: connection
        )
        // Rows that waited for this node's clients while it was taken for dead are theirs again.
        try await self.database.query(
            """
            UPDATE relay_messages SET node_id = \(self.nodeID)
            WHERE node_id IS NULL AND client_id IN (SELECT client_id FROM relay_clients WHERE node_id = \(self.nodeID))
            """,
            on: connection
        )
        try await self.database.query(
            """
            INSERT INTO relay_room_members (room, client_id, node_id)
            SELECT r, m, \(self.nodeID) FROM unnest(\(rooms)::text[], \(members)::text[]) AS u(r, m)
            ON CONFLICT (room, client_id) DO UPDATE SET node_id = EXCLUDED.node_id
            """,
            on: connection
        )
        try await self.broadcast([], reload: true, on: connection)
    }

    /// Heartbeats, reaps dead nodes and ends orphans whose grace ran out, every heartbeat interval.
    func livenessLoop(node: ClusterNode) async throws {
        let interval = Duration.seconds(self.settings.heartbeatInterval)
        while !Task.isCancelled {
            try await Task.sleep(for: interval)
            let me = self.nodeID
            let beat = try await self.answered("heartbeat") {
                try await self.database.query("UPDATE relay_nodes SET heartbeat_at = now() WHERE node_id = \(me) RETURNING node_id")
            }
            if beat.isEmpty {
                // Another node took this one for dead: register again and rewrite its rows.
                self.logger.warning("this node was reaped by another; registering again")
                self.needsResync.store(true, ordering: .relaxed)
                try await self.register(node: node)
                self.fetchSignal.signal()  // what waited for its clients meanwhile
            }
            try await self.reapDeadNodes()
            try await self.endExpiredOrphans(node: node)
            try await self.loadLinks()
        }
    }

    /// Whether this node has been connected long enough to judge others' heartbeats (after an
    /// outage every node is late; nobody may reap before the others could beat again).
    private var mayReap: Bool {
        let since = self.connectedSince.withLock { $0 }
        guard let since else { return false }
        return ContinuousClock.now - since >= .seconds(self.settings.nodeTimeout)
    }

    /// Claims nodes whose heartbeat stopped and orphans their clients.
    private func reapDeadNodes() async throws {
        guard self.mayReap else { return }
        let timeout = self.settings.nodeTimeout
        let dead = try await self.database.query(
            "SELECT node_id FROM relay_nodes WHERE heartbeat_at < now() - make_interval(secs => \(timeout))"
        )
        for row in dead {
            let node = try row.decode(String.self)
            let reaped = try await self.database.withTransaction { connection -> Bool in
                let claimed = try await self.database.query(
                    """
                    DELETE FROM relay_nodes WHERE node_id = \(node) AND heartbeat_at < now() - make_interval(secs => \(timeout))
                    RETURNING node_id
                    """,
                    on: connection
                )
                guard !claimed.isEmpty else { return false }
                try await self.orphanClients(of: node, on: connection)
                return true
            }
            if reaped {
                self.directory.apply(.nodeDied(node))
                self.node.withLock { $0 }?.nodeDied(node)
                self.logger.warning("node stopped heartbeating; its clients may resume elsewhere", metadata: ["relay.cluster.dead_node": "\(node)"])
            }
        }
    }

    /// Detaches every client of `node` from it: room rows queued for the node become one row
    /// per member (in their original order), rows for its clients wait for them, and other
    /// rows for it (hand-overs) are dropped. Every node hears of it.
    func orphanClients(of node: String, on connection: PostgresConnection) async throws {
        try await self.database.query(
            """
            INSERT INTO relay_messages (seq, node_id, client_id, room, envelope)
            SELECT COALESCE(r.seq, r.id), NULL, m.client_id, r.room, r.envelope
            FROM relay_messages r JOIN relay_room_members m ON m.room = r.room AND m.node_id = r.node_id
            WHERE r.node_id = \(node) AND r.client_id IS NULL AND r.room IS NOT NULL
            ORDER BY r.id
            """,
            on: connection
        )
        try await self.database.query("DELETE FROM relay_messages WHERE node_id = \(node) AND client_id IS NULL", on: connection)
        try await self.database.query("UPDATE relay_messages SET node_id = NULL WHERE node_id = \(node)", on: connection)
        try await self.database.query("UPDATE relay_clients SET node_id = NULL, detached_at = now() WHERE node_id = \(node)", on: connection)
        try await self.database.query("UPDATE relay_room_members SET node_id = NULL WHERE node_id = \(node)", on: connection)
        try await self.broadcast([ClusterDirectory.Event.nodeDied(node).json], on: connection)
    }

    /// Ends orphaned clients whose resume grace is over: their plugins hear they left (on the
    /// node that claimed the row, once in the cluster).
    private func endExpiredOrphans(node: ClusterNode) async throws {
        let grace = Double(node.resumeGrace.components.seconds) + Double(node.resumeGrace.components.attoseconds) / 1e18
        let expired = try await self.database.withTransaction { connection -> [(info: ClientInfo, rooms: [String])] in
            let rows = try await self.database.query(
                """
                DELETE FROM relay_clients WHERE client_id IN (
                    SELECT client_id FROM relay_clients
                    WHERE node_id IS NULL AND detached_at < now() - make_interval(secs => \(grace))
                    LIMIT 200 FOR UPDATE SKIP LOCKED
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

    /// Finishes ending orphans whose `relay_clients` rows (`client_id`, `info`) were deleted:
    /// their memberships and waiting messages go, and every node hears they are down.
    func endOrphanRows(_ rows: [PostgresRow], on connection: PostgresConnection) async throws -> [(info: ClientInfo, rooms: [String])] {
        var ended: [(info: ClientInfo, rooms: [String])] = []
        for row in rows {
            let (id, text) = try row.decode((String, String).self)
            let rooms = try await self.database.query(
                "DELETE FROM relay_room_members WHERE client_id = \(id) RETURNING room",
                on: connection
            ).map { try $0.decode(String.self) }
            try await self.database.query("DELETE FROM relay_messages WHERE client_id = \(id) AND node_id IS NULL", on: connection)
            guard let json = try? JSONParser.parse(text.utf8), let info = ClientInfo(json: json) else { continue }
            ended.append((info, rooms))
        }
        try await self.broadcast(ended.map { ClusterDirectory.Event.clientDown($0.info.id).json }, on: connection)
        return ended
    }
}
