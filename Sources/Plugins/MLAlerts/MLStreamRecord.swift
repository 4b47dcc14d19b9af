import RelayKernel

/// A registered stream, as kept in the `streams` collection (record id = stream id).
///
/// The seed's `video_stream` table: id, userId, deviceName, deviceType, status, lastSeen,
/// metadata, createdAt, updatedAt. Times are ISO 8601 strings; `lastSeen` is `null` until a
/// producer first connects.
struct MLStreamRecord: Sendable, Equatable {
    var id: String
    var userId: String
    var deviceName: String
    var deviceType: String
    var status: MLStreamStatus
    var lastSeen: String?
    var metadata: JSONValue
    var createdAt: String
    var updatedAt: String

    /// The stored (and listed) form.
    var json: JSONValue {
        .object([
            "id": .string(self.id),
            "userId": .string(self.userId),
            "deviceName": .string(self.deviceName),
            "deviceType": .string(self.deviceType),
            "status": .string(self.status.rawValue),
            "lastSeen": self.lastSeen.map(JSONValue.string) ?? .null,
            "metadata": self.metadata,
            "createdAt": .string(self.createdAt),
            "updatedAt": .string(self.updatedAt),
        ])
    }

    /// The `stream-status` message for this record.
    var statusMessage: OutboundMessage {
        .json(
            type: "stream-status",
            [
                "streamId": .string(self.id),
                "status": .string(self.status.rawValue),
                "lastSeen": self.lastSeen.map(JSONValue.string) ?? .null,
            ]
        )
    }

    init(
        id: String,
        userId: String,
        deviceName: String,
        deviceType: String,
        status: MLStreamStatus,
        lastSeen: String?,
        metadata: JSONValue,
        createdAt: String,
        updatedAt: String
    ) {
        self.id = id
        self.userId = userId
        self.deviceName = deviceName
        self.deviceType = deviceType
        self.status = status
        self.lastSeen = lastSeen
        self.metadata = metadata
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// Reads a stored record; `nil` when it is not a stream record.
    init?(_ record: DurableRecord) {
        let value = record.value
        guard let userId = value["userId"]?.stringValue else { return nil }
        self.id = record.id
        self.userId = userId
        self.deviceName = value["deviceName"]?.stringValue ?? ""
        self.deviceType = value["deviceType"]?.stringValue ?? ""
        self.status = value["status"]?.stringValue.flatMap(MLStreamStatus.init(rawValue:)) ?? .offline
        self.lastSeen = value["lastSeen"]?.stringValue
        self.metadata = value["metadata"] ?? .object([:])
        self.createdAt = value["createdAt"]?.stringValue ?? MLTimestamp.iso(milliseconds: record.createdAt)
        self.updatedAt = value["updatedAt"]?.stringValue ?? MLTimestamp.iso(milliseconds: record.updatedAt)
    }
}
