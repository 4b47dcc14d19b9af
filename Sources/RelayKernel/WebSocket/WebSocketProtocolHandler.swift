import NIOCore
import NIOWebSocket

/// RFC 6455 for one server connection, between NIO's frame decoder and the relay: checks every
/// frame, answers pings, joins fragments into messages (inflating them and checking UTF-8 as they
/// arrive, within the size limit), and runs the close handshake and the heartbeat.
///
/// A peer that breaks the protocol gets a close frame with the code RFC 6455 names (1002, 1007,
/// 1009), its output is shut, and the next handler hears ``Event/failed(_:)``. After any close
/// frame of ours (``close(_:)``), the handler waits `closeTimeout` for the peer's, then closes the
/// channel. It is an inbound handler only: what the relay sends goes straight to NIO's encoder
/// (through a ``MessageCompressor`` when permessage-deflate was negotiated).
///
/// Confined to one thread, its stored properties skip Swift's dynamic exclusivity checks.
final class WebSocketProtocolHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketMessage
    typealias OutboundOut = WebSocketFrame

    struct Configuration: Sendable {
        /// The largest message, decompressed, in bytes (inclusive).
        var maxMessageBytes: Int
        /// The negotiated permessage-deflate parameters, if any.
        var deflate: PerMessageDeflate?
        /// How often to ping the peer; a peer silent for a whole interval after a ping is dropped.
        var heartbeatInterval: TimeAmount?
        /// How long to wait for the peer's close frame after ours.
        var closeTimeout: TimeAmount
    }

    /// What the next handler hears, as a user inbound event.
    enum Event {
        /// The peer started a close (`code` is `nil` when its frame carried none); it is answered
        /// and the channel closes. A peer's answer to our close is no event.
        case peerClosed(code: UInt16?)
        /// The peer broke the protocol; a close frame with `reason` went out.
        case failed(CloseReason)
    }

    private enum State {
        case open
        /// Our close frame went out at `since`; waiting for the peer's.
        case closeSent(since: NIODeadline)
        case closed
    }

    /// A message whose fragments are still arriving.
    private struct Partial {
        let kind: RelayMessage.Kind
        let compressed: Bool
        var data: ByteBuffer?
        var size: Int
    }

    private let configuration: Configuration
    /// The decoder's frame limit, narrowed while a fragmented message arrives.
    private let frameBound: FrameBound?
    private let loop: EventLoopContext?
    @exclusivity(unchecked) private var sweepSlot: Int?
    @exclusivity(unchecked) private var context: ChannelHandlerContext?
    @exclusivity(unchecked) private var state = State.open
    @exclusivity(unchecked) private var partial: Partial?
    @exclusivity(unchecked) private var utf8 = UTF8Validator()
    @exclusivity(unchecked) private var inflater: MessageInflater?
    @exclusivity(unchecked) private var nextPing: NIODeadline?
    @exclusivity(unchecked) private var pingUnanswered = false
    @exclusivity(unchecked) private var flushPending = false

    /// `loop` runs the heartbeat and close time-out; without it (tests) call ``sweep(at:)``.
    /// `frameBound` is the ``BoundedFrameDecoder``'s limit.
    init(configuration: Configuration, frameBound: FrameBound?, loop: EventLoopContext?) {
        self.configuration = configuration
        self.frameBound = frameBound
        self.loop = loop
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if let interval = self.configuration.heartbeatInterval { self.nextPing = .now() + interval }
        self.sweepSlot = self.loop?.register(self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if let slot = self.sweepSlot { self.loop?.unregister(slot) }
        self.sweepSlot = nil
        self.context = nil
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = self.unwrapInboundIn(data)
        self.pingUnanswered = false
        switch self.state {
        case .open:
            self.receive(frame, context: context)
        case .closeSent:
            // Only the peer's close matters now (RFC 6455 §5.5.1); the rest is discarded. It answers
            // ours, so it is no event: the close was counted when we sent it.
            guard frame.opcode == .connectionClose else { return }
            self.state = .closed
            context.close(promise: nil)
        case .closed:
            break
        }
    }

    private func receive(_ frame: WebSocketFrame, context: ChannelHandlerContext) {
        guard let maskKey = frame.maskKey else {
            return self.fail(CloseReason(.protocolError, "frames from a client must be masked"), context: context)
        }
        let reserved = frame.reservedBits
        if !reserved.isEmpty {
            // RSV1 marks the first frame of a compressed message, and only that.
            guard reserved == .rsv1, self.configuration.deflate != nil, frame.opcode == .text || frame.opcode == .binary else {
                return self.fail(CloseReason(.protocolError, "reserved bits set that no extension defines"), context: context)
            }
        }
        switch frame.opcode {
        case .text, .binary:
            guard self.partial == nil else {
                return self.fail(CloseReason(.protocolError, "a new message inside a fragmented one"), context: context)
            }
            self.partial = Partial(kind: frame.opcode == .text ? .text : .binary, compressed: frame.rsv1, data: nil, size: 0)
            self.utf8.reset()
            self.append(frame, maskKey: maskKey, context: context)
        case .continuation:
            guard self.partial != nil else {
                return self.fail(CloseReason(.protocolError, "a continuation frame without a message"), context: context)
            }
            self.append(frame, maskKey: maskKey, context: context)
        case .ping:
            context.write(self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.data.unmasked(maskKey))), promise: nil)
            self.flushPending = true
        case .pong:
            break
        case .connectionClose:
            self.peerClosed(ClosePayload(frame.data.unmasked(maskKey)), context: context)
        default:
            self.fail(CloseReason(.protocolError, "reserved opcode \(frame.opcode)"), context: context)
        }
    }

    /// Adds one data frame to the message being received; hands the message on after the last.
    private func append(_ frame: WebSocketFrame, maskKey: WebSocketMaskingKey, context: ChannelHandlerContext) {
        guard var partial = self.partial else { return }
        var data = frame.data.unmasked(maskKey)
        let limit = self.configuration.maxMessageBytes
        if partial.compressed {
            do {
                data = try self.makeInflater().inflate(data, final: frame.fin, limit: limit - partial.size, allocator: context.channel.allocator)
            } catch .tooLarge {
                return self.fail(CloseReason(.messageTooBig, "message too large"), context: context)
            } catch {
                return self.fail(CloseReason(.invalidPayload, "compressed data is corrupt"), context: context)
            }
        }
        partial.size += data.readableBytes
        guard partial.size <= limit else {
            return self.fail(CloseReason(.messageTooBig, "message too large"), context: context)
        }
        if partial.kind == .text {
            let valid = data.withUnsafeReadableBytes { self.utf8.feed($0) } && (!frame.fin || self.utf8.isComplete)
            guard valid else { return self.fail(CloseReason(.invalidPayload, "text is not valid UTF-8"), context: context) }
        }
        if partial.data == nil {
            partial.data = data
        } else {
            partial.data!.writeBuffer(&data)
        }
        guard frame.fin else {
            self.partial = partial
            // An uncompressed fragment may not announce more than the message may still grow by.
            if !partial.compressed { self.frameBound?.narrow(to: limit - partial.size) }
            return
        }
        self.partial = nil
        self.frameBound?.reset()
        context.fireChannelRead(self.wrapInboundOut(WebSocketMessage(kind: partial.kind, data: partial.data!)))
    }

    private func makeInflater() throws(MessageInflater.Failure) -> MessageInflater {
        if let inflater = self.inflater { return inflater }
        guard let parameters = self.configuration.deflate, let created = try? MessageInflater(parameters) else { throw .corrupt }
        self.inflater = created
        return created
    }

    /// The peer's close frame: answered with the same code, then the channel closes.
    private func peerClosed(_ payload: ClosePayload, context: ChannelHandlerContext) {
        switch payload {
        case .invalid(let reason):
            self.fail(reason, context: context)
        case .valid(let code):
            self.state = .closed
            context.fireUserInboundEventTriggered(Event.peerClosed(code: code))
            var echo = context.channel.allocator.buffer(capacity: 2)
            if let code { echo.writeInteger(code) }
            let channel = context.channel
            context.writeAndFlush(self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: echo))).whenComplete { _ in
                channel.close(promise: nil)
            }
        }
    }

    /// Fails the connection: a close frame with `reason`, then no more output (RFC 6455 §7.1.7).
    private func fail(_ reason: CloseReason, context: ChannelHandlerContext) {
        self.partial = nil
        self.frameBound?.reset()
        guard case .open = self.state else { return }
        self.state = .closeSent(since: .now())
        context.fireUserInboundEventTriggered(Event.failed(reason))
        let channel = context.channel
        context.writeAndFlush(self.wrapOutboundOut(reason.frame(allocator: channel.allocator))).whenComplete { _ in
            // Shutting output lets the peer see the close frame even if it sends more meanwhile
            // (a full close with unread input would reset the connection).
            channel.close(mode: .output, promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if self.flushPending {
            self.flushPending = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error as? NIOWebSocketError {
        case .invalidFrameLength?:
            self.fail(CloseReason(.messageTooBig, "frame over the size limit"), context: context)
        case .fragmentedControlFrame?:
            self.fail(CloseReason(.protocolError, "a fragmented control frame"), context: context)
        case .multiByteControlFrameLength?:
            self.fail(CloseReason(.protocolError, "a control frame over 125 bytes"), context: context)
        case nil:
            // I/O errors (a reset connection) end it.
            self.state = .closed
            context.close(promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            // The peer closed its side of TCP: whatever the state, the connection is over.
            self.state = .closed
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    // MARK: Closing

    /// Sends our close frame with `reason` (once: the first close wins) and waits
    /// `closeTimeout` for the peer's. The connection behind this handler closes this way, so
    /// that its data frames reach the encoder without passing through here.
    func close(_ reason: CloseReason) {
        guard let context, case .open = self.state else { return }
        self.state = .closeSent(since: .now())
        context.writeAndFlush(self.wrapOutboundOut(reason.frame(allocator: context.channel.allocator)), promise: nil)
    }

    // MARK: Deadlines

    /// Pings the peer when the heartbeat is due (dropping one that stayed silent since the last
    /// ping), and closes the channel when the peer did not answer our close in time.
    func sweep(at time: SweepTime) {
        guard let context else { return }
        switch self.state {
        case .open:
            guard let interval = self.configuration.heartbeatInterval, let due = self.nextPing, time.now >= due else { return }
            if self.pingUnanswered {
                // Nothing at all from the peer for a whole interval after a ping: a dead peer.
                self.state = .closed
                context.close(promise: nil)
                return
            }
            self.pingUnanswered = true
            self.nextPing = time.now + interval
            context.writeAndFlush(self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .ping, data: context.channel.allocator.buffer(capacity: 0))), promise: nil)
        case .closeSent(let since):
            if time.now - since >= self.configuration.closeTimeout {
                self.state = .closed
                context.close(promise: nil)
            }
        case .closed:
            break
        }
    }
}

extension WebSocketProtocolHandler: LoopSweepable {}

extension ByteBuffer {
    /// The payload of a client frame, unmasked.
    fileprivate func unmasked(_ key: WebSocketMaskingKey) -> ByteBuffer {
        var data = self
        data.webSocketUnmask(key)
        return data
    }
}

@available(*, unavailable)
extension WebSocketProtocolHandler: Sendable {}
