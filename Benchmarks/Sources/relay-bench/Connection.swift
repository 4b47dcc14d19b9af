import BenchWire
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// How a client proves who it is.
enum AuthMode: String, Sendable {
    /// `{"type":"auth","token":…}` as the first message, answered `authenticated` then `connected`.
    case firstMessage = "first-message"
    /// `?token=` on the upgrade; `connected` follows at once.
    case query
    /// No token; `connected` follows at once.
    case none
}

/// The server every connection goes to: always 127.0.0.1.
struct Target: Sendable {
    static let host = "127.0.0.1"
    let port: Int
    let path: String
    let auth: AuthMode
    /// The tokens connections take in turn (one per user with `--users`).
    let tokens: [String]
    let connectTimeout: TimeAmount
    private let next = NIOLockedValueBox(0)

    init(port: Int, path: String, auth: AuthMode, tokens: [String], connectTimeout: TimeAmount) {
        self.port = port
        self.path = path
        self.auth = auth
        self.tokens = tokens
        self.connectTimeout = connectTimeout
    }

    /// The token for the next connection.
    func nextToken() -> String {
        let turn = self.next.withLockedValue { next -> Int in
            defer { next &+= 1 }
            return next
        }
        return self.tokens[turn % self.tokens.count]
    }
}

/// What a connection does with the messages it receives.
enum ConnectionMode {
    /// Set-up: messages complete the waiters of `expect(_:)`.
    case control
    /// Video frames are timed (seq, bt) into the loop's stats; other messages are ignored.
    case subscriber
    /// Pongs are matched in order with the pings' intended send times.
    case pinger
    /// pubsub deliveries (`direct`, `message`) are timed by the `seq` and `bt` inside their
    /// `data` object into the loop's stats; other messages are handled as control messages.
    case pubsub
}

private enum Keys {
    static let type = [UInt8](ascii: "type")
    static let seq = [UInt8](ascii: "seq")
    static let bt = [UInt8](ascii: "bt")
    static let videoFrame = [UInt8](ascii: "video-frame")
    static let pong = [UInt8](ascii: "pong")
    static let error = [UInt8](ascii: "error")
    static let frameKeys = [type, seq, bt]
    static let typeOnly = [type]
    static let data = [UInt8](ascii: "data")
    static let direct = [UInt8](ascii: "direct")
    static let message = [UInt8](ascii: "message")
    static let envelopeKeys = [type, data]
    static let seqBt = [seq, bt]
    static let clientIdOnly = [UInt8](ascii: "clientId")
}

/// One WebSocket client connection of the load generator, on the NIOWebSocket client
/// pipeline. Everything it holds is touched only on its channel's event loop.
final class BenchConnection: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    let channel: any Channel
    let stats: LoopStats
    var mode: ConnectionMode = .control
    /// Intended send times of the pings not answered yet, oldest first.
    var pendingPings = CircularBuffer<UInt64>(initialCapacity: 64)
    /// Set when the server closed the connection (close frame or TCP).
    private(set) var closedByServer = false
    private(set) var closeCode: UInt16?
    /// The `clientId` of the server's `connected` message (set once open).
    var clientId: String?

    private var context: ChannelHandlerContext?
    private let maskKey: WebSocketMaskingKey
    private var waiters: [(type: String, promise: EventLoopPromise<ByteBuffer>)] = []
    /// Control messages that arrived before anyone waited for them (by type, latest wins).
    private var early: [String: ByteBuffer] = [:]
    private var fragments: ByteBuffer?
    private var fragmentOpcode: WebSocketOpcode = .text
    private var closing = false

    init(channel: any Channel, stats: LoopStats) {
        self.channel = channel
        self.stats = stats
        var generator = SystemRandomNumberGenerator()
        self.maskKey = WebSocketMaskingKey.random(using: &generator)
    }

    var eventLoop: any EventLoop { self.channel.eventLoop }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelInactive(context: ChannelHandlerContext) {
        if !self.closing { self.closedByServer = true }
        let waiters = self.waiters
        self.waiters = []
        let code = self.closeCode.map { " (close code \($0))" } ?? ""
        for waiter in waiters { waiter.promise.fail(BenchError("connection closed while waiting for '\(waiter.type)'\(code)")) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    // MARK: Receiving

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = self.unwrapInboundIn(data)
        switch frame.opcode {
        case .text, .binary:
            if frame.fin {
                self.message(frame.data, binary: frame.opcode == .binary)
            } else {
                self.fragments = frame.data
                self.fragmentOpcode = frame.opcode
            }
        case .continuation:
            guard var buffer = self.fragments else { return }
            var data = frame.data
            buffer.writeBuffer(&data)
            if frame.fin {
                self.fragments = nil
                self.message(buffer, binary: self.fragmentOpcode == .binary)
            } else {
                self.fragments = buffer
            }
        case .ping:
            // Server heartbeat: answer at once (masked, as every client frame must be).
            let pong = WebSocketFrame(fin: true, opcode: .pong, maskKey: self.maskKey, data: frame.data)
            context.writeAndFlush(self.wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            var data = frame.data
            self.closeCode = data.readInteger(as: UInt16.self)
            if self.closing {
                context.close(promise: nil)
            } else {
                self.closedByServer = true
                self.closing = true
                var reply = context.channel.allocator.buffer(capacity: 2)
                reply.write(webSocketErrorCode: .normalClosure)
                let frame = WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: self.maskKey, data: reply)
                let channel = context.channel
                context.writeAndFlush(self.wrapOutboundOut(frame)).whenComplete { _ in channel.close(promise: nil) }
            }
        default:
            break
        }
    }

    @inline(__always)
    private func message(_ buffer: ByteBuffer, binary: Bool) {
        switch self.mode {
        case .subscriber:
            let now = monotonicNanos()
            let handled: Bool = buffer.withUnsafeReadableBytes { all in
                var bytes = all
                if binary {
                    guard let range = BinaryMediaFrame.headerRange(all) else { return true }
                    bytes = UnsafeRawBufferPointer(rebasing: all[range])
                }
                let found = JSONTopLevelScan.scan(bytes, keys: Keys.frameKeys)
                guard JSONTopLevelScan.equals(bytes, found[0], Keys.videoFrame) else { return false }
                if let seq = JSONTopLevelScan.uint(bytes, found[1]), let bt = JSONTopLevelScan.uint(bytes, found[2]) {
                    self.stats.recordDelivery(seq: seq, intendedNanos: bt, now: now)
                }
                return true
            }
            if !handled, !binary { self.control(buffer) }
        case .pubsub:
            let now = monotonicNanos()
            let handled: Bool = binary ? false : buffer.withUnsafeReadableBytes { bytes in
                let found = JSONTopLevelScan.scan(bytes, keys: Keys.envelopeKeys)
                guard JSONTopLevelScan.equals(bytes, found[0], Keys.direct) || JSONTopLevelScan.equals(bytes, found[0], Keys.message) else {
                    return false
                }
                let data = found[1]
                guard data.present, !data.isString, data.end > data.start else { return true }
                let inner = UnsafeRawBufferPointer(rebasing: bytes[data.start..<data.end])
                let fields = JSONTopLevelScan.scan(inner, keys: Keys.seqBt)
                if let seq = JSONTopLevelScan.uint(inner, fields[0]), let bt = JSONTopLevelScan.uint(inner, fields[1]) {
                    self.stats.recordDelivery(seq: seq, intendedNanos: bt, now: now)
                }
                return true
            }
            if !handled, !binary { self.control(buffer) }
        case .pinger:
            let now = monotonicNanos()
            let isPong: Bool = buffer.withUnsafeReadableBytes { bytes in
                let found = JSONTopLevelScan.scan(bytes, keys: Keys.typeOnly)
                return JSONTopLevelScan.equals(bytes, found[0], Keys.pong)
            }
            if isPong {
                if let intended = self.pendingPings.popFirst() {
                    self.stats.received += 1
                    self.stats.lastAt = now
                    self.stats.record(nanos: now &- intended)
                }
            } else if !binary {
                self.control(buffer)
            }
        case .control:
            if !binary { self.control(buffer) }
        }
    }

    /// A control message: completes the first waiter of its type; an `error` fails the first waiter.
    private func control(_ buffer: ByteBuffer) {
        let type: String? = buffer.withUnsafeReadableBytes { bytes in
            JSONTopLevelScan.string(bytes, JSONTopLevelScan.scan(bytes, keys: Keys.typeOnly)[0])
        }
        guard let type else { return }
        if type == "error" {
            self.stats.errors += 1
            if self.mode == .pinger { _ = self.pendingPings.popFirst() }
            if !self.waiters.isEmpty {
                let waiter = self.waiters.removeFirst()
                waiter.promise.fail(BenchError("server answered '\(waiter.type)' wait with \(String(buffer: buffer))"))
            }
            return
        }
        if let index = self.waiters.firstIndex(where: { $0.type == type }) {
            let waiter = self.waiters.remove(at: index)
            waiter.promise.succeed(buffer)
        } else if self.mode == .control {
            self.early[type] = buffer
        }
    }

    // MARK: Sending (on the loop)

    /// Waits for a message of `type` (one that already arrived counts). Call on the loop.
    func expect(_ type: String, timeout: TimeAmount) -> EventLoopFuture<ByteBuffer> {
        self.eventLoop.preconditionInEventLoop()
        if let buffer = self.early.removeValue(forKey: type) { return self.eventLoop.makeSucceededFuture(buffer) }
        let promise = self.eventLoop.makePromise(of: ByteBuffer.self)
        self.waiters.append((type, promise))
        let timer = self.eventLoop.scheduleTask(in: timeout) {
            promise.fail(BenchError("no '\(type)' within \(timeout.nanoseconds / 1_000_000) ms"))
        }
        promise.futureResult.whenComplete { _ in timer.cancel() }
        return promise.futureResult
    }

    /// Writes a text message (masked). Call on the loop.
    func writeText(_ buffer: ByteBuffer, flush: Bool = true) {
        self.write(buffer, opcode: .text, flush: flush)
    }

    @inline(__always)
    func write(_ buffer: ByteBuffer, opcode: WebSocketOpcode, flush: Bool) {
        guard let context = self.context else { return }
        let frame = WebSocketFrame(fin: true, opcode: opcode, maskKey: self.maskKey, data: buffer)
        if flush {
            context.writeAndFlush(self.wrapOutboundOut(frame), promise: nil)
        } else {
            context.write(self.wrapOutboundOut(frame), promise: nil)
        }
    }

    func flush() { self.context?.flush() }

    /// Sends `text` and waits for a message of `type`; callable from any thread.
    func request(_ text: String, expect type: String, timeout: TimeAmount) -> EventLoopFuture<ByteBuffer> {
        self.eventLoop.flatSubmit {
            let answer = self.expect(type, timeout: timeout)
            self.writeText(self.channel.allocator.buffer(string: text))
            return answer
        }
    }

    /// Keeps the `clientId` of the `connected` message; returns self. Call on the loop.
    func noteHello(_ hello: ByteBuffer) -> BenchConnection {
        self.clientId = hello.withUnsafeReadableBytes { bytes in
            JSONTopLevelScan.string(bytes, JSONTopLevelScan.scan(bytes, keys: [Keys.clientIdOnly])[0])
        }
        return self
    }

    /// Stops reading from the socket (a consumer that no longer keeps up at all).
    func stopReading() -> EventLoopFuture<Void> {
        self.channel.setOption(ChannelOptions.autoRead, value: false)
    }

    /// Close frame 1000, then the socket once the server answers (or after `timeout`).
    func close(timeout: TimeAmount = .seconds(2)) -> EventLoopFuture<Void> {
        self.eventLoop.flatSubmit {
            guard let context = self.context, !self.closing, self.channel.isActive else {
                return self.channel.close().recover { _ in }
            }
            self.closing = true
            var data = context.channel.allocator.buffer(capacity: 2)
            data.write(webSocketErrorCode: .normalClosure)
            let frame = WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: self.maskKey, data: data)
            context.writeAndFlush(self.wrapOutboundOut(frame), promise: nil)
            let channel = self.channel
            let timer = self.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
            return channel.closeFuture.always { _ in timer.cancel() }
        }
    }
}

/// Writes the upgrade request once connected; reports a refused upgrade.
private final class UpgradeRequestHandler: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    let uri: String
    let port: Int
    let refused: EventLoopPromise<BenchConnection>

    init(uri: String, port: Int, refused: EventLoopPromise<BenchConnection>) {
        self.uri = uri
        self.port = port
        self.refused = refused
    }

    func channelActive(context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "\(Target.host):\(self.port)")
        headers.add(name: "Content-Length", value: "0")
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: self.uri, headers: headers)
        context.write(self.wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = self.unwrapInboundIn(data) {
            self.refused.fail(BenchError("upgrade refused: HTTP \(head.status.code)"))
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.refused.fail(BenchError("upgrade failed: \(error)"))
        context.close(promise: nil)
    }
}

/// Opens WebSocket connections to the target and authenticates them.
struct Connector: Sendable {
    let group: any EventLoopGroup
    let board: StatsBoard
    let target: Target

    /// TCP connect, HTTP upgrade, then the target's auth: succeeds once `connected` arrived.
    func open(loop: (any EventLoop)? = nil) -> EventLoopFuture<BenchConnection> {
        let loop = loop ?? self.group.next()
        let promise = loop.makePromise(of: BenchConnection.self)
        let stats = self.board.stats(for: loop)
        let target = self.target
        let token = target.nextToken()
        let uri = target.auth == .query ? target.path + (target.path.contains("?") ? "&" : "?") + "token=" + token : target.path
        let bootstrap = ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(target.connectTimeout)
            .channelInitializer { channel in
                let request = UpgradeRequestHandler(uri: uri, port: target.port, refused: promise)
                let upgrader = NIOWebSocketClientUpgrader(maxFrameSize: 16 << 20, automaticErrorHandling: true) { channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        let connection = BenchConnection(channel: channel, stats: stats)
                        try channel.pipeline.syncOperations.addHandler(connection)
                        promise.succeed(connection)
                    }
                }
                return channel.eventLoop.makeCompletedFuture {
                    // `.forwardBytes`: a server that speaks first (`connected` right after the
                    // 101, as with `auth: none` or `?token=`) may put its first frame in the same
                    // read as the response; NIO's default (`.dropBytes`) would lose it.
                    try channel.pipeline.syncOperations.addHTTPClientHandlers(
                        leftOverBytesStrategy: .forwardBytes,
                        withClientUpgrade: (upgraders: [upgrader], completionHandler: { context in
                            context.pipeline.syncOperations.removeHandler(request, promise: nil)
                        })
                    )
                    try channel.pipeline.syncOperations.addHandler(request)
                }
            }
        let timeout = loop.scheduleTask(in: target.connectTimeout) {
            promise.fail(BenchError("upgrade not completed within \(target.connectTimeout.nanoseconds / 1_000_000) ms"))
        }
        bootstrap.connect(host: Target.host, port: target.port).whenComplete { result in
            switch result {
            case .failure(let error): promise.fail(error)
            case .success(let channel): promise.futureResult.whenFailure { _ in channel.close(promise: nil) }
            }
        }
        promise.futureResult.whenComplete { _ in timeout.cancel() }
        return promise.futureResult.flatMap { connection in
            switch target.auth {
            case .firstMessage:
                return connection.request(
                    "{\"type\":\"auth\",\"token\":\"\(token)\"}",
                    expect: "connected",
                    timeout: target.connectTimeout
                ).map { hello in connection.noteHello(hello) }
            case .query, .none:
                return connection.expect("connected", timeout: target.connectTimeout).map { hello in connection.noteHello(hello) }
            }
        }.flatMapError { error in
            loop.makeFailedFuture(error)
        }
    }

    /// Opens `count` connections, at most `concurrency` handshakes at a time. Fails on the first error.
    func open(count: Int, concurrency: Int = 200) async throws -> [BenchConnection] {
        var connections: [BenchConnection] = []
        connections.reserveCapacity(count)
        var started = 0
        while started < count {
            let batch = min(concurrency, count - started)
            let futures = (0..<batch).map { _ in self.open() }
            started += batch
            for future in futures { connections.append(try await future.get()) }
        }
        return connections
    }
}

/// Closes every connection cleanly (close frame 1000), `concurrency` at a time.
func closeAll(_ connections: [BenchConnection], concurrency: Int = 500) async {
    var index = 0
    while index < connections.count {
        let end = min(index + concurrency, connections.count)
        let futures = connections[index..<end].map { $0.close() }
        for future in futures { try? await future.get() }
        index = end
    }
}
