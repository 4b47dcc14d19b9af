import Metrics
import NIOCore
import NIOWebSocket

/// Writes a connection's frames straight into its channel, on the channel's event loop: one
/// wake-up writes everything queued while the socket takes it, then flushes once. No task
/// switch and no async hand-off per frame.
///
/// A peer that stops reading makes the channel unwritable: the writer then keeps the one
/// frame it could not write, the rest waits in the session's bounded queue, and the watchdog
/// closes the connection when it stays blocked past `writeTimeout`. The writer stops for good
/// once a close frame has gone out (its own connection's or one WSCore sent).
///
/// Sits between the WebSocket frame decoder and the ``InboundFrameGuard``, so every close
/// frame written behind it passes through ``write(context:data:promise:)``.
final class ChannelFrameWriter: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let control: ConnectionControl
    /// The Socket.IO namespaces' frames are written for a `socketio` connection.
    private let socketIO: Bool
    private let latency: Timer
    /// Sends the close frame (through WSCore, which tracks the closing handshake).
    private let finished: @Sendable () -> Void
    private var context: ChannelHandlerContext?
    /// A frame taken from the queue while the channel was not writable.
    private var carried: ConnectionControl.WriterItem?
    private var closeSent = false
    private var pumping = false
    private var pumpAgain = false

    init(control: ConnectionControl, socketIO: Bool, latency: Timer, finished: @escaping @Sendable () -> Void) {
        self.control = control
        self.socketIO = socketIO
        self.latency = latency
        self.finished = finished
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.carried = nil
        // The control holds this writer and this writer holds the control (and, through
        // `finished`, the connection): let go once the channel is done with it.
        self.control.uninstallChannelWriter()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { self.pump() }
        context.fireChannelWritabilityChanged()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if self.unwrapOutboundIn(data).opcode == .connectionClose { self.closeSent = true }
        context.write(data, promise: promise)
    }

    /// Writes what is queued, in order, while the channel is writable; flushes once.
    func pump() {
        if self.pumping {
            // Re-entered from a flush that drained the socket: the outer pump goes round again.
            self.pumpAgain = true
            return
        }
        self.pumping = true
        defer { self.pumping = false }
        repeat {
            self.pumpAgain = false
            self.control.pumpStarted()
            self.writeQueued()
        } while self.pumpAgain
    }

    private func writeQueued() {
        guard let context, !self.closeSent else { return }
        var wrote = false
        defer {
            if wrote { context.flush() }
        }
        while true {
            guard let item = self.carried ?? self.control.poll() else { break }
            if case .finish = item {
                self.carried = nil
                self.control.reachFinish()
                self.finished()
                return
            }
            guard context.channel.isWritable else {
                self.carried = item
                self.control.writeBlocked()
                return
            }
            self.carried = nil
            switch item {
            case .direct(let message):
                self.write(message, namespace: self.socketIO ? "" : nil, context: context)
            case .session(let frame, let namespace):
                self.write(frame.message, namespace: self.socketIO ? namespace : nil, context: context)
                self.latency.recordNanoseconds((ContinuousClock.now - frame.enqueuedAt).nanoseconds)
                frame.deliveredCounter?.increment()
            case .finish:
                break
            }
            wrote = true
        }
        self.control.writeUnblocked()
    }

    private func write(_ message: OutboundMessage, namespace: String?, context: ChannelHandlerContext) {
        message.forEachWebSocketFrame(socketIONamespace: namespace) { frame in
            context.write(self.wrapOutboundOut(frame), promise: nil)
        }
    }
}
