import NIOCore

/// The live Engine.IO long-polling sessions of this node, by `sid`: the polling requests of a
/// session find it here, whichever connection and thread they arrive on.
final class PollingRegistry: Sendable {
    private let sessions = ShardedMap<String, NIOLoopBound<PollingTransport>>()

    /// Adds `transport` (on its loop).
    func add(_ transport: PollingTransport) {
        self.sessions.update(transport.sid) { $0 = NIOLoopBound(transport, eventLoop: transport.connection.loop.eventLoop) }
    }

    /// Removes `transport` (on its loop).
    func remove(_ transport: PollingTransport) {
        self.sessions.removeValue(forKey: transport.sid)
    }

    /// The session `sid` names, to be used on its loop only.
    subscript(sid: String) -> NIOLoopBound<PollingTransport>? {
        self.sessions[sid]
    }

    /// Sessions open now.
    var count: Int { self.sessions.count }
}
