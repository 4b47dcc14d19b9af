import Logging
import PostgresNIO

extension PostgresConnection {
    /// Runs a prepared statement (prepared on this connection the first time) and returns all
    /// its rows; reading every row is what surfaces an error the server raises while it runs.
    func rows<Statement: PostgresPreparedStatement>(of statement: Statement, logger: Logger) async throws -> [Statement.Row] {
        var rows: [Statement.Row] = []
        for try await row in try await self.execute(statement, logger: logger) { rows.append(row) }
        return rows
    }
}
