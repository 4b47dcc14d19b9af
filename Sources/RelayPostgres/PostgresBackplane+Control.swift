import PostgresNIO
package import RelayKernel

extension PostgresBackplane {
    package func liveNodes() async throws -> [String] {
        let timeout = self.settings.nodeTimeout
        return try await self.answered("live nodes") {
            try await self.database.query(
                "SELECT inbox FROM relay_nodes WHERE dead_at IS NULL AND heartbeat_at >= now() - make_interval(secs => \(timeout))"
            )
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
                DELETE FROM relay_clients c USING relay_nodes n
                WHERE n.inbox = c.inbox AND n.dead_at IS NOT NULL
                    AND (c.client_id = \(client) OR (c.info::jsonb ->> 'userId') = \(user))
                RETURNING c.client_id, c.info
                """,
                on: connection
            )
            return try await self.endOrphanRows(rows, on: connection)
        }
        for (info, _) in ended { self.directory.apply(.clientDown(info.id)) }
        return ended
    }
}
