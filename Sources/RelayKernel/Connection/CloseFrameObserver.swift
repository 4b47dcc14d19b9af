import NIOCore
import NIOWebSocket
import Synchronization

/// Notes the close code a peer sends, so a clean leave (1000, 1001, no code) can be told
/// apart from a dropped connection.
final class CloseFrameObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame

    /// The received close code; 1005 when the close frame carried none.
    let received: PeerClose

    init(received: PeerClose) {
        self.received = received
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = self.unwrapInboundIn(data)
        if frame.opcode == .connectionClose {
            var payload = frame.unmaskedData
            self.received.record(payload.readInteger(as: UInt16.self) ?? 1005)
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
