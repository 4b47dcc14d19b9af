public import Logging
public import NIOCore

/// What a plugin acts through: delivery by client id and room, the store, timers, auth.
///
/// A value, created per event. Every delivery enqueues and returns at once; nothing waits on
/// a peer's socket.
public struct PluginContext: Sendable {
    /// The plugin instance name.
    public let instance: String
    /// The client the event is about (`nil` for HTTP requests and timers).
    public let client: ClientInfo?
    /// A logger stamped with instance, client and message type.
    public var logger: Logger {
        var logger = self.baseLogger
        logger[metadataKey: "relay.plugin"] = .string(self.instance)
        if let client { logger[metadataKey: "relay.client.id"] = .string(client.id.rawValue) }
        if let messageType { logger[metadataKey: "relay.message.type"] = .string(messageType) }
        return logger
    }
    /// The instance's keys in the shared store.
    public var store: any KeyValueStore { ScopedKeyValueStore(base: self.runtime.store, prefix: self.instance + ":") }
    /// The instance's durable collections (history, registries).
    public var records: any DurableStore { ScopedDurableStore(base: self.runtime.records, prefix: self.instance + ":") }
    /// The relay's clock: read wall-clock time and instants here, so tests can move time (the
    /// same clock runs ``schedule(after:_:)`` timers).
    public var clock: RelayClock { self.runtime.clock }
    /// The logger the stamped ``logger`` is made from (only when a plugin logs).
    let baseLogger: Logger
    let runtime: PluginRuntime
    let route: CompiledRoute?
    /// The type of the message being handled, when the event is a message.
    var messageType: String?
    /// The rooms a departed client was in (it is no longer in any when plugins hear it left).
    var departedRooms: Set<RoomKey> = []
    /// In a cluster, deliveries go through the database even to clients of this node, so they
    /// survive this node (an HTTP request, answered once they are written).
    var durable = false

    /// Sends `message` to one client; returns whether it was queued. `policy` overrides the
    /// route's overflow policy (e.g. `.close` for a control message sent while handling media).
    @discardableResult
    public func send(_ message: OutboundMessage, to id: ClientID, policy: RouteSettings.OverflowPolicy? = nil) -> Bool {
        let report = self.runtime.hub.send(
            message, to: id, policy: policy ?? self.overflow, counter: self.route?.outboundCounter, origin: self.origin(of: message), durable: self.durable
        )
        self.reportDrops(report, of: message)
        return report.delivered > 0
    }

    /// Sends `message` to the client this event is about.
    public func reply(_ message: OutboundMessage) {
        guard let client else { return }
        self.send(message, to: client.id)
    }

    /// Answers a message's acknowledgement request (Socket.IO `emit(…, callback)`) with raw JSON
    /// arguments and attachments; returns `false` (and sends nothing) when none was asked for.
    @discardableResult
    public func acknowledge(_ message: RelayMessage, arguments: [ByteBuffer], attachments: [ByteBuffer] = []) -> Bool {
        guard let id = message.ackID else { return false }
        return self.send(OutboundMessage(type: "ack", content: .ack(id: id, arguments: arguments, attachments: attachments)), to: message.sender.id)
    }

    /// Answers `message` with `response`: as its acknowledgement when the sender asked for one
    /// (the response object, or the event's arguments, are the ack's arguments), else as a
    /// message to the sender.
    public func respond(to message: RelayMessage, with response: OutboundMessage) {
        switch (message.ackID, response.content) {
        case (.some, .object(let object)):
            self.acknowledge(message, arguments: [object])
        case (.some, .event(let arguments, let attachments)):
            self.acknowledge(message, arguments: arguments, attachments: attachments)
        default:
            self.send(response, to: message.sender.id)
        }
    }

    /// Sends `message` to every member of `room` (except `excluded`); encoded once, shared by all.
    /// Returns how many recipients it was queued for.
    @discardableResult
    public func publish(
        _ message: OutboundMessage,
        to room: String,
        except excluded: ClientID? = nil,
        policy: RouteSettings.OverflowPolicy? = nil
    ) -> Int {
        let report = self.runtime.hub.publish(
            message,
            to: self.roomKey(room),
            except: excluded,
            policy: policy ?? self.overflow,
            counter: self.route?.outboundCounter,
            origin: self.origin(of: message),
            durable: self.durable
        )
        self.reportDrops(report, of: message)
        return report.delivered
    }

    /// Adds a client to one of this instance's rooms.
    @discardableResult
    public func join(_ room: String, client id: ClientID) -> Bool {
        self.runtime.hub.join(self.roomKey(room), client: id)
    }

    /// Removes a client from one of this instance's rooms.
    public func leave(_ room: String, client id: ClientID) {
        self.runtime.hub.leave(self.roomKey(room), client: id)
    }

    /// The members of one of this instance's rooms.
    public func members(of room: String) -> [ClientInfo] {
        self.runtime.hub.members(of: self.roomKey(room))
    }

    /// How many clients are in one of this instance's rooms (no copy of the member list).
    public func memberCount(of room: String) -> Int {
        self.runtime.hub.memberCount(of: self.roomKey(room))
    }

    /// Whether a client is in one of this instance's rooms.
    public func isMember(_ id: ClientID, of room: String) -> Bool {
        self.runtime.hub.isMember(id, of: self.roomKey(room))
    }

    /// This instance's rooms a client is in.
    public func rooms(of id: ClientID) -> [String] {
        let rooms = id == self.client?.id && !self.departedRooms.isEmpty ? self.departedRooms : (self.runtime.hub.session(id)?.rooms ?? [])
        return rooms.filter { $0.instance == self.instance }.map(\.name).sorted()
    }

    /// A client that is connected or may still resume, on any node, as this node last heard.
    public func clientInfo(_ id: ClientID) -> ClientInfo? {
        self.runtime.hub.clientInfo(id)
    }

    /// Like ``clientInfo(_:)``, but in a cluster it asks the database when this node has not
    /// heard of the client yet (one that connected on another node a moment ago).
    public func findClient(_ id: ClientID) async -> ClientInfo? {
        if let known = self.runtime.hub.clientInfo(id) { return known }
        return try? await self.runtime.hub.cluster?.lookup(id)
    }

    /// Runs `action` once after `delay` with a context of this instance.
    @discardableResult
    public func schedule(after delay: Duration, _ action: @escaping @Sendable (PluginContext) async -> Void) -> RelayTimers.Handle {
        let context = PluginContext(instance: self.instance, client: nil, baseLogger: self.baseLogger, runtime: self.runtime, route: nil)
        return self.runtime.timers.schedule(after: delay) { await action(context) }
    }

    /// Cancels a timer scheduled with ``schedule(after:_:)``.
    @discardableResult
    public func cancelTimer(_ handle: RelayTimers.Handle) -> Bool {
        self.runtime.timers.cancel(handle)
    }

    /// Verifies a JWT (for REST handlers); throws `unauthenticated`.
    public func verifyToken(_ token: String?) async throws(RelayError) -> VerifiedIdentity {
        guard let token else { throw RelayError(.unauthenticated, "a bearer token is required") }
        return try await self.runtime.verify(token)
    }

    /// Signs `claims` as an HS256 JWT with the relay's secret (`RELAY_JWT_SECRET`), so the relay
    /// accepts it; for plugins that issue tokens (development tokens, a login exchange). Throws
    /// `unavailable` when the relay has no HS256 secret.
    public func signToken(_ claims: [String: JSONValue]) async throws(RelayError) -> String {
        do {
            guard let verifier = self.runtime.verifier() else { throw TokenVerifier.Failure(reason: "no token keys are configured") }
            return try await verifier.sign(claims)
        } catch {
            throw RelayError(.unavailable, "cannot sign tokens: \(error)")
        }
    }

    /// Checks the server API key (`Authorization: Bearer` or `X-API-Key`); throws `unauthenticated`
    /// (a refusal: logged and counted in `relay_refusals_total{reason="api_key"}`).
    public func requireAPIKey(_ request: PluginHTTPRequest) throws(RelayError) {
        try APIKeyCheck.require(
            given: request.headers["x-api-key"] ?? request.bearerToken,
            expected: self.runtime.apiKey(),
            path: request.path,
            origin: request.headers["origin"],
            clientAddress: request.remoteAddress,
            metrics: self.runtime.hub.metrics,
            logger: self.runtime.logger
        )
    }

    /// The sender to tell if a cross-node message is lost after it was accepted.
    private func origin(of message: OutboundMessage) -> ClusterOrigin? {
        guard let client, self.runtime.hub.cluster != nil else { return nil }
        return ClusterOrigin(client: client.id, ref: self.messageType ?? message.type)
    }

    private var overflow: RouteSettings.OverflowPolicy { self.route?.settings.overflow ?? .close }

    private func roomKey(_ room: String) -> RoomKey { RoomKey(instance: self.instance, name: room) }

    private func reportDrops(_ report: RelayHub.Report, of message: OutboundMessage) {
        guard report.dropped > 0, let client else { return }
        if report.unavailable > 0 {
            // Another node could not be reached: the sender hears it whatever the route says.
            self.runtime.hub.metrics.error(.unavailable)
            self.runtime.hub.send(
                .error(RelayError(.unavailable, "\(report.unavailable) recipient(s) on other nodes could not be reached"), ref: self.messageType ?? message.type),
                to: client.id,
                policy: .dropOldest,
                counter: self.runtime.hub.metrics.kernelMessagesOut
            )
        }
        guard let route, route.settings.reportDrops else { return }
        self.runtime.hub.send(
            .json(type: "dropped", ["ref": .string(self.messageType ?? message.type), "count": .int(report.dropped)]),
            to: client.id,
            policy: .dropOldest,
            counter: self.runtime.hub.metrics.kernelMessagesOut
        )
    }
}
