extension PostgresClusterSchema {
    /// Version 3: every node process has an inbox; rows stay until the clients they were for
    /// have passed them; every client has a journal (see `ClientJournal` in the kernel).
    ///
    /// - `relay_nodes`: one row per node process (`inbox`: its id, `<nodeId>_<random>`), with
    ///   its heartbeat, media link address, the last number given to a row of its inbox (`seq`;
    ///   writers take the row's lock to number rows, so rows commit in number order), the first
    ///   row still kept (`kept_from`), and `dead_at` once it was reaped, replaced by a newer
    ///   process of the same node or left the cluster.
    /// - `relay_clients`: every client identity, the inbox (node process) holding it, alive or
    ///   dead, its current resume token and its info as JSON.
    /// - `relay_room_members`: room memberships with the member's inbox; `relay_room_inboxes`
    ///   counts them per room and inbox (a trigger keeps it), so a room message is one row per
    ///   inbox with members.
    /// - `relay_messages`: the rows of each inbox, numbered. A row for one client has
    ///   `client_id`; a row for a room's members in that inbox has `room`.
    /// - `relay_journal`: each client's journal (`state`), written by the node holding it before
    ///   it writes a frame to the client's socket, and the first row of that node's inbox the
    ///   client may still need (`retain`).
    /// - `relay_write`: one call per batch of a node's writer: changes to its clients, rows for
    ///   other nodes (their inboxes found under shared advisory locks on the clients and rooms
    ///   addressed, which a takeover takes exclusively), journal records, directory events.
    static let version3: [String] = [
        "DROP TABLE relay_messages, relay_room_members, relay_clients, relay_nodes",
        """
        CREATE TABLE relay_nodes (
            inbox text PRIMARY KEY,
            node_id text NOT NULL,
            started_at timestamptz NOT NULL DEFAULT now(),
            heartbeat_at timestamptz NOT NULL DEFAULT now(),
            link_address text,
            seq bigint NOT NULL DEFAULT 0,
            kept_from bigint NOT NULL DEFAULT 0,
            dead_at timestamptz
        ) WITH (fillfactor = 50)
        """,
        "CREATE INDEX relay_nodes_by_node ON relay_nodes (node_id)",
        """
        CREATE TABLE relay_clients (
            client_id text PRIMARY KEY,
            inbox text NOT NULL,
            resume_token text UNIQUE,
            info text NOT NULL
        )
        """,
        "CREATE INDEX relay_clients_by_inbox ON relay_clients (inbox)",
        """
        CREATE TABLE relay_room_members (
            room text NOT NULL,
            client_id text NOT NULL,
            inbox text NOT NULL,
            PRIMARY KEY (room, client_id)
        )
        """,
        "CREATE INDEX relay_room_members_by_client ON relay_room_members (client_id)",
        """
        CREATE TABLE relay_room_inboxes (
            room text NOT NULL,
            inbox text NOT NULL,
            members integer NOT NULL,
            PRIMARY KEY (room, inbox)
        )
        """,
        """
        CREATE FUNCTION relay_count_members() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP IN ('DELETE', 'UPDATE') THEN
                UPDATE relay_room_inboxes SET members = members - 1 WHERE room = OLD.room AND inbox = OLD.inbox;
            END IF;
            IF TG_OP IN ('INSERT', 'UPDATE') THEN
                INSERT INTO relay_room_inboxes (room, inbox, members) VALUES (NEW.room, NEW.inbox, 1)
                ON CONFLICT (room, inbox) DO UPDATE SET members = relay_room_inboxes.members + 1;
            END IF;
            RETURN NULL;
        END
        $$
        """,
        """
        CREATE TRIGGER relay_room_members_added_or_removed AFTER INSERT OR DELETE ON relay_room_members
        FOR EACH ROW EXECUTE FUNCTION relay_count_members()
        """,
        """
        CREATE TRIGGER relay_room_members_moved AFTER UPDATE OF inbox ON relay_room_members
        FOR EACH ROW WHEN (OLD.inbox IS DISTINCT FROM NEW.inbox) EXECUTE FUNCTION relay_count_members()
        """,
        """
        CREATE TABLE relay_messages (
            inbox text NOT NULL,
            seq bigint NOT NULL,
            client_id text,
            room text,
            envelope bytea NOT NULL,
            PRIMARY KEY (inbox, seq)
        )
        """,
        """
        CREATE TABLE relay_journal (
            client_id text PRIMARY KEY,
            inbox text NOT NULL,
            retain bigint,
            state bytea NOT NULL
        ) WITH (fillfactor = 70)
        """,
        "CREATE INDEX relay_journal_by_inbox ON relay_journal (inbox)",
        """
        CREATE FUNCTION relay_write(
            me text,
            out_kinds smallint[], out_keys text[], out_envelopes bytea[],
            change_kinds smallint[], change_clients text[], change_values text[], change_infos text[],
            change_retains bigint[], change_journals bytea[],
            journal_clients text[], journal_retains bigint[], journal_states bytea[],
            events text[]
        ) RETURNS text[] LANGUAGE plpgsql AS $$
        DECLARE
            i integer;
            targets text[];
            refused text[];
        BEGIN
            -- Changes to this node's clients and their rooms, in order (1 up, 2 resume token,
            -- 3 down, 4 joined, 5 left). A client another node took over meanwhile stays there.
            FOR i IN 1 .. coalesce(array_length(change_kinds, 1), 0) LOOP
                CASE change_kinds[i]
                WHEN 1 THEN
                    INSERT INTO relay_clients AS c (client_id, inbox, resume_token, info)
                    VALUES (change_clients[i], me, change_values[i], change_infos[i])
                    ON CONFLICT (client_id) DO UPDATE SET resume_token = EXCLUDED.resume_token, info = EXCLUDED.info
                    WHERE c.inbox = me;
                    IF length(change_journals[i]) > 0 THEN
                        INSERT INTO relay_journal AS j (client_id, inbox, retain, state)
                        VALUES (change_clients[i], me, nullif(change_retains[i], -1), change_journals[i])
                        ON CONFLICT (client_id) DO UPDATE SET retain = EXCLUDED.retain, state = EXCLUDED.state
                        WHERE j.inbox = me;
                    END IF;
                WHEN 2 THEN
                    UPDATE relay_clients SET resume_token = change_values[i] WHERE client_id = change_clients[i] AND inbox = me;
                WHEN 3 THEN
                    DELETE FROM relay_clients WHERE client_id = change_clients[i] AND inbox = me;
                    IF FOUND THEN
                        DELETE FROM relay_room_members WHERE client_id = change_clients[i];
                        DELETE FROM relay_journal WHERE client_id = change_clients[i];
                    END IF;
                WHEN 4 THEN
                    INSERT INTO relay_room_members AS m (room, client_id, inbox)
                    SELECT change_values[i], change_clients[i], me
                    WHERE EXISTS (SELECT 1 FROM relay_clients WHERE client_id = change_clients[i] AND inbox = me)
                    ON CONFLICT (room, client_id) DO UPDATE SET inbox = me WHERE m.inbox <> me;
                WHEN 5 THEN
                    DELETE FROM relay_room_members WHERE room = change_values[i] AND client_id = change_clients[i] AND inbox = me;
                END CASE;
            END LOOP;

            -- Rows: 1 for a client (its inbox), 2 for a room's members (one row per inbox with
            -- members, this one excepted), 3 for one inbox, 4 for a room's members everywhere,
            -- 5 for the live process (inbox) of the node named by the key.
            IF coalesce(array_length(out_kinds, 1), 0) > 0 THEN
                PERFORM pg_advisory_xact_lock_shared(k) FROM (
                    SELECT DISTINCT hashtextextended(CASE kind WHEN 1 THEN 'c:' ELSE 'r:' END || key, 0) AS k
                    FROM unnest(out_kinds, out_keys) AS u(kind, key) WHERE kind IN (1, 2, 4) ORDER BY 1
                ) AS keys;
                -- (A new statement: it sees every takeover committed before the locks.)
                SELECT array_agg(DISTINCT t.target ORDER BY t.target) INTO targets FROM (
                    SELECT c.inbox AS target FROM unnest(out_kinds, out_keys) AS u(kind, key)
                        JOIN relay_clients c ON c.client_id = u.key WHERE u.kind = 1
                    UNION SELECT r.inbox FROM unnest(out_kinds, out_keys) AS u(kind, key)
                        JOIN relay_room_inboxes r ON r.room = u.key AND r.members > 0 AND (r.inbox <> me OR u.kind = 4) WHERE u.kind IN (2, 4)
                    UNION SELECT u.key FROM unnest(out_kinds, out_keys) AS u(kind, key) WHERE u.kind = 3
                    UNION SELECT n.inbox FROM unnest(out_kinds, out_keys) AS u(kind, key)
                        JOIN relay_nodes n ON n.node_id = u.key AND n.dead_at IS NULL WHERE u.kind = 5
                ) AS t;
                IF targets IS NOT NULL THEN
                    -- Numbering locks: in one order, so writers never wait on each other in a cycle.
                    PERFORM 1 FROM relay_nodes WHERE inbox = ANY(targets) ORDER BY inbox FOR NO KEY UPDATE;
                    WITH items AS (
                        SELECT * FROM unnest(out_kinds, out_keys, out_envelopes) WITH ORDINALITY AS u(kind, key, envelope, ord)
                    ), addressed AS (
                        SELECT i.ord, c.inbox AS target, i.key AS client, NULL::text AS room, i.envelope
                            FROM items i JOIN relay_clients c ON c.client_id = i.key WHERE i.kind = 1
                        UNION ALL SELECT i.ord, r.inbox, NULL, i.key, i.envelope
                            FROM items i JOIN relay_room_inboxes r ON r.room = i.key AND r.members > 0 AND (r.inbox <> me OR i.kind = 4)
                            WHERE i.kind IN (2, 4)
                        UNION ALL SELECT i.ord, i.key, NULL, NULL, i.envelope FROM items i WHERE i.kind = 3
                        UNION ALL SELECT i.ord, n.inbox, NULL, NULL, i.envelope
                            FROM items i JOIN relay_nodes n ON n.node_id = i.key AND n.dead_at IS NULL WHERE i.kind = 5
                    ), numbered AS (
                        SELECT a.*, row_number() OVER (PARTITION BY a.target ORDER BY a.ord) AS n,
                            count(*) OVER (PARTITION BY a.target) AS total
                        FROM addressed a WHERE a.target = ANY(targets)
                    ), bumped AS (
                        UPDATE relay_nodes SET seq = relay_nodes.seq + t.total
                        FROM (SELECT DISTINCT target, total FROM numbered) AS t
                        WHERE relay_nodes.inbox = t.target
                        RETURNING relay_nodes.inbox, relay_nodes.seq - t.total AS base
                    )
                    INSERT INTO relay_messages (inbox, seq, client_id, room, envelope)
                    SELECT n.target, b.base + n.n, n.client, n.room, n.envelope FROM numbered n JOIN bumped b ON b.inbox = n.target;
                    PERFORM pg_notify('relay_inbox_' || t, '') FROM unnest(targets) AS t;
                END IF;
            END IF;

            -- Journal records; those of clients another node took over meanwhile are refused.
            IF coalesce(array_length(journal_clients, 1), 0) > 0 THEN
                WITH records AS (
                    SELECT * FROM unnest(journal_clients, journal_retains, journal_states) AS u(client, retain, state)
                ), written AS (
                    INSERT INTO relay_journal AS j (client_id, inbox, retain, state)
                    SELECT r.client, me, nullif(r.retain, -1), r.state FROM records r
                    WHERE EXISTS (SELECT 1 FROM relay_clients c WHERE c.client_id = r.client AND c.inbox = me)
                    ON CONFLICT (client_id) DO UPDATE SET retain = EXCLUDED.retain, state = EXCLUDED.state WHERE j.inbox = me
                    RETURNING j.client_id
                )
                SELECT array_agg(r.client) INTO refused FROM records r WHERE NOT EXISTS (SELECT 1 FROM written w WHERE w.client_id = r.client);
            END IF;

            PERFORM pg_notify('relay_events', e) FROM unnest(events) WITH ORDINALITY AS u(e, ord) ORDER BY ord;
            RETURN coalesce(refused, '{}');
        END
        $$
        """,
    ]
}
