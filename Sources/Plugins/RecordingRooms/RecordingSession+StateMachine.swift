import RelayKernel

/// The session's transitions as pure functions: what a join, a leave, a start, a stop or an
/// upload report does to a ``RecordingSession``. The plugin applies them under the session's
/// lock with compare-and-set and performs the broadcasts they imply.
extension RecordingSession {
    /// A new, empty session.
    static func created(id: String, now: Int64) -> RecordingSession {
        RecordingSession(id: id, createdAt: now)
    }

    /// The status the session is in, with `minDevices` needed to be `READY`.
    func status(minDevices: Int) -> Status {
        if let take = self.take {
            if take.stoppedAt == nil { return .recording }
            return take.completedAt == nil ? .uploading : .completed
        }
        return self.devices.count >= minDevices ? .ready : .waiting
    }

    /// What a join did.
    enum JoinResult: Sendable, Equatable {
        /// The device is new in the session: the room hears `device_joined`.
        case joined(Device)
        /// The client had already joined (a repeated `join_session`): nothing changes.
        case alreadyJoined(Device)
    }

    /// `client` joins as a device; `conflict` when the session is full.
    mutating func join(
        client: ClientID,
        deviceType: String,
        viewType: String?,
        now: Int64,
        maxDevices: Int
    ) throws(RelayError) -> JoinResult {
        if let device = self.device(of: client) { return .alreadyJoined(device) }
        guard self.devices.count < maxDevices else {
            throw RelayError(.conflict, "session '\(self.id)' already holds \(maxDevices) devices")
        }
        let device = Device(deviceId: client.rawValue, clientId: client, deviceType: deviceType, viewType: viewType, joinedAt: now)
        self.devices.append(device)
        return .joined(device)
    }

    /// `client` leaves for good; returns the device it was, if it was in the session. A take it
    /// recorded still waits for its upload (nothing is pretended complete).
    mutating func leave(client: ClientID) -> Device? {
        guard let index = self.devices.firstIndex(where: { $0.clientId == client }) else { return nil }
        return self.devices.remove(at: index)
    }

    /// A controller starts a take: every device present records it, from `timestamp + lead`.
    ///
    /// Refused (`conflict`) while a take is recording, while a device that recorded the previous
    /// take and is still present has not reported its upload, and with fewer than `minDevices`.
    mutating func start(
        by client: ClientID,
        postureLabel: String,
        duration: Int64,
        now: Int64,
        lead: Int64,
        minDevices: Int
    ) throws(RelayError) -> Take {
        guard self.device(of: client) != nil else {
            throw RelayError(.forbidden, "this device has not joined session '\(self.id)'")
        }
        if let take = self.take {
            if take.stoppedAt == nil {
                throw RelayError(.conflict, "take \(take.number) of session '\(self.id)' is still recording")
            }
            let waiting = take.pendingUploads.filter { self.device(id: $0) != nil }
            if take.completedAt == nil, !waiting.isEmpty {
                throw RelayError(
                    .conflict,
                    "take \(take.number) of session '\(self.id)' waits for the upload of \(waiting.joined(separator: ", "))"
                )
            }
        }
        guard self.devices.count >= minDevices else {
            throw RelayError(.conflict, "session '\(self.id)' has \(self.devices.count) of the \(minDevices) devices it needs to record")
        }
        let take = Take(
            number: (self.take?.number ?? 0) + 1,
            postureLabel: postureLabel,
            duration: duration,
            timestamp: now,
            startAt: now + lead,
            participants: self.devices.map(\.deviceId)
        )
        self.take = take
        return take
    }

    /// What a stop did.
    enum StopResult: Sendable, Equatable {
        /// The take stopped now; `completed` when every participant had already uploaded.
        case stopped(Take, completed: Bool)
        /// Nothing was recording (or not the take asked for): a repeated or late stop.
        case notRecording
    }

    /// Stops the recording take (only take `number` when given, as the auto-stop does).
    mutating func stop(now: Int64, reason: String, take number: Int? = nil) -> StopResult {
        guard var take = self.take, take.stoppedAt == nil, number == nil || number == take.number else { return .notRecording }
        take.stoppedAt = now
        take.stopReason = reason
        let completed = take.pendingUploads.isEmpty
        if completed { take.completedAt = now }
        self.take = take
        return .stopped(take, completed: completed)
    }

    /// What an upload report did.
    enum UploadResult: Sendable, Equatable {
        /// Recorded; `completed` when it was the last one of a stopped take.
        case recorded(Take, completed: Bool)
        /// This device had already reported its upload of this take: nothing changes.
        case duplicate(Take)
    }

    /// `client` reports that its recording of the latest take (or take `number`) is uploaded.
    mutating func upload(
        from client: ClientID,
        recordingId: String,
        fileSizeBytes: Int,
        take number: Int?,
        now: Int64
    ) throws(RelayError) -> UploadResult {
        guard let device = self.device(of: client) else {
            throw RelayError(.forbidden, "this device has not joined session '\(self.id)'")
        }
        guard var take = self.take else {
            throw RelayError(.conflict, "session '\(self.id)' has not recorded anything yet")
        }
        if let number, number != take.number {
            throw RelayError(.conflict, "take \(number) is not the latest take (\(take.number)) of session '\(self.id)'")
        }
        guard take.participants.contains(device.deviceId) else {
            throw RelayError(.conflict, "device '\(device.deviceId)' did not record take \(take.number) of session '\(self.id)'")
        }
        if take.uploads[device.deviceId] != nil { return .duplicate(take) }
        take.uploads[device.deviceId] = Upload(recordingId: recordingId, fileSizeBytes: fileSizeBytes, at: now)
        let completed = take.stoppedAt != nil && take.completedAt == nil && take.pendingUploads.isEmpty
        if completed { take.completedAt = now }
        self.take = take
        return .recorded(take, completed: completed)
    }
}
