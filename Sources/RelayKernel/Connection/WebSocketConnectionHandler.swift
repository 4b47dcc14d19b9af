import NIOCore
import NIOWebSocket

/// The last handler of an upgraded WebSocket's pipeline: carries a ``ClientConnection``'s
/// messages and frames, and tells it when the channel goes away.
final class WebSocketConnectionHandler: ChannelDuplexHandler, ConnectionTransport {
    typealias InboundIn = WebSocketMessage
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    let connection: ClientConnection
    /// The WebSocket protocol in front of this handler: it sends the close frames.
    private let protocolHandler: WebSocketProtocolHandler
    private var context: ChannelHandlerContext?

    init(connection: ClientConnection, protocolHandler: WebSocketProtocolHandler) {
        self.connection = connection
        self.protocolHandler = protocolHandler
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.connection.open(on: self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.connection.end()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.connection.end()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.connection.receive(self.unwrapInboundIn(data))
    }

    /// What this read batch delivered on this loop is written now, one flush per connection.
    func channelReadComplete(context: ChannelHandlerContext) {
        self.connection.loop.readEnded()
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        if self.connection.mayRead() { context.read() }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { self.connection.becameWritable() }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event as? WebSocketProtocolHandler.Event {
        case .peerClosed(let code)?:
            self.connection.peerClosed(code: code)
        case .failed(let reason)?:
            self.connection.transportFailed(reason)
        case nil:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    // MARK: ConnectionTransport

    var isWritable: Bool { self.context?.channel.isWritable ?? false }

    func write(_ frame: WebSocketFrame) {
        self.context?.write(self.wrapOutboundOut(frame), promise: nil)
    }

    func flush() {
        self.context?.flush()
    }

    func close(_ reason: CloseReason) {
        self.protocolHandler.close(reason)
    }

    func abort() {
        self.context?.close(promise: nil)
    }

    func resumeReading() {
        self.context?.read()
    }
}

@available(*, unavailable)
extension WebSocketConnectionHandler: Sendable {}
