import NIOCore
import NIOWebSocket
import Synchronization

/// Sits after the WebSocket frame decoder: fails the connection with 1002 when a client sends
/// an unmasked frame (RFC 6455 §5.1), and notes the close code a peer sends, so a clean leave
/// (1000, 1001, no code) can be told apart from a dropped connection, and counts it.
final class InboundFrameGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private var failed = false

    /// The received close code; 1005 when the close frame carried none.
    let received: PeerClose
    private let metrics: RelayMetrics

    init(received: PeerClose, metrics: RelayMetrics) {
        self.received = received
        self.metrics = metrics
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = self.unwrapInboundIn(data)
        guard !self.failed else { return }
        guard frame.maskKey != nil else {
            self.failed = true
            var payload = context.channel.allocator.buffer(capacity: 2)
            payload.writeInteger(UInt16(CloseCode.protocolError.rawValue))
            let close = WebSocketFrame(fin: true, opcode: .connectionClose, data: payload)
            let channel = context.channel
            context.writeAndFlush(self.wrapOutboundOut(close)).whenComplete { _ in channel.close(promise: nil) }
            return
        }
        if frame.opcode == .connectionClose {
            var payload = frame.unmaskedData
            let code = payload.readInteger(as: UInt16.self) ?? 1005
            self.received.record(code)
            self.metrics.peerClosed(code: code)
        }
        context.fireChannelRead(data)
    }
}

/// The close code a peer sent, if any.
final class PeerClose: Sendable {
    private let code = Mutex<UInt16?>(nil)

    func record(_ value: UInt16) { self.code.withLock { $0 = value } }

    var value: UInt16? { self.code.withLock { $0 } }

    /// Whether the peer left deliberately (1000, 1001, or a close frame without a code).
    var isCleanLeave: Bool {
        guard let value else { return false }
        return value == 1000 || value == 1001 || value == 1005
    }
}
