import Metrics

/// Hands a client's message to the plugin its route names: the checks a route makes (it
/// exists, takes binary, the size, the claims, its own rate), the plugin's context, and the
/// call itself with its errors classified.
enum MessageDispatcher {
    /// Whether a message goes to a plugin.
    enum Admission {
        case admitted(CompiledRoute)
        case refused(RelayError)
        case rateLimited
    }

    /// Runs the route's checks for `message` (from its `sender`) on `endpoint`.
    static func admit(_ message: RelayMessage, endpoint: CompiledEndpoint, limiter: inout MessageLimiter) -> Admission {
        let type = message.type
        guard let route = endpoint.route(for: type), message.kind == .text || route.settings.binary else {
            return .refused(RelayError(.unknownType, "no route for type '\(type)'"))
        }
        if let limit = route.settings.maxMessageBytes, message.raw.readableBytes > limit {
            return .refused(RelayError(.tooLarge, "'\(type)' messages are limited to \(limit) bytes"))
        }
        if !route.settings.requireClaims.isEmpty {
            let client = message.sender
            if client.userId == nil, client.claims.isEmpty {
                return .refused(RelayError(.unauthenticated, "'\(type)' requires an authenticated client"))
            }
            guard route.admits(client.claims) else {
                return .refused(RelayError(.forbidden, "'\(type)' requires claims this client does not have"))
            }
        }
        guard limiter.admit(route) else { return .rateLimited }
        route.inboundCounter.increment()
        return .admitted(route)
    }

    /// The context the plugin handles `message` with (its client: the sender as the message
    /// was read, not re-read from the session, whose claims a token refresh may replace).
    static func context(for message: RelayMessage, route: CompiledRoute, state: RelayState) -> PluginContext {
        var context = state.runtime.context(instance: route.instance.name, client: message.sender, route: route)
        context.messageType = message.type
        return context
    }

    /// Calls the plugin (holding the sender's outbound frames in a cluster until what it changed
    /// is visible on every node); what it threw, classified.
    static func run(_ message: RelayMessage, route: CompiledRoute, session: ClientSession, context: PluginContext, state: RelayState) async -> WireError? {
        do {
            try await state.runtime.hub.makingVisible(session) {
                try await route.instance.plugin.handle(message, context: context)
            }
            return nil
        } catch {
            return WireError(error, plugin: route.instance.name, logger: state.logger)
        }
    }
}
