import NIOCore
import PostgresNIO
import RelayKernel
import Synchronization

extension PostgresBackplane {
    /// Most items written in one transaction.
    static let batchLimit = 512
    /// Largest `NOTIFY` payload PostgreSQL accepts is 7,999 bytes; events are packed below it.
    static let eventPayloadLimit = 7_900

    /// Writes the outbox in order, one transaction per batch: envelopes as rows, changes to the
    /// presence tables, then one wake-up per target node and the directory events.
    func writeLoop() async throws {
        while !Task.isCancelled {
            let batch = await self.outbox.take(upTo: Self.batchLimit)
            guard !batch.isEmpty else { continue }
            do {
                try await self.answered("write") { try await self.write(batch) }
                self.outbox.settled(batch.count)
            } catch {
                self.account(lost: batch)
                self.outbox.settled(batch.count)
                throw error
            }
        }
    }

    private func write(_ batch: [ClusterOutgoing]) async throws {
        try await self.database.withTransaction { connection in
            var woken = Set<String>()
            var events: [JSONValue] = []
            var envelopes = EnvelopeRows()
            for item in batch {
                switch item {
                case .toClient(let client, let envelope, _):
                    envelopes.append(client: client.rawValue, node: "", room: "", envelope: envelope)
                case .toNode(let node, let room, let envelope, _):
                    envelopes.append(client: "", node: node, room: room ?? "", envelope: envelope)
                case .media:
                    continue  // never queued: media goes over the links
                case .change(let change):
                    // Rows of envelopes queued before a change go first, so order holds.
                    try await self.insert(&envelopes, on: connection, waking: &woken)
                    try await self.apply(change, on: connection)
                    if let event = change.event(node: self.nodeID) { events.append(event.json) }
                }
            }
            try await self.insert(&envelopes, on: connection, waking: &woken)
            if !woken.isEmpty {
                let channels = woken.sorted().map(Self.channel(of:))
                try await self.database.query("SELECT pg_notify(c, '') FROM unnest(\(channels)::text[]) AS c", on: connection)
            }
            try await self.broadcast(events, on: connection)
        }
    }

    /// Envelope rows waiting for one multi-row insert (empty strings stand for `NULL`).
    struct EnvelopeRows {
        var clients: [String] = []
        var nodes: [String] = []
        var rooms: [String] = []
        var envelopes: [ByteBuffer] = []

        mutating func append(client: String, node: String, room: String, envelope: ByteBuffer) {
            self.clients.append(client)
            self.nodes.append(node)
            self.rooms.append(room)
            self.envelopes.append(envelope)
        }

        mutating func removeAll() { self = EnvelopeRows() }
    }

    /// Inserts the pending rows in order; a client's row goes to the node that holds the client
    /// now (read in the same statement), or waits with no node while the client is orphaned.
    private func insert(_ rows: inout EnvelopeRows, on connection: PostgresConnection, waking woken: inout Set<String>) async throws {
        guard !rows.envelopes.isEmpty else { return }
        // Wait for any takeover of these clients in progress, so that the insert (a statement
        // with a fresh snapshot) sees where they are now, not where they were.
        let clients = Array(Set(rows.clients.filter { !$0.isEmpty }))
        if !clients.isEmpty {
            try await self.database.query(
                "SELECT 1 FROM relay_clients WHERE client_id = ANY(\(clients)::text[]) ORDER BY client_id FOR SHARE",
                on: connection
            )
        }
        let targets = try await self.database.query(
            """
            WITH inserted AS (
                INSERT INTO relay_messages (node_id, client_id, room, envelope)
                SELECT CASE WHEN t.client_id = '' THEN t.node_id ELSE c.node_id END, NULLIF(t.client_id, ''), NULLIF(t.room, ''), t.envelope
                FROM unnest(\(rows.clients)::text[], \(rows.nodes)::text[], \(rows.rooms)::text[], \(rows.envelopes)::bytea[])
                    WITH ORDINALITY AS t(client_id, node_id, room, envelope, ord)
                LEFT JOIN relay_clients c ON c.client_id = t.client_id
                WHERE t.client_id = '' OR c.client_id IS NOT NULL
                ORDER BY t.ord
                RETURNING node_id
            )
            SELECT DISTINCT node_id FROM inserted WHERE node_id IS NOT NULL
            """,
            on: connection
        )
        for row in targets { woken.insert(try row.decode(String.self)) }
        rows.removeAll()
    }

    /// Writes one change of this node's clients and memberships.
    private func apply(_ change: ClusterChange, on connection: PostgresConnection) async throws {
        let node = self.nodeID
        switch change {
        case .clientUp(let info, let token):
            try await self.database.query(
                """
                INSERT INTO relay_clients (client_id, node_id, resume_token, info, detached_at)
                VALUES (\(info.id.rawValue), \(node), \(token), \(info.json.jsonText), NULL)
                ON CONFLICT (client_id) DO UPDATE SET node_id = EXCLUDED.node_id, resume_token = EXCLUDED.resume_token,
                    info = EXCLUDED.info, detached_at = NULL
                """,
                on: connection
            )
        case .resumeToken(let id, let token):
            try await self.database.query(
                "UPDATE relay_clients SET resume_token = \(token) WHERE client_id = \(id.rawValue) AND node_id = \(node)",
                on: connection
            )
        case .clientDown(let id):
            try await self.database.query("DELETE FROM relay_room_members WHERE client_id = \(id.rawValue) AND node_id = \(node)", on: connection)
            try await self.database.query("DELETE FROM relay_clients WHERE client_id = \(id.rawValue) AND node_id = \(node)", on: connection)
        case .joined(let room, let id):
            try await self.database.query(
                """
                INSERT INTO relay_room_members (room, client_id, node_id) VALUES (\(room), \(id.rawValue), \(node))
                ON CONFLICT (room, client_id) DO UPDATE SET node_id = EXCLUDED.node_id
                """,
                on: connection
            )
        case .left(let room, let id):
            try await self.database.query(
                "DELETE FROM relay_room_members WHERE room = \(room) AND client_id = \(id.rawValue) AND node_id = \(node)",
                on: connection
            )
        }
    }

    /// Sends directory events to every node, packed into payloads PostgreSQL accepts; an event
    /// too large for one payload makes every node reload the directory instead.
    func broadcast(_ events: [JSONValue], reload: Bool = false, on connection: PostgresConnection) async throws {
        var payloads: [String] = []
        var current: [JSONValue] = []
        var size = 0
        var needsReload = reload
        func flush() {
            guard !current.isEmpty else { return }
            payloads.append(JSONValue.object(["o": .string(self.nodeID), "e": .array(current)]).jsonText)
            current.removeAll()
            size = 0
        }
        for event in events {
            let length = event.jsonText.utf8.count + 1
            if length > Self.eventPayloadLimit - 64 {
                needsReload = true
                continue
            }
            if size + length > Self.eventPayloadLimit - 64 { flush() }
            current.append(event)
            size += length
        }
        flush()
        if needsReload { payloads.append(JSONValue.object(["o": .string(self.nodeID), "reload": true]).jsonText) }
        guard !payloads.isEmpty else { return }
        try await self.database.query("SELECT pg_notify(\(Self.eventsChannel), p) FROM unnest(\(payloads)::text[]) WITH ORDINALITY AS t(p, ord) ORDER BY ord", on: connection)
    }
}
