import Hummingbird
import NIOCore
import NIOWebSocket

/// A wire protocol an endpoint speaks (`codec:` in the route file): how a connection is admitted
/// once upgraded, how its messages are read, and how outbound messages become frames.
///
/// A codec drives its connection through the kernel services ``ClientConnection`` offers
/// (authentication, sessions, dispatch to plugins, errors), always on the connection's event
/// loop, whatever transport carries it. Adding a codec is adding one type and listing it in
/// ``CodecRegistry``.
protocol Codec: AnyObject, SendableMetatype {
    /// The name route files use in `codec:`.
    static var name: String { get }

    /// The codec of a new connection (a shared instance when it keeps no state per connection).
    static func make() -> Self

    /// How often the loop's sweep must look at this codec's connections on `endpoint`, if more
    /// often than the default.
    static func sweepInterval(for endpoint: EndpointSettings) -> Duration?

    /// Serves a plain HTTP request on the endpoint's path (a transport over HTTP, such as
    /// Engine.IO's long-polling); `nil` when the codec has none (the request goes on to the
    /// other HTTP routes).
    static func serveHTTP(
        _ request: Request,
        context: RelayRequestContext,
        endpoint: CompiledEndpoint,
        parameters: [String: String],
        state: RelayState
    ) async -> Response?

    /// The connection passed admission: authenticate it and open its sessions, or greet it and
    /// wait (first-message auth, Socket.IO namespaces).
    func start(_ connection: ClientConnection, request: UpgradeRequest)

    /// One message from the client.
    func receive(_ message: WebSocketMessage, on connection: ClientConnection)

    /// Calls `body` with each frame that carries `message` to the session in `namespace`;
    /// `sequence` is the message's number in that session's stream (`nil` for messages sent
    /// outside it: greetings, protocol packets).
    func forEachFrame(of message: OutboundMessage, namespace: String, sequence: Int?, _ body: (WebSocketFrame) -> Void)

    /// Checks the codec's own deadlines (heartbeats) at a sweep.
    func sweep(_ connection: ClientConnection, at time: SweepTime)

    /// Whether a client of this connection can come back to its sessions after a drop (they
    /// are then kept for the resume grace); if not, they end with the connection.
    var sessionsCanResume: Bool { get }

    /// Whether a client that closes its transport itself (a close frame with 1000, 1001 or no
    /// code) has left for good. Protocols with a leave message of their own say no.
    var transportCloseIsLeave: Bool { get }
}

extension Codec {
    static func sweepInterval(for endpoint: EndpointSettings) -> Duration? { nil }
    static func serveHTTP(
        _ request: Request,
        context: RelayRequestContext,
        endpoint: CompiledEndpoint,
        parameters: [String: String],
        state: RelayState
    ) async -> Response? {
        nil
    }
    func sweep(_ connection: ClientConnection, at time: SweepTime) {}
    var sessionsCanResume: Bool { true }
    var transportCloseIsLeave: Bool { true }
}
