import Metrics
import NIOCore
import NIOEmbedded
import NIOWebSocket
import Synchronization
import Testing

@testable import RelayKernel

/// The event-loop writer on an embedded channel: batching with one flush, order, a channel
/// that stops taking frames, and the end of writing (a close requested, or a close frame
/// written by someone else).
@Suite("ChannelFrameWriter")
struct ChannelFrameWriterTests {
    @Test func aWakeUpWritesEverythingQueuedInOrderWithOneFlush() throws {
        let rig = try WriterRig()
        for n in 1...5 { _ = rig.session.enqueue(numbered(n), policy: .close, counter: nil) }
        rig.channel.embeddedEventLoop.run()
        #expect(try rig.written() == [1, 2, 3, 4, 5])
        #expect(rig.flushes.count == 1)
    }

    @Test func anUnwritableChannelKeepsTheRestQueuedUntilItDrains() throws {
        let rig = try WriterRig()
        rig.channel.isWritable = false
        for n in 1...3 { _ = rig.session.enqueue(numbered(n), policy: .close, counter: nil) }
        rig.channel.embeddedEventLoop.run()
        #expect(try rig.written().isEmpty)
        #expect(rig.control.currentWriteDuration != nil)  // the watchdog sees a blocked write
        #expect(rig.session.pendingCount == 2)  // one frame taken and kept by the writer

        rig.channel.isWritable = true
        rig.channel.pipeline.fireChannelWritabilityChanged()
        #expect(try rig.written() == [1, 2, 3])
        #expect(rig.control.currentWriteDuration == nil)
    }

    @Test func aRequestedCloseWritesTheDirectFramesThenFinishesOnce() throws {
        let rig = try WriterRig()
        rig.control.sendDirect(numbered(0))
        rig.control.requestClose(CloseReason(.normal, "bye"))
        _ = rig.session.enqueue(numbered(1), policy: .close, counter: nil)
        rig.channel.embeddedEventLoop.run()
        #expect(try rig.written() == [0])
        #expect(rig.finished.count == 1)

        _ = rig.session.enqueue(numbered(2), policy: .close, counter: nil)
        rig.channel.embeddedEventLoop.run()
        #expect(try rig.written().isEmpty)
        #expect(rig.finished.count == 1)
    }

    @Test func aCloseFrameWrittenBehindTheWriterStopsIt() throws {
        let rig = try WriterRig()
        var payload = rig.channel.allocator.buffer(capacity: 2)
        payload.writeInteger(UInt16(1000))
        try rig.channel.writeOutbound(WebSocketFrame(fin: true, opcode: .connectionClose, data: payload))
        #expect(try rig.channel.readOutbound(as: WebSocketFrame.self)?.opcode == .connectionClose)

        _ = rig.session.enqueue(numbered(1), policy: .close, counter: nil)
        rig.channel.embeddedEventLoop.run()
        #expect(try rig.written().isEmpty)
    }

    @Test func aClosedChannelReleasesTheWriter() throws {
        let rig = try WriterRig()
        #expect(rig.control.hasChannelWriter)
        _ = try rig.channel.finish()
        #expect(!rig.control.hasChannelWriter)  // no cycle keeps the writer, control and channel alive
        _ = rig.session.enqueue(numbered(1), policy: .close, counter: nil)
        rig.channel.embeddedEventLoop.run()
        #expect(rig.finished.count == 0)
    }
}

/// An embedded channel with a ``ChannelFrameWriter`` installed as ``RelayConnection`` does, a
/// session attached, and a handler at the head counting flushes.
private struct WriterRig {
    let channel = EmbeddedChannel()
    let control: ConnectionControl
    let session: ClientSession
    let flushes = Tally()
    let finished = Tally()

    init() throws {
        self.control = ConnectionControl(channel: self.channel)
        let writer = ChannelFrameWriter(control: self.control, socketIO: false, latency: RelayMetrics().deliveryLatency) { [finished] in
            finished.add()
        }
        try self.channel.pipeline.syncOperations.addHandler(FlushCounter(tally: self.flushes))
        try self.channel.pipeline.syncOperations.addHandler(writer)
        self.control.install(NIOLoopBound(writer, eventLoop: self.channel.eventLoop))
        self.session = DeliveryHarness().session("c", control: self.control).session
        self.control.attach(self.session, generation: self.session.generation)
        self.channel.embeddedEventLoop.run()
    }

    /// The `n` of every frame written since the last call.
    func written() throws -> [Int] {
        var numbers: [Int] = []
        while let frame = try self.channel.readOutbound(as: WebSocketFrame.self) {
            #expect(frame.opcode == .text && frame.fin)
            let value = try JSONParser.parse(frame.unmaskedData.readableBytesView)
            numbers.append(try #require(value["n"]?.intValue))
        }
        return numbers
    }
}

private final class Tally: Sendable {
    private let value = Mutex(0)
    func add() { self.value.withLock { $0 += 1 } }
    var count: Int { self.value.withLock { $0 } }
}

private final class FlushCounter: ChannelOutboundHandler, Sendable {
    typealias OutboundIn = WebSocketFrame
    let tally: Tally

    init(tally: Tally) {
        self.tally = tally
    }

    func flush(context: ChannelHandlerContext) {
        self.tally.add()
        context.flush()
    }
}
