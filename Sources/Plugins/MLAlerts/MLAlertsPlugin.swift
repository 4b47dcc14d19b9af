import Logging
public import RelayKernel

/// Video streams from phones to dashboards and an ML service, alerts back, and the stream
/// registry (seed 004): `register`, `subscribe`, `unsubscribe`, `video-frame`, `alert`, plus
/// the REST API of ``MLAlertsHTTPAPI``. See `docs/plugins/ml-alerts.md`.
///
/// Clients are addressed through rooms per stream (producers, video consumers per form, alert
/// consumers, status subscribers), so memberships survive a resume and end when a client
/// leaves for good. Streams and alerts live in the durable store (`streams`, `alerts`).
public struct MLAlertsPlugin: RelayPlugin {
    public static let name = "ml-alerts"
    public static let messageTypes: [String]? = ["register", "subscribe", "unsubscribe", "video-frame", "alert"]

    let configuration: MLAlertsConfiguration
    let live: MLLiveStreams
    let locks = KeyedLock()

    public init(configuration: MLAlertsConfiguration, setup: inout PluginSetup) throws {
        self.configuration = configuration
        self.live = MLLiveStreams(refreshInterval: configuration.lastSeenInterval > 0 ? .seconds(configuration.lastSeenInterval) : nil)
        MLAlertsHTTPAPI(configuration: configuration).install(on: &setup)
    }

    public func handle(_ message: RelayMessage, context: PluginContext) async throws {
        switch message.type {
        case "video-frame":
            try self.videoFrame(message, context: context)
        case "alert":
            try await self.alert(message, context: context)
        case "register":
            try await self.register(message, context: context)
        case "subscribe":
            try await self.subscribe(message, context: context)
        case "unsubscribe":
            try self.unsubscribe(message, context: context)
        default:
            throw RelayError(.unknownType, "ml-alerts does not handle '\(message.type)'")
        }
    }

    /// A producer left for good (at once on a clean close, after the resume grace on a drop):
    /// when it was the stream's last producer, the stream goes `offline`.
    public func clientLeft(_ client: ClientInfo, context: PluginContext) async {
        for room in context.rooms(of: client.id) {
            guard let streamId = MLRooms.streamOfProducerRoom(room) else { continue }
            await self.locks.withLock(streamId) {
                guard context.memberCount(of: room) == 0 else { return }
                self.live.forget(streamId)
                await self.setStatus(streamId, .offline, announce: true, context: context)
            }
        }
    }

    // MARK: Video

    private func videoFrame(_ message: RelayMessage, context: PluginContext) throws(RelayError) {
        let streamId = try message.string("streamId")
        guard context.isMember(message.sender.id, of: MLRooms.producer(streamId)) else {
            throw RelayError(.forbidden, "register as the producer of stream '\(streamId)' before sending frames")
        }
        if message.kind == .text, message["data"]?.stringValue == nil {
            throw RelayError.invalidField("data", expected: "a base64 string")
        }
        try MLVideoFanout.forward(message, streamId: streamId, context: context)
        switch self.live.noteFrame(streamId, now: context.clock.instant) {
        case .none:
            break
        case .startStreaming:
            self.scheduleStatus(streamId, .streaming, announce: true, context: context)
        case .refreshLastSeen:
            self.scheduleStatus(streamId, .streaming, announce: false, context: context)
        }
    }

    /// Records a status change off the frame path (the producer never waits for the store), and
    /// pushes it with the `close` policy so no subscriber loses it to a full video queue.
    private func scheduleStatus(_ streamId: String, _ status: MLStreamStatus, announce: Bool, context: PluginContext) {
        context.schedule(after: .zero) { timerContext in
            await self.locks.withLock(streamId) {
                // The producer may have left since the frame; its departure decided the status.
                guard !timerContext.members(of: MLRooms.producer(streamId)).isEmpty else { return }
                await self.setStatus(streamId, status, announce: announce, context: timerContext)
            }
        }
    }

    /// Stores `status` with `lastSeen` now and, when `announce`, pushes `stream-status` to the
    /// stream's subscribers. Call holding the stream's lock.
    private func setStatus(_ streamId: String, _ status: MLStreamStatus, announce: Bool, context: PluginContext) async {
        do {
            guard let stream = try await MLStreamRegistry(context: context).setStatus(streamId, status) else { return }
            if announce { context.publish(stream.statusMessage, to: MLRooms.status(streamId)) }
        } catch {
            context.logger.info(
                "stream status not stored",
                metadata: ["relay.stream.id": "\(streamId)", "relay.stream.status": "\(status.rawValue)", "error.type": "\(error)"]
            )
        }
    }

    // MARK: Alerts

    private func alert(_ message: RelayMessage, context: PluginContext) async throws {
        let caller = self.caller(message.sender)
        guard caller.isService else { throw RelayError(.forbidden, "only the ML service may send alerts") }
        let streamId = try message.string("streamId")
        let severityText = try message.string("severity")
        guard let severity = MLSeverity(rawValue: severityText) else {
            throw RelayError.invalidField("severity", expected: "one of \(MLSeverity.list)")
        }
        let text = try message.string("message")
        guard !text.isEmpty, text.count <= self.configuration.maxAlertMessageLength else {
            throw RelayError.invalidField("message", expected: "a string of 1 to \(self.configuration.maxAlertMessageLength) characters")
        }
        let metadata = try MLFields.metadata(message["metadata"])
        let timestamp: JSONValue
        switch message["timestamp"] {
        case nil, .null?: timestamp = .int(Int(context.clock.millisecondsSince1970))
        case .int?, .double?: timestamp = message["timestamp"]!
        default: throw RelayError.invalidField("timestamp", expected: "a number (milliseconds since 1970)")
        }
        guard let stream = try await MLStreamRegistry(context: context).get(streamId) else {
            throw RelayError(.notFound, "no stream '\(streamId)'")
        }
        // Persisted before anyone hears of it: history never misses an alert a client saw.
        let alert = try await MLAlertLog(records: context.records).append(
            to: stream,
            severity: severity,
            message: text,
            metadata: metadata,
            timestamp: timestamp
        )
        context.publish(alert.outbound, to: MLRooms.alerts(streamId))
    }

    // MARK: Register, subscribe

    private func register(_ message: RelayMessage, context: PluginContext) async throws {
        let caller = self.caller(message.sender)
        let interest = try MLStreamInterest(message, produces: [.videoFrame], consumes: [.alert])
        if interest.produces.contains(.alert), !caller.isService {
            throw RelayError(.forbidden, "only the ML service may produce alerts")
        }
        let registry = MLStreamRegistry(context: context)
        let stream: MLStreamRecord
        if let streamId = try MLFields.name(message["streamId"], field: "streamId", maxLength: self.configuration.maxNameLength) {
            guard let found = try await registry.get(streamId) else { throw RelayError(.notFound, "no stream '\(streamId)'") }
            guard caller.owns(found) else { throw RelayError(.forbidden, "stream '\(streamId)' belongs to another user") }
            stream = found
        } else {
            // No stream id: register a new stream over the socket (what the REST call does).
            let userId = try caller.requireUser()
            let maxLength = self.configuration.maxNameLength
            guard let deviceName = try MLFields.name(message["deviceName"], field: "deviceName", maxLength: maxLength) else {
                throw RelayError.invalidField("streamId", expected: "a string (or give deviceName to register a new stream)")
            }
            let deviceType =
                try MLFields.name(message["deviceType"], field: "deviceType", maxLength: maxLength)
                ?? MLFields.name(message["clientType"], field: "clientType", maxLength: maxLength) ?? "mobile"
            stream = try await registry.create(
                userId: userId,
                deviceName: deviceName,
                deviceType: deviceType,
                metadata: try MLFields.metadata(message["metadata"])
            )
        }
        let sender = message.sender.id
        self.replaceConsumerRooms(of: sender, stream: stream.id, interest: interest, status: false, context: context)
        context.join(MLRooms.producer(stream.id), client: sender)
        try await self.locks.withLock(stream.id) {
            self.live.markOnline(stream.id, now: context.clock.instant)
            let updated = try await registry.setStatus(stream.id, .online)
            context.reply(
                .json(
                    type: "registered",
                    [
                        "streamId": .string(stream.id),
                        "produces": MLStreamInterest.json(interest.produces),
                        "consumes": MLStreamInterest.json(interest.consumes),
                    ]
                )
            )
            if let updated { context.publish(updated.statusMessage, to: MLRooms.status(stream.id)) }
        }
    }

    private func subscribe(_ message: RelayMessage, context: PluginContext) async throws {
        let caller = self.caller(message.sender)
        let streamId = try self.streamId(of: message)
        let interest = try MLStreamInterest(message, produces: [], consumes: [.videoFrame, .alert])
        if interest.produces.contains(.videoFrame) {
            throw RelayError.invalidField("produces", expected: "[\"alert\"] or absent (video producers use register)")
        }
        if interest.produces.contains(.alert), !caller.isService {
            throw RelayError(.forbidden, "only the ML service may produce alerts")
        }
        let registry = MLStreamRegistry(context: context)
        guard let stream = try await registry.get(streamId) else { throw RelayError(.notFound, "no stream '\(streamId)'") }
        guard caller.mayRead(stream) else { throw RelayError(.forbidden, "stream '\(streamId)' belongs to another user") }
        self.replaceConsumerRooms(of: message.sender.id, stream: streamId, interest: interest, status: true, context: context)
        // Under the stream's lock no status change is in flight: the status sent here is not
        // older than the next one the subscriber hears.
        try await self.locks.withLock(streamId) {
            let current = try await registry.get(streamId) ?? stream
            context.reply(
                .json(
                    type: "subscribed",
                    [
                        "streamId": .string(streamId),
                        "consumes": MLStreamInterest.json(interest.consumes),
                        "produces": MLStreamInterest.json(interest.produces),
                        "format": .string(interest.form.rawValue),
                    ]
                )
            )
            context.reply(current.statusMessage)
        }
    }

    private func unsubscribe(_ message: RelayMessage, context: PluginContext) throws(RelayError) {
        let streamId = try self.streamId(of: message)
        for room in MLRooms.consumerRooms(streamId) { context.leave(room, client: message.sender.id) }
        context.reply(.json(type: "unsubscribed", ["streamId": .string(streamId)]))
    }

    // MARK: Helpers

    private func caller(_ client: ClientInfo) -> MLCaller {
        MLCaller(userId: client.userId, claims: client.claims, configuration: self.configuration)
    }

    private func streamId(of message: RelayMessage) throws(RelayError) -> String {
        guard let streamId = try MLFields.name(message["streamId"], field: "streamId", maxLength: self.configuration.maxNameLength) else {
            throw RelayError.invalidField("streamId", expected: "a string")
        }
        return streamId
    }

    /// Puts `client` in exactly the consumer rooms `interest` names for `stream`, leaving the
    /// ones an earlier call chose; `status`: also in the status room (subscribe), else the
    /// status room is left as it is (register).
    private func replaceConsumerRooms(of client: ClientID, stream: String, interest: MLStreamInterest, status: Bool, context: PluginContext) {
        var wanted: Set<String> = []
        if interest.consumes.contains(.videoFrame) { wanted.insert(MLRooms.video(stream, interest.form)) }
        if interest.consumes.contains(.alert) { wanted.insert(MLRooms.alerts(stream)) }
        if status { wanted.insert(MLRooms.status(stream)) }
        for room in MLRooms.consumerRooms(stream) where !wanted.contains(room) && (status || room != MLRooms.status(stream)) {
            context.leave(room, client: client)
        }
        for room in wanted { context.join(room, client: client) }
    }
}
