/// The one place an endpoint's plugins hear about a client's life: it joined, it left for good
/// (at once on a clean leave, after the resume grace on a drop, or when the node that held it
/// died and it did not come back).
enum ClientLifecycle {
    /// Tells the plugins of `endpoint` that `client` joined; returns the fields they add to its
    /// `connected` message. If one refuses, those that had accepted hear it left, and the
    /// refusal is thrown.
    static func join(_ client: ClientInfo, endpoint: CompiledEndpoint, state: RelayState) async throws(WireError) -> [String: JSONValue] {
        var fields: [String: JSONValue] = [:]
        var joined: [PluginInstance] = []
        for instance in endpoint.instances {
            let context = state.runtime.context(instance: instance.name, client: client, route: nil)
            do {
                let added = try await instance.plugin.clientJoined(client, context: context)
                fields.merge(added) { _, new in new }
                joined.append(instance)
            } catch {
                for instance in joined {
                    await instance.plugin.clientLeft(client, context: state.runtime.context(instance: instance.name, client: client, route: nil))
                }
                throw WireError(error, plugin: instance.name, logger: state.logger)
            }
        }
        return fields
    }

    /// The connection of `session` ended: a clean leave ends the session now; a drop keeps it for
    /// the resume grace, then ends it if the client has not come back.
    static func connectionEnded(_ session: ClientSession, connection: any SessionConnection, clean: Bool, state: RelayState) async {
        if clean {
            // Unless the client already resumed it elsewhere.
            if session.connection === connection || session.connection == nil { await Self.leaveForGood(session, state: state) }
            return
        }
        Self.keepForResume(session, detachedFrom: connection, state: state)
    }

    /// Detaches `session` from `connection` and keeps it for the resume grace: it ends then
    /// unless a client (here or on another node) resumed it.
    static func keepForResume(_ session: ClientSession, detachedFrom connection: any SessionConnection, state: RelayState) {
        guard let generation = session.detach(from: connection) else { return }
        let grace = state.currentTable.configuration.server.resumeGrace
        state.runtime.timers.schedule(after: .seconds(grace)) {
            guard session.isStillDetached(generation: generation) else { return }
            await Self.leaveForGood(session, state: state)
        }
    }

    /// Removes a session everywhere and tells the plugins of its endpoint.
    static func leaveForGood(_ session: ClientSession, state: RelayState) async {
        guard let rooms = state.runtime.hub.remove(session) else { return }
        await Self.left(session.info, rooms: rooms, state: state)
    }

    /// Tells the plugins of a client's endpoint that it left for good (it was in `rooms`).
    static func left(_ client: ClientInfo, rooms: Set<RoomKey>, state: RelayState) async {
        guard let endpoint = state.currentTable.endpoint(named: client.endpoint) else { return }
        for instance in endpoint.instances {
            var context = state.runtime.context(instance: instance.name, client: client, route: nil)
            context.departedRooms = rooms
            await instance.plugin.clientLeft(client, context: context)
        }
    }
}
