import NIOCore
import PostgresNIO
import RelayKernel
import Synchronization

extension PostgresBackplane {
    /// Most outbox items written in one batch.
    static let batchLimit = 512
    /// Largest `NOTIFY` payload PostgreSQL accepts is 7,999 bytes; events are packed below it.
    static let eventPayloadLimit = 7_900

    /// Writes the outbox in order and the journal records asked for, one call of
    /// `relay_write` per batch on the writer's own connection.
    func writeLoop(node: ClusterNode, on connection: PostgresConnection) async throws {
        node.journal.onPending { [outbox = self.outbox] in outbox.wakeWriter() }
        while !Task.isCancelled {
            await self.outbox.waitForWork()
            while !Task.isCancelled {
                let items = self.outbox.take(upTo: Self.batchLimit)
                let records = node.journal.takeRecords(frontier: node.inboxFrontier)
                guard !items.isEmpty || !records.isEmpty else { break }
                do {
                    // Never beside a takeover by this node (see ClusterNode.arrivalCopies).
                    let refused = try await self.takeovers.pass {
                        try await self.answered("write") { try await self.write(items, records: records, node: node, on: connection) }
                    }
                    self.outbox.settled(items.count)
                    node.journalWritten(records, refused: Set(refused.map(ClientID.init)))
                } catch {
                    self.account(lost: items)
                    self.outbox.settled(items.count)
                    throw error
                }
            }
        }
    }

    private func write(_ items: [ClusterOutgoing], records: [ClusterJournal.Record], node: ClusterNode, on connection: PostgresConnection) async throws -> [String] {
        var batch = WriteBatch(inbox: self.nodeID)
        var events: [JSONValue] = []
        let arrivals = node.arrivalCount
        for item in items {
            switch item {
            case .toClient(let client, let envelope, _):
                batch.add(.client, client.rawValue, envelope)
            case .toRoom(let room, let envelope, _, let here, let stamp):
                batch.add(here ? .roomEverywhere : .room, room, envelope)
                if !here, stamp < arrivals {
                    for (client, copy) in node.arrivalCopies(of: envelope, room: room, after: stamp) { batch.add(.client, client.rawValue, copy) }
                }
            case .toNode(let inbox, let envelope):
                batch.add(.inbox, inbox, envelope)
            case .toNodeNamed(let name, let envelope):
                batch.add(.node, name, envelope)
            case .media:
                continue  // never queued: media goes over the links
            case .change(let change):
                self.add(change, to: &batch)
                if let event = change.event(node: self.nodeID) { events.append(event.json) }
            }
        }
        for record in records { batch.add(record) }
        batch.events = self.payloads(events)
        let logger = self.logger
        return try await connection.rows(of: batch, logger: logger).first ?? []
    }

    /// One change of this node's clients and memberships.
    private func add(_ change: ClusterChange, to batch: inout WriteBatch) {
        switch change {
        case .clientUp(let info, let token, let journal):
            batch.add(.up, client: info.id, value: token, info: info.json.jsonText, journal: journal, retain: journal?.retain(in: self.nodeID))
        case .resumeToken(let id, let token):
            batch.add(.resumeToken, client: id, value: token)
        case .clientDown(let id):
            batch.add(.down, client: id)
        case .joined(let room, let id):
            batch.add(.joined, client: id, value: room)
        case .left(let room, let id):
            batch.add(.left, client: id, value: room)
        }
    }

    /// Sends directory events to every node, packed into payloads PostgreSQL accepts; an event
    /// too large for one payload makes every node reload the directory instead.
    func broadcast(_ events: [JSONValue], reload: Bool = false, on connection: PostgresConnection) async throws {
        let payloads = self.payloads(events, reload: reload)
        guard !payloads.isEmpty else { return }
        try await self.database.query("SELECT pg_notify(\(Self.eventsChannel), p) FROM unnest(\(payloads)::text[]) WITH ORDINALITY AS t(p, ord) ORDER BY ord", on: connection)
    }

    /// `events` packed into NOTIFY payloads (each under 7,999 bytes), in order.
    func payloads(_ events: [JSONValue], reload: Bool = false) -> [String] {
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
        return payloads
    }
}
