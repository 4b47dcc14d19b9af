import Logging
import Metrics
import NIOCore
import NIOPosix
import RelayKernel
import Synchronization

/// Direct TCP links between nodes for media (routes with `overflow: drop-oldest`, e.g. video
/// frames): those never cross PostgreSQL. Each node listens on `cluster.linkHost:linkPort` and
/// advertises the address in `relay_nodes`; a sender opens one connection per target node on
/// first use. A frame goes once per node (never per recipient), length-prefixed; a link that is
/// not writable drops it (media: the latest frame wins), and the drop is counted.
///
/// A connection starts with a hello naming the node and the cluster's link secret (kept in the
/// database, so only nodes that can reach it can join). A node that resumes a client of another
/// node probes that node's link first (``probe(_:within:)``): a one-byte frame it answers with
/// the same byte.
final class ClusterLinks: Sendable {
    static let magic = "RELAYLINK1"
    /// Largest frame accepted on a link.
    static let maximumFrame = 64 << 20
    /// The probe frame's one byte (no envelope is one byte long).
    static let probeByte: UInt8 = 0xFF

    /// How a probe of a node's link went.
    enum Probe {
        /// The node answered: it is running.
        case answered
        /// The connection was refused: nothing listens there any more, the process is gone.
        case refused
        /// No answer in time (a stalled or unreachable process).
        case silent
    }

    let nodeID: String
    let logger: Logger
    private let secret = Mutex<String?>(nil)
    private let node = Mutex<ClusterNode?>(nil)
    private let addresses = Mutex<[String: String]>([:])
    private let channels = Mutex<[String: any Channel]>([:])
    private let connecting = Mutex<Set<String>>([])
    private let listener = Mutex<(any Channel)?>(nil)
    let sent = Counter(label: "relay_cluster_media_frames_total", dimensions: [("direction", "out")])
    let received = Counter(label: "relay_cluster_media_frames_total", dimensions: [("direction", "in")])
    let dropped = Counter(label: "relay_drops_total", dimensions: [("reason", "cluster_link_busy")])
    /// Outgoing media links currently connected.
    let open = Meter(label: "relay_cluster_links_open")

    init(nodeID: String, logger: Logger) {
        self.nodeID = nodeID
        self.logger = logger
    }

    /// Starts listening; returns the address other nodes connect to.
    func listen(host: String, port: Int, node: ClusterNode) async throws -> String {
        self.node.withLock { $0 = node }
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LinkFrameDecoder()))
                    try channel.pipeline.syncOperations.addHandler(LinkInboundHandler(links: self))
                }
            }
            .bind(host: host, port: port)
            .get()
        self.listener.withLock { $0 = channel }
        let bound = channel.localAddress?.port ?? port
        return "\(host):\(bound)"
    }

    /// Stops listening and closes every link.
    func close() {
        let listener = self.listener.withLock { $0 }
        let links = self.channels.withLock { channels in
            defer { channels.removeAll() }
            return Array(channels.values)
        }
        self.open.set(0)
        listener?.close(promise: nil)
        for link in links { link.close(promise: nil) }
    }

    /// The cluster's link secret (read from the database when connected).
    func useSecret(_ secret: String) {
        self.secret.withLock { $0 = secret }
    }

    /// Where the other nodes listen.
    func useAddresses(_ addresses: [String: String]) {
        self.addresses.withLock { $0 = addresses }
    }

    // MARK: Sending

    /// Sends an envelope to `target`; `false` (and counted) when no link is ready or it is busy.
    func send(_ envelope: ByteBuffer, to target: String) -> Bool {
        guard let channel = self.channels.withLock({ $0[target] }), channel.isActive else {
            self.connect(to: target)
            self.dropped.increment()
            return false
        }
        guard channel.isWritable else {
            self.dropped.increment()
            return false
        }
        var length = channel.allocator.buffer(capacity: 4)
        length.writeInteger(UInt32(envelope.readableBytes))
        channel.write(length, promise: nil)
        channel.writeAndFlush(envelope, promise: nil)
        self.sent.increment()
        return true
    }

    /// Opens the link to `target` in the background (once at a time).
    private func connect(to target: String) {
        guard let address = self.addresses.withLock({ $0[target] }), let secret = self.secret.withLock({ $0 }) else { return }
        guard self.connecting.withLock({ $0.insert(target).inserted }) else { return }
        let parts = address.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]) else {
            self.connecting.withLock { _ = $0.remove(target) }
            return
        }
        let hello = "\(Self.magic) \(self.nodeID) \(secret)"
        ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.writeBufferWaterMark, value: .init(low: 256 << 10, high: 1 << 20))
            .connect(host: String(parts[0]), port: port)
            .whenComplete { result in
                self.connecting.withLock { _ = $0.remove(target) }
                switch result {
                case .success(let channel):
                    var buffer = channel.allocator.buffer(capacity: hello.utf8.count + 4)
                    buffer.writeInteger(UInt32(hello.utf8.count))
                    buffer.writeString(hello)
                    channel.writeAndFlush(buffer, promise: nil)
                    self.open.set(self.channels.withLock { channels in
                        channels[target] = channel
                        return channels.count
                    })
                    channel.closeFuture.whenComplete { _ in
                        self.open.set(self.channels.withLock { channels in
                            if channels[target] === channel { channels.removeValue(forKey: target) }
                            return channels.count
                        })
                    }
                case .failure(let error):
                    self.logger.warning("cannot open the media link", metadata: ["relay.cluster.peer": "\(target)", "error.type": "\(error)"])
                }
            }
    }

    /// Connects to the link at `address`, says hello and sends a probe frame; reports whether
    /// it was answered within `limit`, refused, or neither.
    func probe(_ address: String, within limit: Duration) async -> Probe {
        let parts = address.split(separator: ":")
        guard let secret = self.secret.withLock({ $0 }), parts.count == 2, let port = Int(parts[1]) else { return .silent }
        let answer = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: Void.self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(TimeAmount(limit))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LinkFrameDecoder()))
                        try channel.pipeline.syncOperations.addHandler(ProbeAnswerHandler(answer: answer))
                    }
                }
                .connect(host: String(parts[0]), port: port)
                .get()
        } catch {
            answer.fail(error)
            return Self.isRefusal(error) ? .refused : .silent
        }
        defer { channel.close(promise: nil) }
        let hello = "\(Self.magic) \(self.nodeID) \(secret)"
        var buffer = channel.allocator.buffer(capacity: hello.utf8.count + 9)
        buffer.writeInteger(UInt32(hello.utf8.count))
        buffer.writeString(hello)
        buffer.writeInteger(UInt32(1))
        buffer.writeInteger(Self.probeByte)
        channel.writeAndFlush(buffer, promise: nil)
        let timer = channel.eventLoop.scheduleTask(in: TimeAmount(limit)) {
            answer.fail(ChannelError.connectTimeout(.zero))
        }
        defer { timer.cancel() }
        do {
            try await answer.futureResult.get()
            return .answered
        } catch {
            return .silent
        }
    }

    private static func isRefusal(_ error: any Error) -> Bool {
        if let error = error as? IOError { return error.errnoCode == ECONNREFUSED }
        if let error = error as? NIOConnectionError { return error.connectionErrors.contains { Self.isRefusal($0.error) } }
        return false
    }

    // MARK: Receiving

    /// Whether `hello` is a valid first frame.
    func admits(_ hello: String) -> Bool {
        let parts = hello.split(separator: " ", maxSplits: 2)
        guard parts.count == 3, parts[0] == Self.magic, let secret = self.secret.withLock({ $0 }) else { return false }
        let given = Array(parts[2].utf8)
        let expected = Array(secret.utf8)
        guard given.count == expected.count else { return false }
        return zip(given, expected).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// An envelope another node sent over its link.
    func deliver(_ envelope: ByteBuffer) {
        self.received.increment()
        self.node.withLock { $0 }?.receive(envelope)
    }
}

/// Splits a link's byte stream into length-prefixed frames.
struct LinkFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    struct FrameTooLarge: Error {}

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return .needMoreData }
        guard length <= ClusterLinks.maximumFrame else { throw FrameTooLarge() }
        guard buffer.readableBytes >= 4 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        context.fireChannelRead(Self.wrapInboundOut(buffer.readSlice(length: Int(length))!))
        return .continue
    }
}

/// Checks a link's hello, then hands every frame to the kernel.
final class LinkInboundHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let links: ClusterLinks
    private let admitted = Atomic<Bool>(false)

    init(links: ClusterLinks) {
        self.links = links
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        if self.admitted.load(ordering: .relaxed) {
            if frame.readableBytes == 1, frame.getInteger(at: frame.readerIndex, as: UInt8.self) == ClusterLinks.probeByte {
                var answer = context.channel.allocator.buffer(capacity: 5)
                answer.writeInteger(UInt32(1))
                answer.writeInteger(ClusterLinks.probeByte)
                context.writeAndFlush(Self.wrapOutboundOut(answer), promise: nil)
                return
            }
            self.links.deliver(frame)
        } else if self.links.admits(String(buffer: frame)) {
            self.admitted.store(true, ordering: .relaxed)
        } else {
            self.links.logger.warning("refused a media link with a wrong hello")
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
