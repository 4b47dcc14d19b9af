import NIOCore
import NIOWebSocket

/// NIO's `WebSocketFrameDecoder` with a frame limit that follows the message being received: a
/// fragment whose header announces more than its message may still grow by is refused from the
/// header alone (NIO's decoder checks a frame's length before it buffers the payload).
///
/// The limit lives in a ``FrameBound`` the ``WebSocketProtocolHandler`` narrows while it joins a
/// fragmented message. NIO's decoder takes its limit once, so a changed limit gets a new one,
/// right after the frame whose handling changed it (the parser is then between frames).
struct BoundedFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = WebSocketFrame

    private let bound: FrameBound
    private var decoder: WebSocketFrameDecoder
    private var limit: Int

    init(bound: FrameBound) {
        self.bound = bound
        self.limit = bound.maxFrameSize
        self.decoder = WebSocketFrameDecoder(maxFrameSize: bound.maxFrameSize)
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        // NIO's decoder hands on at most one frame per call.
        let state = try self.decoder.decode(context: context, buffer: &buffer)
        if self.bound.maxFrameSize != self.limit {
            self.limit = self.bound.maxFrameSize
            self.decoder = WebSocketFrameDecoder(maxFrameSize: self.limit)
        }
        return state
    }
}

/// The largest frame a connection accepts next: the endpoint's limit, narrowed to what a
/// fragmented message may still grow by. Confined to the connection's event loop.
final class FrameBound {
    /// The limit for a frame that starts a message.
    let messageStart: Int
    /// The limit for the next frame.
    private(set) var maxFrameSize: Int

    init(messageStart: Int) {
        self.messageStart = messageStart
        self.maxFrameSize = messageStart
    }

    /// A fragmented message may grow by `remaining` bytes more (control frames, up to 125
    /// bytes, must still pass between its fragments).
    func narrow(to remaining: Int) {
        self.maxFrameSize = max(remaining, 125)
    }

    /// The next frame starts a message.
    func reset() {
        self.maxFrameSize = self.messageStart
    }
}

@available(*, unavailable)
extension FrameBound: Sendable {}
