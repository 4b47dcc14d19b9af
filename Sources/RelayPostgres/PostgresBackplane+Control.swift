import PostgresNIO
package import RelayKernel

extension PostgresBackplane {
    package func liveNodes() async throws -> [String] {
        let timeout = self.settings.nodeTimeout
        return try await self.answered("live nodes") {
            try await self.database.query("SELECT node_id FROM relay_nodes WHERE heartbeat_at >= now() - make_interval(secs => \(timeout))")
        }.map { try $0.decode(String.self) }
    }

    package func endOrphans(_ selector: ClientSelector) async throws -> [(info: ClientInfo, rooms: [String])] {
        let (client, user): (String?, String?) =
            switch selector {
            case .client(let id): (id.rawValue, nil)
            case .user(let user): (nil, user)
            }
        let ended = try await self.database.withTransaction { connection -> [(info: ClientInfo, rooms: [String])] in
            let rows = try await self.database.query(
                """
                DELETE FROM relay_clients
                WHERE node_id IS NULL AND (client_id = \(client) OR (info::jsonb ->> 'userId') = \(user))
                RETURNING client_id, info
                """,
                on: connection
            )
            return try await self.endOrphanRows(rows, on: connection)
        }
        for (info, _) in ended { self.directory.apply(.clientDown(info.id)) }
        return ended
    }
}
