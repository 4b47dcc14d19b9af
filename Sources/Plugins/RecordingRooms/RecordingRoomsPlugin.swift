import Logging
import NIOCore
public import RelayKernel

/// Synchronized multi-device recording sessions (seed 002), spoken over both codecs: Socket.IO
/// events (event name = type, first argument = body) and `json` messages of the same names.
///
/// - `join_session {sessionId, deviceType, viewType}` → the sender gets `joined_session
///   {success, deviceId, session:{id,status,devices}, timestamp}` and the session's room (sender
///   included) `device_joined {deviceId, deviceType, viewType, timestamp, status}`;
/// - `start_recording {sessionId, postureLabel, duration}` (controllers only) → the room, sender
///   included, gets one `start_recording {postureLabel, duration, timestamp, startAt, take,
///   sessionId}`, the same bytes for everyone; `startAt` is the server's clock plus `startLead`;
/// - `stop_recording {sessionId}` (controllers only), or the server once `startAt + duration`
///   has passed → `stop_recording {timestamp, take, reason, sessionId}`; a late or repeated stop
///   changes nothing;
/// - `upload_completed {recordingId, fileSizeBytes}` → recorded once per device and take; when
///   every device present at the start has reported, `session_completed {sessionId, timestamp, take}`;
/// - a device that leaves for good (after the resume grace on a drop) → `device_disconnected
///   {deviceId, timestamp, status}`;
/// - `time_sync {t0}` → `{t0, t1, t2}` (server receive and send times, ms with fractions), as the
///   acknowledgement when one is asked for, else as a `time_sync` message.
///
/// Session state (devices, the latest take, uploads and the status `WAITING`, `READY`,
/// `RECORDING`, `UPLOADING`, `COMPLETED`) lives in the instance's store. Socket.IO callers that
/// ask for an acknowledgement get one for every event (`{success:true,…}`, or
/// `{success:false,error:{code,message}}` next to the `error` event). See
/// `docs/plugins/recording-rooms.md`.
public struct RecordingRoomsPlugin: RelayPlugin {
    public static let name = "recording-rooms"
    public static let messageTypes: [String]? = ["join_session", "start_recording", "stop_recording", "upload_completed", "time_sync"]

    let configuration: RecordingRoomsConfiguration
    let sessions: RecordingSessionStore

    public init(configuration: RecordingRoomsConfiguration, setup: inout PluginSetup) throws {
        self.configuration = configuration
        self.sessions = RecordingSessionStore(configuration: configuration)
    }

    public func handle(_ message: RelayMessage, context: PluginContext) async throws {
        if message.type == "time_sync" {
            // First, before anything else: the receive time is what the client's offset rests on.
            let received = context.clock.preciseMillisecondsSince1970
            try Self.timeSync(message, received: received, context: context)
            return
        }
        do {
            switch message.type {
            case "join_session": try await self.join(message, context: context)
            case "start_recording": try await self.start(message, context: context)
            case "stop_recording": try await self.stop(message, context: context)
            case "upload_completed": try await self.uploadCompleted(message, context: context)
            default: throw RelayError(.unknownType, "recording-rooms does not handle '\(message.type)'")
            }
        } catch let error as RelayError {
            // A Socket.IO caller waiting on its callback hears the failure too (the `error` event follows).
            Self.acknowledge(message, ["success": false, "error": ["code": .string(error.code.rawValue), "message": .string(error.message)]], context: context)
            throw error
        }
    }

    public func clientLeft(_ client: ClientInfo, context: PluginContext) async {
        guard let sessionID = try? await self.sessions.sessionID(of: client.id, context: context) else { return }
        await self.sessions.clearSessionID(of: client.id, context: context)
        await self.removeDevice(client.id, from: sessionID, context: context)
    }

    // MARK: Messages

    /// `time_sync {t0}` → `{t0, t1, t2}`.
    private static func timeSync(_ message: RelayMessage, received: Double, context: PluginContext) throws(RelayError) {
        guard let t0 = message["t0"], t0.doubleValue != nil else {
            throw RelayError.invalidField("t0", expected: "a number (the client's clock in ms when it sent this)")
        }
        let sent = context.clock.preciseMillisecondsSince1970
        context.respond(to: message, with: .json(type: "time_sync", ["t0": t0, "t1": .double(received), "t2": .double(sent)]))
    }

    private func join(_ message: RelayMessage, context: PluginContext) async throws {
        let sessionID = try self.text(message, "sessionId")
        let deviceType = try self.text(message, "deviceType")
        let viewType = try self.optionalText(message, "viewType")
        let client = message.sender.id
        let previous = try await self.sessions.sessionID(of: client, context: context)
        try await self.sessions.withLock(sessionID) {
            let now = context.clock.millisecondsSince1970
            let (result, written) = try await self.sessions.update(sessionID, context: context) { session in
                var current = session ?? .created(id: sessionID, now: now)
                let result = try current.join(client: client, deviceType: deviceType, viewType: viewType, now: now, maxDevices: self.configuration.maxDevices)
                session = current
                return result
            }
            guard let session = written else { throw RelayError(.notFound, "session '\(sessionID)' is gone") }
            try await self.sessions.setSessionID(sessionID, of: client, context: context)
            context.join(sessionID, client: client)
            let status = session.status(minDevices: self.configuration.minDevices)
            let device: RecordingSession.Device
            switch result {
            case .joined(let joined), .alreadyJoined(let joined): device = joined
            }
            let answer: JSONValue = [
                "success": true,
                "deviceId": .string(device.deviceId),
                "session": ["id": .string(sessionID), "status": .string(status.rawValue), "devices": .array(session.devices.map(\.publicJSON))],
                "timestamp": .int(Int(now)),
            ]
            context.reply(.event(type: "joined_session", values: [answer]))
            Self.acknowledge(message, answer, context: context)
            if case .joined = result {
                var joined = device.publicJSON
                joined = Self.adding(["timestamp": .int(Int(now)), "status": .string(status.rawValue)], to: joined)
                context.publish(.event(type: "device_joined", values: [joined]), to: sessionID)
            }
        }
        // A device is in one session at a time: once it is in the new one, it leaves the old one.
        if let previous, previous != sessionID {
            await self.removeDevice(client, from: previous, context: context)
        }
    }

    private func start(_ message: RelayMessage, context: PluginContext) async throws {
        let sessionID = try await self.joinedSession(of: message, context: context)
        let postureLabel = try self.text(message, "postureLabel")
        guard let requested = message["duration"]?.doubleValue, requested > 0, requested.isFinite else {
            throw RelayError.invalidField("duration", expected: "a positive number of milliseconds")
        }
        let duration = Int64(requested.rounded())
        guard duration <= self.configuration.maxDurationMilliseconds else {
            throw RelayError.invalidField("duration", expected: "at most \(self.configuration.maxDurationMilliseconds) ms")
        }
        let client = message.sender.id
        try await self.sessions.withLock(sessionID) {
            let (take, _) = try await self.sessions.update(sessionID, context: context) { session in
                guard var current = session else { throw RelayError(.notFound, "session '\(sessionID)' is gone") }
                try self.requireController(client, of: current, claims: message.sender.claims)
                let take = try current.start(
                    by: client,
                    postureLabel: postureLabel,
                    duration: duration,
                    now: context.clock.millisecondsSince1970,
                    lead: self.configuration.startLeadMilliseconds,
                    minDevices: self.configuration.minDevices
                )
                session = current
                return take
            }
            let start: JSONValue = [
                "postureLabel": .string(take.postureLabel),
                "duration": .int(Int(take.duration)),
                "timestamp": .int(Int(take.timestamp)),
                "startAt": .int(Int(take.startAt)),
                "take": .int(take.number),
                "sessionId": .string(sessionID),
            ]
            // One message for the whole room, sender included: every device gets the same bytes.
            context.publish(.event(type: "start_recording", values: [start]), to: sessionID)
            Self.acknowledge(message, Self.adding(["success": true], to: start), context: context)
            if self.configuration.autoStop {
                let stopAt = take.startAt + take.duration
                let delay = max(0, stopAt - context.clock.millisecondsSince1970)
                context.schedule(after: .milliseconds(delay)) { timerContext in
                    await self.autoStop(sessionID, take: take.number, context: timerContext)
                }
            }
        }
    }

    private func stop(_ message: RelayMessage, context: PluginContext) async throws {
        let sessionID = try await self.joinedSession(of: message, context: context)
        let client = message.sender.id
        try await self.sessions.withLock(sessionID) {
            let (result, _) = try await self.sessions.update(sessionID, context: context) { session in
                guard var current = session else { throw RelayError(.notFound, "session '\(sessionID)' is gone") }
                try self.requireController(client, of: current, claims: message.sender.claims)
                let result = current.stop(now: context.clock.millisecondsSince1970, reason: "requested")
                session = current
                return result
            }
            Self.announce(result, sessionID: sessionID, context: context)
            if case .stopped(let take, _) = result {
                Self.acknowledge(message, ["success": true, "stopped": true, "take": .int(take.number)], context: context)
            } else {
                Self.acknowledge(message, ["success": true, "stopped": false], context: context)
            }
        }
    }

    private func uploadCompleted(_ message: RelayMessage, context: PluginContext) async throws {
        let sessionID = try await self.joinedSession(of: message, context: context)
        let recordingID: String
        if let number = message["recordingId"]?.intValue, message["recordingId"]?.stringValue == nil {
            recordingID = String(number)
        } else {
            recordingID = try self.text(message, "recordingId")
        }
        guard let size = message["fileSizeBytes"]?.intValue, size >= 0 else {
            throw RelayError.invalidField("fileSizeBytes", expected: "a whole number of bytes (0 or more)")
        }
        var takeNumber: Int?
        if let value = message["take"], value != .null {
            guard let number = value.intValue else { throw RelayError.invalidField("take", expected: "a take number") }
            takeNumber = number
        }
        let client = message.sender.id
        try await self.sessions.withLock(sessionID) {
            let (result, _) = try await self.sessions.update(sessionID, context: context) { session in
                guard var current = session else { throw RelayError(.notFound, "session '\(sessionID)' is gone") }
                let result = try current.upload(
                    from: client,
                    recordingId: recordingID,
                    fileSizeBytes: size,
                    take: takeNumber,
                    now: context.clock.millisecondsSince1970
                )
                session = current
                return result
            }
            switch result {
            case .recorded(let take, let completed):
                if completed { Self.announceCompletion(of: take, sessionID: sessionID, context: context) }
                Self.acknowledge(message, ["success": true, "duplicate": false, "take": .int(take.number)], context: context)
            case .duplicate(let take):
                Self.acknowledge(message, ["success": true, "duplicate": true, "take": .int(take.number)], context: context)
            }
        }
    }

    // MARK: Server-side transitions

    /// Stops take `number` once its duration has passed, unless it was stopped already.
    private func autoStop(_ sessionID: String, take number: Int, context: PluginContext) async {
        await self.sessions.withLock(sessionID) {
            do {
                let (result, _) = try await self.sessions.update(sessionID, context: context) { session in
                    guard var current = session else { return RecordingSession.StopResult.notRecording }
                    let result = current.stop(now: context.clock.millisecondsSince1970, reason: "duration", take: number)
                    session = current
                    return result
                }
                Self.announce(result, sessionID: sessionID, context: context)
            } catch {
                context.logger.info("auto-stop failed", metadata: ["relay.room.id": "\(sessionID)", "error.type": "\(error)"])
            }
        }
    }

    /// Takes a client out of a session (it left for good, or joined another one).
    private func removeDevice(_ client: ClientID, from sessionID: String, context: PluginContext) async {
        await self.sessions.withLock(sessionID) {
            context.leave(sessionID, client: client)
            do {
                let (removed, session) = try await self.sessions.update(sessionID, context: context) { session in
                    guard var current = session else { return RecordingSession.Device?.none }
                    let removed = current.leave(client: client)
                    session = current
                    return removed
                }
                guard let removed else { return }
                let status = session?.status(minDevices: self.configuration.minDevices) ?? .waiting
                context.publish(
                    .event(
                        type: "device_disconnected",
                        values: [["deviceId": .string(removed.deviceId), "timestamp": .int(Int(context.clock.millisecondsSince1970)), "status": .string(status.rawValue)]]
                    ),
                    to: sessionID
                )
            } catch {
                context.logger.info("leaving a session failed", metadata: ["relay.room.id": "\(sessionID)", "error.type": "\(error)"])
            }
        }
    }

    // MARK: Helpers

    /// `stop_recording` to the room (and `session_completed` when every upload was already in).
    private static func announce(_ result: RecordingSession.StopResult, sessionID: String, context: PluginContext) {
        guard case .stopped(let take, let completed) = result else { return }
        let stop: JSONValue = [
            "timestamp": .int(Int(take.stoppedAt ?? context.clock.millisecondsSince1970)),
            "take": .int(take.number),
            "reason": .string(take.stopReason ?? "requested"),
            "sessionId": .string(sessionID),
        ]
        context.publish(.event(type: "stop_recording", values: [stop]), to: sessionID)
        if completed { Self.announceCompletion(of: take, sessionID: sessionID, context: context) }
    }

    private static func announceCompletion(of take: RecordingSession.Take, sessionID: String, context: PluginContext) {
        let completed: JSONValue = [
            "sessionId": .string(sessionID),
            "timestamp": .int(Int(take.completedAt ?? context.clock.millisecondsSince1970)),
            "take": .int(take.number),
            "status": .string(RecordingSession.Status.completed.rawValue),
        ]
        context.publish(.event(type: "session_completed", values: [completed]), to: sessionID)
    }

    /// The session the sender joined; `forbidden` when it joined none, or another one than the
    /// message's `sessionId`.
    private func joinedSession(of message: RelayMessage, context: PluginContext) async throws -> String {
        guard let joined = try await self.sessions.sessionID(of: message.sender.id, context: context) else {
            throw RelayError(.forbidden, "join a session first (join_session)")
        }
        if let named = message["sessionId"], named != .null {
            guard let text = named.stringValue else { throw RelayError.invalidField("sessionId", expected: "a string") }
            guard text == joined else { throw RelayError(.forbidden, "this device joined session '\(joined)', not '\(text)'") }
        }
        return joined
    }

    /// `forbidden` unless `client` is a device of `session` allowed to start and stop.
    private func requireController(_ client: ClientID, of session: RecordingSession, claims: [String: JSONValue]) throws(RelayError) {
        guard let device = session.device(of: client) else {
            throw RelayError(.forbidden, "this device has not joined session '\(session.id)'")
        }
        guard self.configuration.mayControl(deviceType: device.deviceType, claims: claims) else {
            throw RelayError(.forbidden, "only \(self.configuration.controllerDescription) may start and stop recordings")
        }
    }

    /// A required non-empty string field of bounded length.
    private func text(_ message: RelayMessage, _ field: String) throws(RelayError) -> String {
        let value = try message.string(field)
        guard !value.isEmpty, value.utf8.count <= self.configuration.maxFieldLength else {
            throw RelayError.invalidField(field, expected: "a non-empty string of at most \(self.configuration.maxFieldLength) bytes")
        }
        return value
    }

    /// An optional string field (absent or `null` → `nil`).
    private func optionalText(_ message: RelayMessage, _ field: String) throws(RelayError) -> String? {
        guard let value = message[field], value != .null else { return nil }
        return try self.text(message, field)
    }

    private static func adding(_ fields: [String: JSONValue], to value: JSONValue) -> JSONValue {
        guard case .object(var object) = value else { return value }
        object.merge(fields) { _, new in new }
        return .object(object)
    }

    /// Answers the message's acknowledgement request, when there is one.
    private static func acknowledge(_ message: RelayMessage, _ body: JSONValue, context: PluginContext) {
        guard message.ackID != nil else { return }
        var buffer = ByteBuffer()
        body.write(into: &buffer)
        context.acknowledge(message, arguments: [buffer])
    }
}
