import NIOCore
import NIOWebSocket

/// Compresses the messages a connection sends when it negotiated permessage-deflate (RFC 7692):
/// each data frame of at least ``MessageDeflater/minimumSize`` bytes becomes one compressed
/// frame with RSV1 set. Only in the pipelines of connections that negotiated it.
final class MessageCompressor: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let parameters: PerMessageDeflate
    /// Created on the first message worth compressing (zlib's state is large).
    private var deflater: MessageDeflater?

    init(parameters: PerMessageDeflate) {
        self.parameters = parameters
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var frame = self.unwrapOutboundIn(data)
        guard frame.fin, frame.opcode == .text || frame.opcode == .binary, frame.data.readableBytes >= MessageDeflater.minimumSize else {
            return context.write(data, promise: promise)
        }
        do {
            if self.deflater == nil { self.deflater = try MessageDeflater(self.parameters) }
            frame.data = try self.deflater!.deflate(frame.data, allocator: context.channel.allocator)
            frame.rsv1 = true
        } catch {
            promise?.fail(error)
            context.close(promise: nil)
            return
        }
        context.write(self.wrapOutboundOut(frame), promise: promise)
    }
}

@available(*, unavailable)
extension MessageCompressor: Sendable {}
