public import RelayKernel

/// Controller/viewer rooms for portal views (seed 003).
///
/// Endpoint `/ws/portal-view/:portalViewId`: a joining client's role comes from a token claim or
/// the product backend's authorization hook (OWNER/EDITOR → `controller`, VIEWER → `viewer`, no
/// access → close 1008) and is added to its `connected` message. Controllers send
/// `portal-view-update`, `item-update` and `sync-response` to every other connection of the view
/// (a `sync-response` with `to` reaches that one client); viewers send `request-sync` to the
/// controllers, stamped with their `clientId`. Anything sent by the wrong role is `forbidden`.
/// Joins and leaves are announced as `presence`; a viewer that joins gets the view's latest
/// `portal-view-update`. The product backend broadcasts with
/// `POST /api/portal-views/:id/broadcast`. See `docs/plugins/portal-view.md`.
///
/// Each client's role lives in the instance's store (keyed by client id) and its membership in
/// rooms, so both survive a resume and a route reload.
public struct PortalViewPlugin: RelayPlugin {
    public static let name = "portal-view"
    public static let messageTypes: [String]? = ["portal-view-update", "item-update", "sync-response", "request-sync"]

    let configuration: PortalViewConfiguration
    let resolver: PortalViewRoleResolver

    public init(configuration: PortalViewConfiguration, setup: inout PluginSetup) throws {
        self.configuration = configuration
        self.resolver = PortalViewRoleResolver(configuration: configuration)

        // The product backend, after updating its database: everyone in the view gets the update.
        setup.http("POST", "\(configuration.restPrefix)/:id/broadcast") { request, context in
            try context.requireAPIKey(request)
            let room = try PortalViewRoom(request: request, configuration: configuration)
            let body = try request.jsonObject()
            if let unknown = body.keys.sorted().first(where: { $0 != "payload" }) {
                throw RelayError(.invalidMessage, "unknown field '\(unknown)' (the body is {\"payload\":{…}})")
            }
            guard let payload = body["payload"], payload.objectValue != nil else {
                throw RelayError.invalidField("payload", expected: "an object")
            }
            let update: [String: JSONValue] = ["type": "portal-view-update", "payload": payload]
            try await Self.keepState(update, of: room, configuration: configuration, context: context)
            let delivered = context.publish(.json(type: "portal-view-update", ["payload": payload]), to: room.everyone)
            return .json(["delivered": .int(delivered)])
        }
    }

    public func clientJoined(_ client: ClientInfo, context: PluginContext) async throws -> [String: JSONValue] {
        let room = try PortalViewRoom(client: client, configuration: self.configuration)
        let role = try await self.resolver.role(of: client)
        try await context.store.set(Self.clientKey(client.id), ["role": .string(role.rawValue), "view": .string(room.name)], ttl: nil)
        context.join(room.everyone, client: client.id)
        context.join(room.members(role), client: client.id)
        if role == .viewer, self.configuration.keepLatestState {
            await self.sendLatestState(of: room, to: client.id, context: context)
        }
        if self.configuration.presence { Self.announcePresence(in: room, context: context) }
        return ["role": .string(role.rawValue)]
    }

    public func handle(_ message: RelayMessage, context: PluginContext) async throws {
        guard let required = PortalViewRole.required(for: message.type) else {
            throw RelayError(.unknownType, "portal-view does not handle '\(message.type)'")
        }
        let sender = message.sender.id
        let room = try PortalViewRoom(client: message.sender, configuration: self.configuration)
        let role = try await self.role(of: sender, context: context)
        guard role == required else {
            throw RelayError(.forbidden, "'\(message.type)' is for \(required.rawValue)s; this connection is a \(role.rawValue)")
        }
        switch message.type {
        case "portal-view-update":
            try await Self.keepState(message.body, of: room, configuration: self.configuration, context: context)
            context.publish(OutboundMessage(forwarding: message), to: room.everyone, except: sender)
        case "sync-response":
            if let to = message["to"] {
                guard let target = to.stringValue.map(ClientID.init) else { throw RelayError.invalidField("to", expected: "a client id") }
                guard context.isMember(target, of: room.everyone) else {
                    throw RelayError(.notFound, "no client '\(target)' in this portal view")
                }
                context.send(OutboundMessage(forwarding: message), to: target)
            } else {
                context.publish(OutboundMessage(forwarding: message), to: room.everyone, except: sender)
            }
        case "request-sync":
            // Stamped by the relay (never trusted from the client) so a controller can answer this viewer.
            var fields = message.body
            fields["clientId"] = .string(sender.rawValue)
            context.publish(.json(type: message.type, fields: fields), to: room.members(.controller))
        default:  // item-update
            context.publish(OutboundMessage(forwarding: message), to: room.everyone, except: sender)
        }
    }

    public func clientLeft(_ client: ClientInfo, context: PluginContext) async {
        _ = try? await context.store.delete(Self.clientKey(client.id))
        guard let room = try? PortalViewRoom(client: client, configuration: self.configuration) else { return }
        // The kernel has already taken the client out of its rooms; announce only views it was in.
        guard context.rooms(of: client.id).contains(room.everyone) else { return }
        if self.configuration.presence { Self.announcePresence(in: room, context: context) }
    }

    // MARK: Helpers

    /// Store key of a client's role.
    static func clientKey(_ id: ClientID) -> String { "client:\(id.rawValue)" }

    /// The role a client was given when it joined; `forbidden` when it has none.
    private func role(of id: ClientID, context: PluginContext) async throws -> PortalViewRole {
        guard let stored = try await context.store.get(Self.clientKey(id)),
            let role = stored.value["role"]?.stringValue.flatMap(PortalViewRole.init(rawValue:))
        else {
            throw RelayError(.forbidden, "this connection has no portal-view role")
        }
        return role
    }

    /// `{"type":"presence","controllers":n,"viewers":m}` to every connection of the view.
    private static func announcePresence(in room: PortalViewRoom, context: PluginContext) {
        let controllers = context.members(of: room.members(.controller)).count
        let viewers = context.members(of: room.members(.viewer)).count
        context.publish(.json(type: "presence", ["controllers": .int(controllers), "viewers": .int(viewers)]), to: room.everyone)
    }

    /// Keeps a view's latest `portal-view-update` for viewers that join later.
    private static func keepState(
        _ update: [String: JSONValue],
        of room: PortalViewRoom,
        configuration: PortalViewConfiguration,
        context: PluginContext
    ) async throws {
        guard configuration.keepLatestState else { return }
        try await context.store.set(room.stateKey, .object(update), ttl: .milliseconds(Int64((configuration.stateTTL * 1000).rounded())))
    }

    /// Sends a joining viewer the view's latest update.
    ///
    /// The viewer is already in the view's room, so an update stored after the last read here is
    /// also published to it after what is sent here; re-reading until the version holds still
    /// means the last state it receives is the newest. Best effort: a store that cannot be read
    /// does not refuse the viewer (it can still `request-sync`).
    private func sendLatestState(of room: PortalViewRoom, to id: ClientID, context: PluginContext) async {
        var sentVersion: UInt64?
        for _ in 0..<3 {
            guard let stored = try? await context.store.get(room.stateKey), stored.version != sentVersion else { return }
            guard let update = stored.value.objectValue else { return }
            context.send(.json(type: "portal-view-update", fields: update), to: id)
            sentVersion = stored.version
        }
    }
}
