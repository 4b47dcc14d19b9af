import NIOCore
import NIOWebSocket

/// A wire protocol an endpoint speaks (`codec:` in the route file): how a connection is admitted
/// once upgraded, how its messages are read, and how outbound messages become frames.
///
/// A codec drives its connection through the kernel services ``ConnectionHandler`` offers
/// (authentication, sessions, dispatch to plugins, errors), always on the connection's event
/// loop. Adding a codec is adding one type and listing it in ``CodecRegistry``.
protocol Codec: AnyObject, SendableMetatype {
    /// The name route files use in `codec:`.
    static var name: String { get }

    /// The codec of a new connection (a shared instance when it keeps no state per connection).
    static func make() -> Self

    /// How often the loop's sweep must look at this codec's connections on `endpoint`, if more
    /// often than the default.
    static func sweepInterval(for endpoint: EndpointSettings) -> Duration?

    /// The answer to a plain HTTP request on the endpoint's path, if the codec has one.
    static func httpRefusal() -> RelayError?

    /// The connection passed admission: authenticate it and open its sessions, or greet it and
    /// wait (first-message auth, Socket.IO namespaces).
    func start(_ connection: ConnectionHandler, request: UpgradeRequest)

    /// One message from the client.
    func receive(_ message: WebSocketMessage, on connection: ConnectionHandler)

    /// Calls `body` with each frame that carries `message` to the session in `namespace`.
    func forEachFrame(of message: OutboundMessage, namespace: String, _ body: (WebSocketFrame) -> Void)

    /// Checks the codec's own deadlines (heartbeats) at a sweep.
    func sweep(_ connection: ConnectionHandler, at time: SweepTime)
}

extension Codec {
    static func sweepInterval(for endpoint: EndpointSettings) -> Duration? { nil }
    static func httpRefusal() -> RelayError? { nil }
    func sweep(_ connection: ConnectionHandler, at time: SweepTime) {}
}
