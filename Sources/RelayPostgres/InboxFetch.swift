import NIOCore
import PostgresNIO

/// The next rows of a node's inbox, in order (a prepared statement on the fetch loop's own
/// connection). Rows are not deleted when taken: they stay until the clients they were for
/// have passed them (see `PostgresBackplane.collectGarbage`).
struct InboxFetch: PostgresPreparedStatement {
    static let sql = "SELECT seq, envelope FROM relay_messages WHERE inbox = $1 AND seq > $2 ORDER BY seq LIMIT $3"
    static let bindingDataTypes: [PostgresDataType] = [.text, .int8, .int8]
    typealias Row = (Int64, ByteBuffer)

    let inbox: String
    let after: Int64
    let limit: Int64

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 3)
        bindings.append(self.inbox)
        bindings.append(self.after)
        bindings.append(self.limit)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        try row.decode(Row.self)
    }
}
