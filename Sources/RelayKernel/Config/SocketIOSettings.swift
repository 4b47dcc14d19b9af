/// `socketio:` — Engine.IO / Socket.IO settings of a `socketio` endpoint.
public struct SocketIOSettings: Sendable, Equatable {
    /// Namespaces clients may connect to; others get `Invalid namespace`.
    public var namespaces = ["/"]
    /// Milliseconds between server pings.
    public var pingInterval = 25_000
    /// Milliseconds a client has to answer a ping.
    public var pingTimeout = 20_000
    /// Milliseconds a client has to connect to a namespace after the Engine.IO handshake.
    public var connectTimeout = 45_000

    /// The defaults (those of the reference Socket.IO server).
    public init() {}
}

extension SocketIOSettings: Decodable {
    enum Keys: String, CodingKey, CaseIterable { case namespaces, pingInterval, pingTimeout, connectTimeout }

    public init(from decoder: any Decoder) throws {
        let fields = ConfigFields(decoder, keys: Keys.self)
        self.namespaces = fields.value(.namespaces, default: self.namespaces)
        self.pingInterval = fields.value(.pingInterval, default: self.pingInterval)
        self.pingTimeout = fields.value(.pingTimeout, default: self.pingTimeout)
        self.connectTimeout = fields.value(.connectTimeout, default: self.connectTimeout)
        if self.namespaces.isEmpty || !self.namespaces.allSatisfy({ $0.hasPrefix("/") }) {
            fields.invalid(.namespaces, "namespaces start with '/'")
        }
        for (key, value) in [(Keys.pingInterval, self.pingInterval), (.pingTimeout, self.pingTimeout), (.connectTimeout, self.connectTimeout)]
        where value < 1 {
            fields.invalid(key, "must be at least 1 (milliseconds)")
        }
        try fields.finish()
    }
}
