/// `socketio:` — Engine.IO / Socket.IO settings of a `socketio` endpoint.
public struct SocketIOSettings: Sendable, Equatable {
    /// An Engine.IO transport.
    public enum Transport: String, Sendable, Equatable, Decodable, CaseIterable {
        /// HTTP long-polling (a client's first transport by default; it then upgrades).
        case polling
        /// WebSocket.
        case websocket
    }

    /// Namespaces clients may connect to; others get `Invalid namespace`.
    public var namespaces = ["/"]
    /// Milliseconds between server pings.
    public var pingInterval = 25_000
    /// Milliseconds a client has to answer a ping.
    public var pingTimeout = 20_000
    /// Milliseconds a client has to connect to a namespace after the Engine.IO handshake.
    public var connectTimeout = 45_000
    /// The transports clients may use (both by default, as Socket.IO's own server).
    public var transports: [Transport] = [.polling, .websocket]
    /// Socket.IO's connection-state recovery: the CONNECT answer carries a `pid`, every event
    /// its offset as the last argument, and a client that reconnects with both within
    /// `server.resumeGrace` gets its session back (same `sid`, rooms, missed events). Off by
    /// default, as in Socket.IO (the extra argument changes what event handlers receive).
    public var connectionStateRecovery = false

    /// The defaults (those of the reference Socket.IO server).
    public init() {}
}

extension SocketIOSettings: Decodable {
    enum Keys: String, CodingKey, CaseIterable { case namespaces, pingInterval, pingTimeout, connectTimeout, transports, connectionStateRecovery }

    public init(from decoder: any Decoder) throws {
        let fields = ConfigFields(decoder, keys: Keys.self)
        self.namespaces = fields.value(.namespaces, default: self.namespaces)
        self.pingInterval = fields.value(.pingInterval, default: self.pingInterval)
        self.pingTimeout = fields.value(.pingTimeout, default: self.pingTimeout)
        self.connectTimeout = fields.value(.connectTimeout, default: self.connectTimeout)
        self.transports = fields.value(.transports, default: self.transports)
        self.connectionStateRecovery = fields.value(.connectionStateRecovery, default: self.connectionStateRecovery)
        if self.transports.isEmpty {
            fields.invalid(.transports, "list at least one of polling, websocket")
        }
        if self.namespaces.isEmpty || !self.namespaces.allSatisfy({ $0.hasPrefix("/") }) {
            fields.invalid(.namespaces, "namespaces start with '/'")
        }
        for (key, value) in [(Keys.pingInterval, self.pingInterval), (.pingTimeout, self.pingTimeout), (.connectTimeout, self.connectTimeout)]
        where value < 1 {
            fields.invalid(key, "must be at least 1 (milliseconds)")
        }
    }
}
