// baseline-relay: the smallest SwiftNIO WebSocket forwarder of seed 004's protocol.
//
// It stands for "the limit" of this stack on this machine: NIOWebSocket server handlers, one
// in-memory stream registry, no routing table, no auth checks (an `auth` message is accepted
// as it is), no limits, no queues of its own. A video frame is forwarded as the bytes that
// arrived (one `ByteBuffer` shared by every subscriber), written straight to each subscriber's
// channel, with one flush per channel per read batch (Relay's batching): subscribers on another
// event loop get one hop per loop and read batch, not one per subscriber or frame.
//
//   baseline-relay [--port 9090] [--threads N]
//
// Messages: `auth` → `authenticated` + `connected`; `ping` → `pong`; `register` →
// `registered {streamId}` (a new stream id when none is given); `subscribe {streamId,
// consumes}` → `subscribed`; `unsubscribe`; `video-frame` (text or binary) → the stream's
// video subscribers; `alert` → its alert subscribers; `leave` → close 1000. Anything else
// gets `error unknown_type`. Plain HTTP requests get 200 (a readiness probe).

import ArgumentParser
import BenchWire
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

#if canImport(Glibc)
import Glibc
#endif

// MARK: Registry

/// Subscribers of one kind for one stream, grouped by event loop.
struct LoopGroupedChannels {
    struct Group {
        let loop: any EventLoop
        var channels: [any Channel]
    }

    var groups: [Group] = []

    mutating func insert(_ channel: any Channel) {
        if let index = self.groups.firstIndex(where: { $0.loop === channel.eventLoop }) {
            if !self.groups[index].channels.contains(where: { $0 === channel }) { self.groups[index].channels.append(channel) }
        } else {
            self.groups.append(Group(loop: channel.eventLoop, channels: [channel]))
        }
    }

    mutating func remove(_ channel: any Channel) {
        guard let index = self.groups.firstIndex(where: { $0.loop === channel.eventLoop }) else { return }
        self.groups[index].channels.removeAll { $0 === channel }
        if self.groups[index].channels.isEmpty { self.groups.remove(at: index) }
    }

    /// Hands `frame` to every channel through `batch` (written now, flushed once per read batch).
    func send(_ frame: WebSocketFrame, through batch: WriteBatch) {
        for group in self.groups { batch.write(frame, to: group.channels, on: group.loop) }
    }
}

/// What one connection's read batch writes to other channels, flushed once at its end: on the
/// reader's own loop each channel is written at once and flushed once; for every other loop the
/// frames wait for one task that writes them all and flushes each channel once. This is the
/// same batching Relay does (one flush per wake-up), so the baseline is not slowed by a flush
/// per frame.
final class WriteBatch {
    private let loop: any EventLoop
    /// Channels of this loop written since the last flush (a channel written twice is flushed
    /// twice: the second flush finds nothing pending and costs little).
    private var dirty: [any Channel] = []
    private var remote: [ObjectIdentifier: (loop: any EventLoop, items: [(channels: [any Channel], frame: WebSocketFrame)])] = [:]

    init(loop: any EventLoop) {
        self.loop = loop
    }

    func write(_ frame: WebSocketFrame, to channels: [any Channel], on loop: any EventLoop) {
        if loop === self.loop {
            for channel in channels { channel.write(frame, promise: nil) }
            self.dirty.append(contentsOf: channels)
        } else {
            self.remote[ObjectIdentifier(loop), default: (loop, [])].items.append((channels, frame))
        }
    }

    /// Flushes what this batch wrote (at the end of the reader's read batch).
    func flush() {
        for channel in self.dirty { channel.flush() }
        self.dirty.removeAll(keepingCapacity: true)
        for (loop, items) in self.remote.values {
            let batch = UnsafeTransfer(items)
            loop.execute {
                for (channels, frame) in batch.value {
                    for channel in channels { channel.write(frame, promise: nil) }
                }
                // Usually one stream's subscribers: flush each once.
                if batch.value.count == 1 {
                    for channel in batch.value[0].channels { channel.flush() }
                } else {
                    var flushed = Set<ObjectIdentifier>()
                    for (channels, _) in batch.value {
                        for channel in channels where flushed.insert(ObjectIdentifier(channel)).inserted { channel.flush() }
                    }
                }
            }
        }
        self.remote.removeAll(keepingCapacity: true)
    }
}

/// Moves a value to another event loop's task (the channels and frames are used only there).
struct UnsafeTransfer<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

struct StreamEntry {
    var video = LoopGroupedChannels()
    var alerts = LoopGroupedChannels()
}

/// Every stream, by id. One lock; a fan-out holds it only to copy two small arrays.
final class Registry: Sendable {
    private let streams = NIOLockedValueBox<[String: StreamEntry]>([:])
    private let counter = ManagedAtomicCounter()

    func newStreamId() -> String { "stream_b\(self.counter.next())" }
    func newClientId() -> String { "c\(self.counter.next())" }

    func subscribe(_ channel: any Channel, stream: String, video: Bool, alerts: Bool) {
        self.streams.withLockedValue { streams in
            var entry = streams[stream] ?? StreamEntry()
            if video { entry.video.insert(channel) } else { entry.video.remove(channel) }
            if alerts { entry.alerts.insert(channel) } else { entry.alerts.remove(channel) }
            streams[stream] = entry
        }
    }

    func unsubscribe(_ channel: any Channel, streams ids: some Sequence<String>) {
        self.streams.withLockedValue { streams in
            for id in ids {
                guard var entry = streams[id] else { continue }
                entry.video.remove(channel)
                entry.alerts.remove(channel)
                streams[id] = entry
            }
        }
    }

    func video(_ stream: String) -> LoopGroupedChannels? {
        self.streams.withLockedValue { $0[stream]?.video }
    }

    func alerts(_ stream: String) -> LoopGroupedChannels? {
        self.streams.withLockedValue { $0[stream]?.alerts }
    }
}

final class ManagedAtomicCounter: Sendable {
    private let value = NIOLockedValueBox<UInt64>(0)
    func next() -> UInt64 { self.value.withLockedValue { $0 += 1; return $0 } }
}

// MARK: WebSocket handler

/// Keys the hot path looks for.
enum Keys {
    static let type = [UInt8](ascii: "type")
    static let streamId = [UInt8](ascii: "streamId")
    static let videoFrame = [UInt8](ascii: "video-frame")
    static let ping = [UInt8](ascii: "ping")
    static let alert = [UInt8](ascii: "alert")
}

final class RelayHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let registry: Registry
    private let hasQueryToken: Bool
    private var subscribed: Set<String> = []
    private var batch: WriteBatch?
    private var replied = false
    private var fragments: ByteBuffer?
    private var fragmentOpcode: WebSocketOpcode = .text
    private var closing = false

    init(registry: Registry, hasQueryToken: Bool) {
        self.registry = registry
        self.hasQueryToken = hasQueryToken
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.batch = WriteBatch(loop: context.eventLoop)
        if self.hasQueryToken, context.channel.isActive {
            self.sendConnected(context: context)
            self.flushReplies(context: context)
        }
    }

    /// One flush per read batch: replies to this peer, then what the batch wrote to others.
    func channelReadComplete(context: ChannelHandlerContext) {
        self.flushReplies(context: context)
        self.batch?.flush()
        context.fireChannelReadComplete()
    }

    private func flushReplies(context: ChannelHandlerContext) {
        guard self.replied else { return }
        self.replied = false
        context.flush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !self.subscribed.isEmpty { self.registry.unsubscribe(context.channel, streams: self.subscribed) }
        self.subscribed = []
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = self.unwrapInboundIn(data)
        switch frame.opcode {
        case .text, .binary:
            if frame.fin {
                self.message(frame.unmaskedData, opcode: frame.opcode, context: context)
            } else {
                self.fragments = frame.unmaskedData
                self.fragmentOpcode = frame.opcode
            }
        case .continuation:
            guard var buffer = self.fragments else { return }
            var data = frame.unmaskedData
            buffer.writeBuffer(&data)
            if frame.fin {
                self.fragments = nil
                self.message(buffer, opcode: self.fragmentOpcode, context: context)
            } else {
                self.fragments = buffer
            }
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)
            context.write(self.wrapOutboundOut(pong), promise: nil)
            self.replied = true
        case .connectionClose:
            self.close(context: context, code: .normalClosure)
        default:
            break
        }
    }

    private func message(_ buffer: ByteBuffer, opcode: WebSocketOpcode, context: ChannelHandlerContext) {
        if opcode == .binary {
            // uint32 BE header length + JSON header + payload: route by the header's streamId.
            let stream: String? = buffer.withUnsafeReadableBytes { bytes in
                guard let range = BinaryMediaFrame.headerRange(bytes) else { return nil }
                let header = UnsafeRawBufferPointer(rebasing: bytes[range])
                let found = JSONTopLevelScan.scan(header, keys: [Keys.streamId])
                return JSONTopLevelScan.string(header, found[0])
            }
            guard let stream, let batch = self.batch else { return }
            self.registry.video(stream)?.send(WebSocketFrame(fin: true, opcode: .binary, data: buffer), through: batch)
            return
        }
        // Text: the type and stream id, found without decoding the rest.
        let (isVideo, isPing, isAlert, type, stream): (Bool, Bool, Bool, String?, String?) = buffer.withUnsafeReadableBytes { bytes in
            let found = JSONTopLevelScan.scan(bytes, keys: [Keys.type, Keys.streamId])
            let video = JSONTopLevelScan.equals(bytes, found[0], Keys.videoFrame)
            let ping = !video && JSONTopLevelScan.equals(bytes, found[0], Keys.ping)
            let alert = !video && !ping && JSONTopLevelScan.equals(bytes, found[0], Keys.alert)
            let plain = video || ping || alert
            return (video, ping, alert, plain ? nil : JSONTopLevelScan.string(bytes, found[0]), JSONTopLevelScan.string(bytes, found[1]))
        }
        if isVideo {
            guard let stream, let batch = self.batch else { return }
            self.registry.video(stream)?.send(WebSocketFrame(fin: true, opcode: .text, data: buffer), through: batch)
        } else if isPing {
            self.reply("{\"type\":\"pong\",\"timestamp\":\(wallMillis())}", context: context)
        } else if isAlert {
            guard let stream, let batch = self.batch else { return }
            self.registry.alerts(stream)?.send(WebSocketFrame(fin: true, opcode: .text, data: buffer), through: batch)
        } else {
            self.control(type: type, stream: stream, buffer: buffer, context: context)
        }
    }

    /// The rare messages: parsed with a little more care, still without a JSON library.
    private func control(type: String?, stream: String?, buffer: ByteBuffer, context: ChannelHandlerContext) {
        switch type {
        case "auth":
            self.reply("{\"type\":\"authenticated\",\"userId\":\"bench\"}", context: context)
            if !self.hasQueryToken { self.sendConnected(context: context) }
        case "register":
            let id = stream ?? self.registry.newStreamId()
            self.reply(
                "{\"type\":\"registered\",\"streamId\":\"\(id)\",\"produces\":[\"video-frame\"],\"consumes\":[\"alert\"]}",
                context: context
            )
        case "subscribe":
            guard let stream else { return self.error("invalid_message", "field 'streamId' must be a string", ref: type, context: context) }
            let consumes = Self.consumes(buffer)
            let video = consumes?.contains("video-frame") ?? true
            let alerts = consumes?.contains("alert") ?? true
            self.registry.subscribe(context.channel, stream: stream, video: video, alerts: alerts)
            self.subscribed.insert(stream)
            let list = [video ? "\"video-frame\"" : nil, alerts ? "\"alert\"" : nil].compactMap { $0 }.joined(separator: ",")
            self.reply("{\"type\":\"subscribed\",\"streamId\":\"\(stream)\",\"consumes\":[\(list)]}", context: context)
        case "unsubscribe":
            guard let stream else { return }
            self.registry.unsubscribe(context.channel, streams: [stream])
            self.subscribed.remove(stream)
            self.reply("{\"type\":\"unsubscribed\",\"streamId\":\"\(stream)\"}", context: context)
        case "leave":
            self.close(context: context, code: .normalClosure)
        case nil:
            self.error("invalid_message", "missing or non-string 'type'", ref: nil, context: context)
        case let other?:
            self.error("unknown_type", "no route for this type", ref: other, context: context)
        }
    }

    /// The strings of the top-level `consumes` array, or nil when absent.
    private static func consumes(_ buffer: ByteBuffer) -> [String]? {
        buffer.withUnsafeReadableBytes { bytes -> [String]? in
            let found = JSONTopLevelScan.scan(bytes, keys: [[UInt8](ascii: "consumes")])[0]
            guard found.present, !found.isString else { return nil }
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[found.start..<found.end]), as: UTF8.self)
            return text.split(separator: "\"").enumerated().filter { $0.offset % 2 == 1 }.map { String($0.element) }
        }
    }

    private func sendConnected(context: ChannelHandlerContext) {
        let id = self.registry.newClientId()
        self.reply("{\"type\":\"connected\",\"clientId\":\"\(id)\",\"resumeToken\":\"r\(id)\",\"resumed\":false}", context: context)
    }

    private func error(_ code: String, _ message: String, ref: String?, context: ChannelHandlerContext) {
        let refPart = ref.map { ",\"ref\":\"\($0)\"" } ?? ""
        self.reply("{\"type\":\"error\",\"code\":\"\(code)\",\"message\":\"\(message)\"\(refPart)}", context: context)
    }

    private func reply(_ text: String, context: ChannelHandlerContext) {
        let buffer = context.channel.allocator.buffer(string: text)
        context.write(self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, data: buffer)), promise: nil)
        self.replied = true
    }

    private func close(context: ChannelHandlerContext, code: WebSocketErrorCode) {
        guard !self.closing else { return }
        self.closing = true
        var data = context.channel.allocator.buffer(capacity: 2)
        data.write(webSocketErrorCode: code)
        let frame = WebSocketFrame(fin: true, opcode: .connectionClose, data: data)
        let channel = context.channel
        context.writeAndFlush(self.wrapOutboundOut(frame)).whenComplete { _ in channel.close(promise: nil) }
    }
}

/// Answers plain HTTP requests (readiness probes) with 200.
final class PlainHTTPHandler: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = self.unwrapInboundIn(data) else { return }
        var headers = HTTPHeaders()
        headers.add(name: "content-length", value: "3")
        headers.add(name: "content-type", value: "text/plain")
        context.write(self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        context.write(self.wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: "ok\n")))), promise: nil)
        context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
    }
}

// MARK: Command

@main
struct BaselineRelay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "baseline-relay",
        abstract: "The smallest SwiftNIO WebSocket forwarder of seed 004's protocol (benchmark baseline)."
    )

    @Option(help: "Port to listen on (127.0.0.1).")
    var port: Int = 9090

    @Option(help: "Event loop threads (default: one per core, as Relay's server uses).")
    var threads: Int = System.coreCount

    @Option(help: "Largest inbound WebSocket frame in bytes.")
    var maxFrameSize: Int = 4 << 20

    func run() async throws {
        raiseFileLimit()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: self.threads)
        let registry = Registry()
        let maxFrameSize = self.maxFrameSize
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                let http = PlainHTTPHandler()
                let upgrader = NIOWebSocketServerUpgrader(
                    maxFrameSize: maxFrameSize,
                    automaticErrorHandling: true,
                    shouldUpgrade: { channel, _ in channel.eventLoop.makeSucceededFuture(HTTPHeaders()) },
                    upgradePipelineHandler: { channel, head in
                        channel.eventLoop.makeCompletedFuture {
                            let hasToken = head.uri.contains("token=")
                            try channel.pipeline.syncOperations.addHandler(RelayHandler(registry: registry, hasQueryToken: hasToken))
                        }
                    }
                )
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withServerUpgrade: (upgraders: [upgrader], completionHandler: { context in
                            context.pipeline.syncOperations.removeHandler(http, promise: nil)
                        })
                    )
                    try channel.pipeline.syncOperations.addHandler(http)
                }
            }
        let channel = try await bootstrap.bind(host: "127.0.0.1", port: self.port).get()
        print("baseline-relay listening on 127.0.0.1:\(channel.localAddress?.port ?? self.port) with \(self.threads) threads")
        fflush(nil)
        try await channel.closeFuture.get()
    }
}

/// Raises the soft RLIMIT_NOFILE to the hard limit (15,000 connections need it).
func raiseFileLimit() {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
    limit.rlim_cur = limit.rlim_max
    _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
}
