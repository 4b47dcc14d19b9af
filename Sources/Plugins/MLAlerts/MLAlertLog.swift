import RelayKernel

/// The `alerts` collection: appended before fan-out, listed newest first.
struct MLAlertLog: Sendable {
    static let collection = "alerts"

    let records: any DurableStore

    /// Persists an alert of `stream`; returns it with its id and creation time.
    func append(
        to stream: MLStreamRecord,
        severity: MLSeverity,
        message: String,
        metadata: JSONValue,
        timestamp: JSONValue
    ) async throws -> MLAlertRecord {
        let value = MLAlertRecord.storedValue(
            streamId: stream.id,
            userId: stream.userId,
            severity: severity,
            message: message,
            metadata: metadata,
            timestamp: timestamp
        )
        let record = try await self.records.append(Self.collection, value)
        guard let alert = MLAlertRecord(record) else { throw RelayError(.invalidMessage, "the alert could not be stored") }
        return alert
    }
}
