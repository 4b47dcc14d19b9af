import NIOCore
import PostgresNIO
package import RelayKernel
import Synchronization

extension PostgresBackplane {
    package func lookup(_ id: ClientID) async throws -> ClientInfo? {
        guard self.isReady else { return nil }
        let rows = try await self.answered("lookup") {
            try await self.database.query("SELECT info FROM relay_clients WHERE client_id = \(id.rawValue)")
        }
        guard let text = try rows.first?.decode(String.self), let json = try? JSONParser.parse(text.utf8) else { return nil }
        return ClientInfo(json: json)
    }

    package func claim(_ request: ClusterClaim.Request, prepare: @escaping @Sendable (ClusterClaim) -> Void) async throws -> ClusterClaim? {
        guard self.isReady else { return nil }
        let timeout = self.settings.nodeTimeout
        let claim = try await self.database.withTransaction { connection -> ClusterClaim? in
            let rows = try await self.database.query(
                """
                SELECT c.client_id, c.node_id, c.info, n.node_id IS NOT NULL AND n.heartbeat_at >= now() - make_interval(secs => \(timeout))
                FROM relay_clients c LEFT JOIN relay_nodes n ON n.node_id = c.node_id
                WHERE c.resume_token = \(request.resumeToken)
                FOR UPDATE OF c
                """,
                on: connection
            )
            guard let row = rows.first else { return nil }
            let (id, previous, text, alive) = try row.decode((String, String?, String, Bool).self)
            guard previous != self.nodeID, let json = try? JSONParser.parse(text.utf8), let info = ClientInfo(json: json),
                info.userId == request.userId, info.endpoint == request.endpoint, info.namespace == request.namespace
            else { return nil }
            try await self.database.query(
                "UPDATE relay_clients SET node_id = \(self.nodeID), resume_token = NULL, detached_at = NULL WHERE client_id = \(id)",
                on: connection
            )
            let rooms = try await self.database.query(
                "UPDATE relay_room_members SET node_id = \(self.nodeID) WHERE client_id = \(id) RETURNING room",
                on: connection
            ).map { try $0.decode(String.self) }
            var waiting: [ByteBuffer] = []
            if !alive {
                // Rows that were on their way to the dead node for this client, and rows that
                // waited for it since, in the order they were sent.
                var rows = try await self.database.query(
                    "DELETE FROM relay_messages WHERE client_id = \(id) RETURNING COALESCE(seq, id), envelope",
                    on: connection
                ).map { try $0.decode((Int64, ByteBuffer).self) }
                rows.sort { $0.0 < $1.0 }
                waiting = rows.map(\.1)
            }
            try await self.broadcast([ClusterDirectory.Event.moved(info, node: self.nodeID, rooms: rooms).json], on: connection)
            let claim = ClusterClaim(info: info, rooms: rooms, previousNode: alive ? previous : nil, waiting: waiting)
            prepare(claim)
            return claim
        }
        return claim
    }
}
