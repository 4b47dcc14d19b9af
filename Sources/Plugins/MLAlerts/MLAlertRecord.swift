import RelayKernel

/// An alert, as kept in the `alerts` collection (appended, so listed newest first).
///
/// The seed's `alert` table: id, streamId, severity, message, metadata, createdAt; plus the
/// sender's `timestamp` and the stream owner's `userId` (so a user's alerts across streams can
/// be listed with one equality filter).
struct MLAlertRecord: Sendable, Equatable {
    var id: String
    var streamId: String
    var userId: String
    var severity: MLSeverity
    var message: String
    var metadata: JSONValue
    var timestamp: JSONValue
    var createdAt: String

    /// What is stored (the record's id and creation time come from the store).
    static func storedValue(
        streamId: String,
        userId: String,
        severity: MLSeverity,
        message: String,
        metadata: JSONValue,
        timestamp: JSONValue
    ) -> JSONValue {
        .object([
            "streamId": .string(streamId),
            "userId": .string(userId),
            "severity": .string(severity.rawValue),
            "message": .string(message),
            "metadata": metadata,
            "timestamp": timestamp,
        ])
    }

    /// Reads a stored record; `nil` when it is not an alert record.
    init?(_ record: DurableRecord) {
        let value = record.value
        guard let streamId = value["streamId"]?.stringValue,
            let severity = value["severity"]?.stringValue.flatMap(MLSeverity.init(rawValue:))
        else { return nil }
        self.id = record.id
        self.streamId = streamId
        self.userId = value["userId"]?.stringValue ?? ""
        self.severity = severity
        self.message = value["message"]?.stringValue ?? ""
        self.metadata = value["metadata"] ?? .object([:])
        self.timestamp = value["timestamp"] ?? .int(Int(record.createdAt))
        self.createdAt = MLTimestamp.iso(milliseconds: record.createdAt)
    }

    /// The fields sent on the wire and listed by the REST API.
    var fields: KeyValuePairs<String, JSONValue> {
        [
            "id": .string(self.id),
            "streamId": .string(self.streamId),
            "severity": .string(self.severity.rawValue),
            "message": .string(self.message),
            "metadata": self.metadata,
            "timestamp": self.timestamp,
            "createdAt": .string(self.createdAt),
        ]
    }

    /// The REST form.
    var json: JSONValue {
        .object(Dictionary(uniqueKeysWithValues: self.fields.map { ($0.key, $0.value) }))
    }

    /// The `alert` message fanned out to the stream's alert consumers.
    var outbound: OutboundMessage { .json(type: "alert", self.fields) }
}
