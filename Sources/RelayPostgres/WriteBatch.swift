import NIOCore
import PostgresNIO
import RelayKernel

/// One batch of a node's writer as one call of `relay_write` (a prepared statement on the
/// writer's own connection): changes to this node's clients, rows for other nodes, journal
/// records and directory events. Its result: the clients whose journal records were refused
/// because another node took them over meanwhile.
struct WriteBatch: PostgresPreparedStatement {
    static let sql = "SELECT relay_write($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    static let bindingDataTypes: [PostgresDataType] = [
        .text, .int2Array, .textArray, .byteaArray,
        .int2Array, .textArray, .textArray, .textArray, .int8Array, .byteaArray,
        .textArray, .int8Array, .byteaArray,
        .textArray,
    ]
    typealias Row = [String]

    /// Kinds of outgoing rows: for a client, for a room's members on other nodes, for one
    /// inbox, for a room's members on every node, for the live process of a node (by name).
    enum Target: Int16 {
        case client = 1, room, inbox, roomEverywhere, node
    }

    /// Kinds of changes.
    enum Change: Int16 {
        case up = 1, resumeToken, down, joined, left
    }

    let inbox: String
    private var outKinds: [Int16] = []
    private var outKeys: [String] = []
    private var outEnvelopes: [ByteBuffer] = []
    private var changeKinds: [Int16] = []
    private var changeClients: [String] = []
    private var changeValues: [String] = []
    private var changeInfos: [String] = []
    private var changeRetains: [Int64] = []
    private var changeJournals: [ByteBuffer] = []
    private var journalClients: [String] = []
    private var journalRetains: [Int64] = []
    private var journalStates: [ByteBuffer] = []
    var events: [String] = []

    /// An empty batch of the node whose inbox is `inbox`.
    init(inbox: String) {
        self.inbox = inbox
    }

    var isEmpty: Bool { self.outKinds.isEmpty && self.changeKinds.isEmpty && self.journalClients.isEmpty && self.events.isEmpty }

    /// A row for `key` (a client id, a room, or an inbox).
    mutating func add(_ target: Target, _ key: String, _ envelope: ByteBuffer) {
        self.outKinds.append(target.rawValue)
        self.outKeys.append(key)
        self.outEnvelopes.append(envelope)
    }

    /// A change of this node's clients; `journal` (with `retain`) for a client that is up.
    mutating func add(_ change: Change, client: ClientID, value: String = "", info: String = "", journal: ClientJournal? = nil, retain: Int64? = nil) {
        self.changeKinds.append(change.rawValue)
        self.changeClients.append(client.rawValue)
        self.changeValues.append(value)
        self.changeInfos.append(info)
        self.changeRetains.append(retain ?? -1)
        self.changeJournals.append(journal?.encoded ?? ByteBuffer())
    }

    /// A journal record.
    mutating func add(_ record: ClusterJournal.Record) {
        self.journalClients.append(record.client.rawValue)
        self.journalRetains.append(record.retain ?? -1)
        self.journalStates.append(record.state)
    }

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 14)
        bindings.append(self.inbox)
        bindings.append(self.outKinds)
        bindings.append(self.outKeys)
        bindings.append(self.outEnvelopes)
        bindings.append(self.changeKinds)
        bindings.append(self.changeClients)
        bindings.append(self.changeValues)
        bindings.append(self.changeInfos)
        bindings.append(self.changeRetains)
        bindings.append(self.changeJournals)
        bindings.append(self.journalClients)
        bindings.append(self.journalRetains)
        bindings.append(self.journalStates)
        bindings.append(self.events)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> [String] {
        try row.decode([String].self)
    }
}
