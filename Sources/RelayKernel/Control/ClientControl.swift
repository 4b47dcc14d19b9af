import Foundation

/// What one node answers to a ``ControlRequest`` about its own clients: its live clients of a
/// user, its counts, or closing the selected clients and ending their identities.
enum ClientControl {
    /// This node's answer to `request`.
    static func answer(_ request: ControlRequest, node: String?, state: RelayState) async -> JSONValue {
        switch request {
        case .clients(let user):
            return ["clients": .array(Self.clients(of: user, node: node, state: state))]
        case .info:
            return ["node": node.map(JSONValue.string) ?? .null, "connections": .int(state.liveConnections), "sessions": .int(state.runtime.hub.sessionTotal)]
        case .disconnect(let selector, let close):
            return ["disconnected": .int(await Self.disconnect(selector, close: close, state: state))]
        }
    }

    /// This node's clients of `user`: connected ones with when their connection opened, and
    /// those waiting to resume (`connected: false`).
    private static func clients(of user: String, node: String?, state: RelayState) -> [JSONValue] {
        state.runtime.hub.allSessions.filter { $0.phase != .gone && $0.info.userId == user }.map { session in
            let info = session.info
            let handle = session.connection as? ConnectionHandle
            var entry: [String: JSONValue] = [
                "clientId": .string(info.id.rawValue),
                "node": node.map(JSONValue.string) ?? .null,
                "endpoint": .string(info.endpoint),
                "codec": .string(info.codec),
                "connected": .bool(handle != nil),
                "connectedAt": handle.map { .int(Int($0.openedAt)) } ?? .null,
            ]
            if let namespace = info.namespace { entry["namespace"] = .string(namespace) }
            return .object(entry)
        }
    }

    /// Closes the connections of the selected clients of this node with `close` and ends their
    /// identities at once (resume tokens void, plugins hear they left); returns how many.
    private static func disconnect(_ selector: ClientSelector, close: CloseReason, state: RelayState) async -> Int {
        let selected = state.runtime.hub.allSessions.filter { $0.phase != .gone && selector.matches($0.info) }
        for session in selected {
            // Closed first, so that nothing the client sends meanwhile reaches a plugin.
            session.connection?.requestClose(close)
            await ClientLifecycle.leaveForGood(session, state: state)
        }
        if !selected.isEmpty {
            state.logger.notice(
                "clients disconnected by the server API",
                metadata: ["relay.control.selector": "\(selector)", "relay.control.count": "\(selected.count)", "relay.close.code": "\(close.code.rawValue)"]
            )
        }
        return selected.count
    }
}
