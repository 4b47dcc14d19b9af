/// The cluster backplane's tables.
///
/// Version 3 (the current one; see ``version3``) replaced the tables of version 2, which are
/// kept here as they were released.
enum PostgresClusterSchema {
    /// Version 2: nodes, clients, room members, messages taken with `DELETE … RETURNING`, and
    /// the media link secret (`relay_cluster`, kept by version 3).
    static let version2: [String] = [
        "CREATE TABLE relay_cluster (name text PRIMARY KEY, value text NOT NULL)",
        // The secret nodes present to each other on media links (strong random, made once).
        "INSERT INTO relay_cluster (name, value) VALUES ('link_secret', replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''))",
        """
        CREATE TABLE relay_nodes (
            node_id text PRIMARY KEY,
            started_at timestamptz NOT NULL DEFAULT now(),
            heartbeat_at timestamptz NOT NULL DEFAULT now(),
            link_address text
        )
        """,
        """
        CREATE TABLE relay_clients (
            client_id text PRIMARY KEY,
            node_id text,
            resume_token text UNIQUE,
            info text NOT NULL,
            detached_at timestamptz
        )
        """,
        """
        CREATE INDEX relay_clients_by_node ON relay_clients (node_id)
        """,
        """
        CREATE TABLE relay_room_members (
            room text NOT NULL,
            client_id text NOT NULL,
            node_id text,
            PRIMARY KEY (room, client_id)
        )
        """,
        """
        CREATE INDEX relay_room_members_by_client ON relay_room_members (client_id)
        """,
        """
        CREATE INDEX relay_room_members_by_node ON relay_room_members (node_id)
        """,
        """
        CREATE TABLE relay_messages (
            id bigserial PRIMARY KEY,
            seq bigint,
            node_id text,
            client_id text,
            room text,
            envelope bytea NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """,
        """
        CREATE INDEX relay_messages_by_node ON relay_messages (node_id, id)
        """,
        """
        CREATE INDEX relay_messages_by_client ON relay_messages (client_id) WHERE client_id IS NOT NULL
        """,
    ]
}
