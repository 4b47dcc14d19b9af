import RelayKernel

/// One recording session as the store holds it (key `session:<id>`): the devices present, and
/// the latest recording ("take") with who recorded it and who has uploaded.
///
/// Devices are addressed by their relay ``ClientID`` (stable across resume), never by a socket.
/// Plain data: the transitions live in `RecordingSession+StateMachine.swift`.
struct RecordingSession: Sendable, Equatable {
    /// What a session is doing (seed 002's statuses).
    enum Status: String, Sendable, CaseIterable {
        /// Fewer devices than `minDevices`.
        case waiting = "WAITING"
        /// Enough devices to record.
        case ready = "READY"
        /// A take has started (or is about to, at `startAt`) and is not stopped yet.
        case recording = "RECORDING"
        /// The take stopped; some device that recorded has not reported its upload yet.
        case uploading = "UPLOADING"
        /// Every device that recorded the latest take has uploaded it.
        case completed = "COMPLETED"
    }

    /// A device in the session.
    struct Device: Sendable, Equatable {
        /// The id the session knows it by (`deviceId` on the wire).
        let deviceId: String
        /// Its relay identity.
        let clientId: ClientID
        /// What it joined as (`desktop`, `mobile`, …).
        let deviceType: String
        /// Its camera view (`front`, `side`, …), when it said.
        let viewType: String?
        /// Wall-clock ms.
        let joinedAt: Int64
    }

    /// A device's report that its recording of a take is uploaded.
    struct Upload: Sendable, Equatable {
        let recordingId: String
        let fileSizeBytes: Int
        /// Wall-clock ms.
        let at: Int64
    }

    /// One synchronized recording.
    struct Take: Sendable, Equatable {
        /// 1 for the session's first take, then counting.
        let number: Int
        let postureLabel: String
        /// Milliseconds.
        let duration: Int64
        /// Server wall-clock ms when the start was broadcast.
        let timestamp: Int64
        /// Server wall-clock ms at which every device starts recording.
        let startAt: Int64
        /// The devices present when the start went out: each must upload once.
        let participants: [String]
        /// When it stopped (server wall-clock ms).
        var stoppedAt: Int64? = nil
        /// `requested` (a `stop_recording`) or `duration` (the server's auto-stop).
        var stopReason: String? = nil
        /// Uploads by device id.
        var uploads: [String: Upload] = [:]
        /// When the last participant's upload arrived after the stop.
        var completedAt: Int64? = nil

        /// Participants that have not reported their upload.
        var pendingUploads: [String] { self.participants.filter { self.uploads[$0] == nil } }
    }

    let id: String
    /// Wall-clock ms.
    let createdAt: Int64
    /// Devices present, in join order.
    var devices: [Device] = []
    /// The latest take.
    var take: Take? = nil

    /// The device a client is, if it is in this session.
    func device(of client: ClientID) -> Device? {
        self.devices.first { $0.clientId == client }
    }

    /// The device with `deviceId`, if present.
    func device(id deviceId: String) -> Device? {
        self.devices.first { $0.deviceId == deviceId }
    }
}

// MARK: Stored form

extension RecordingSession.Device {
    var json: JSONValue {
        [
            "deviceId": .string(self.deviceId),
            "clientId": .string(self.clientId.rawValue),
            "deviceType": .string(self.deviceType),
            "viewType": self.viewType.map(JSONValue.string) ?? .null,
            "joinedAt": .int(Int(self.joinedAt)),
        ]
    }

    init?(json: JSONValue) {
        guard
            let deviceId = json["deviceId"]?.stringValue,
            let clientId = json["clientId"]?.stringValue,
            let deviceType = json["deviceType"]?.stringValue,
            let joinedAt = json["joinedAt"]?.intValue
        else { return nil }
        self.init(deviceId: deviceId, clientId: ClientID(clientId), deviceType: deviceType, viewType: json["viewType"]?.stringValue, joinedAt: Int64(joinedAt))
    }

    /// What other devices are told about it.
    var publicJSON: JSONValue {
        ["deviceId": .string(self.deviceId), "deviceType": .string(self.deviceType), "viewType": self.viewType.map(JSONValue.string) ?? .null]
    }
}

extension RecordingSession.Take {
    var json: JSONValue {
        var uploads: [String: JSONValue] = [:]
        for (device, upload) in self.uploads {
            uploads[device] = [
                "recordingId": .string(upload.recordingId), "fileSizeBytes": .int(upload.fileSizeBytes), "at": .int(Int(upload.at)),
            ]
        }
        return [
            "number": .int(self.number),
            "postureLabel": .string(self.postureLabel),
            "duration": .int(Int(self.duration)),
            "timestamp": .int(Int(self.timestamp)),
            "startAt": .int(Int(self.startAt)),
            "participants": .array(self.participants.map(JSONValue.string)),
            "stoppedAt": self.stoppedAt.map { .int(Int($0)) } ?? .null,
            "stopReason": self.stopReason.map(JSONValue.string) ?? .null,
            "uploads": .object(uploads),
            "completedAt": self.completedAt.map { .int(Int($0)) } ?? .null,
        ]
    }

    init?(json: JSONValue) {
        guard
            let number = json["number"]?.intValue,
            let postureLabel = json["postureLabel"]?.stringValue,
            let duration = json["duration"]?.intValue,
            let timestamp = json["timestamp"]?.intValue,
            let startAt = json["startAt"]?.intValue,
            let participants = json["participants"]?.arrayValue?.compactMap(\.stringValue)
        else { return nil }
        self.init(
            number: number,
            postureLabel: postureLabel,
            duration: Int64(duration),
            timestamp: Int64(timestamp),
            startAt: Int64(startAt),
            participants: participants
        )
        self.stoppedAt = json["stoppedAt"]?.intValue.map(Int64.init)
        self.stopReason = json["stopReason"]?.stringValue
        for (device, upload) in json["uploads"]?.objectValue ?? [:] {
            guard let recordingId = upload["recordingId"]?.stringValue, let size = upload["fileSizeBytes"]?.intValue else { continue }
            self.uploads[device] = RecordingSession.Upload(recordingId: recordingId, fileSizeBytes: size, at: Int64(upload["at"]?.intValue ?? 0))
        }
        self.completedAt = json["completedAt"]?.intValue.map(Int64.init)
    }
}

extension RecordingSession {
    /// The stored form; `status` is written too, so whoever reads the store sees it.
    func json(minDevices: Int) -> JSONValue {
        [
            "id": .string(self.id),
            "createdAt": .int(Int(self.createdAt)),
            "status": .string(self.status(minDevices: minDevices).rawValue),
            "devices": .array(self.devices.map(\.json)),
            "take": self.take?.json ?? .null,
        ]
    }

    /// Reads the stored form; `nil` when it is not a session.
    init?(json: JSONValue) {
        guard let id = json["id"]?.stringValue, let createdAt = json["createdAt"]?.intValue else { return nil }
        self.id = id
        self.createdAt = Int64(createdAt)
        self.devices = json["devices"]?.arrayValue?.compactMap(Device.init(json:)) ?? []
        self.take = json["take"].flatMap(Take.init(json:))
    }
}
