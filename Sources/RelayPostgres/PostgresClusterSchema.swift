/// The cluster backplane's tables (schema version 2).
///
/// - `relay_cluster`: cluster-wide settings (the media link secret).
/// - `relay_nodes`: one row per live node, its heartbeat and media link address; a row that
///   stops moving is reaped.
/// - `relay_clients`: every client identity in the cluster, the node holding it (`NULL` while its
///   node is dead and it may still resume), its current resume token and its info as JSON.
/// - `relay_room_members`: room memberships with the member's node, so a room message goes once
///   to each node with members.
/// - `relay_messages`: envelopes on their way to a node (`node_id`), or waiting for a client whose
///   node died (`node_id` `NULL`, `client_id` set). NOTIFY only wakes the node up, so payloads
///   have no size cap and nothing is lost while a node's listener reconnects. `seq` keeps the
///   original order of rows re-addressed when their node died.
enum PostgresClusterSchema {
    static let statements: [String] = [
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
