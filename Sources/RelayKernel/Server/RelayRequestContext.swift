import Hummingbird
import NIOCore

/// The request context of the relay's HTTP routes: Hummingbird's core context plus the TCP
/// peer's address (``TrustedProxies`` turns it into the client's).
struct RelayRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// The TCP peer's IP address, when known.
    let remoteAddress: String?
    /// The event loop of the request's connection.
    let eventLoop: any EventLoop

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress?.ipAddress
        self.eventLoop = source.channel.eventLoop
    }
}
