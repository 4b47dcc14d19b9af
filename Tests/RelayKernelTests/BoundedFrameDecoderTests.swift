import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing
@testable import RelayKernel

/// ``BoundedFrameDecoder``: NIO's frame decoder with a limit that follows the message being
/// received. A handler after it narrows the ``FrameBound`` while it handles a fragment; the next
/// frame, even in the same read, is held to the new limit from its header alone.
@Suite("BoundedFrameDecoder")
struct BoundedFrameDecoderTests {
    private static let maskKey: WebSocketMaskingKey = [0xA1, 0xB2, 0xC3, 0xD4]

    /// The wire form of a masked client frame; `announced` overrides the length in the header and
    /// `payload: false` leaves the payload out (a header still arriving).
    private func wire(_ opcode: UInt8, fin: Bool = true, count: Int, announced: Int? = nil, payload: Bool = true) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger((fin ? 0x80 : 0) | opcode)
        let length = announced ?? count
        switch length {
        case ..<126:
            buffer.writeInteger(UInt8(0x80 | length))
        case ...0xFFFF:
            buffer.writeInteger(UInt8(0x80 | 126))
            buffer.writeInteger(UInt16(length))
        default:
            buffer.writeInteger(UInt8(0x80 | 127))
            buffer.writeInteger(UInt64(length))
        }
        buffer.writeBytes(Self.maskKey)
        if payload {
            var data = ByteBuffer(repeating: UInt8(ascii: "x"), count: count)
            data.webSocketMask(Self.maskKey)
            buffer.writeBuffer(&data)
        }
        return buffer
    }

    /// Narrows the bound as ``WebSocketProtocolHandler`` does: by what a fragmented message may
    /// still grow by, reset after its last frame.
    private final class Narrower: ChannelInboundHandler {
        typealias InboundIn = WebSocketFrame
        typealias InboundOut = WebSocketFrame
        let bound: FrameBound
        private var size = 0

        init(bound: FrameBound) { self.bound = bound }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let frame = Self.unwrapInboundIn(data)
            if !frame.opcode.isControlOpcode {
                self.size += frame.length
                if frame.fin {
                    self.size = 0
                    self.bound.reset()
                } else {
                    self.bound.narrow(to: self.bound.messageStart - self.size)
                }
            }
            context.fireChannelRead(data)
        }
    }

    private func channel(limit: Int) throws -> EmbeddedChannel {
        let bound = FrameBound(messageStart: limit)
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(BoundedFrameDecoder(bound: bound)))
        try channel.pipeline.syncOperations.addHandler(Narrower(bound: bound))
        return channel
    }

    /// A decoded frame's header.
    private struct Decoded: Equatable {
        let opcode: WebSocketOpcode
        let fin: Bool
        let length: Int
        init(_ opcode: WebSocketOpcode, fin: Bool, _ length: Int) {
            self.opcode = opcode
            self.fin = fin
            self.length = length
        }
    }

    /// Every frame decoded so far.
    private func frames(_ channel: EmbeddedChannel) throws -> [Decoded] {
        var frames: [Decoded] = []
        while let frame = try channel.readInbound(as: WebSocketFrame.self) {
            frames.append(Decoded(frame.opcode, fin: frame.fin, frame.length))
        }
        return frames
    }

    @Test func framesAreDecodedAndLeftMaskedAsNIODoes() throws {
        let channel = try self.channel(limit: 100)
        var data = ByteBuffer(string: "hello")
        data.webSocketMask(Self.maskKey)
        var wire = ByteBuffer(bytes: [0x81, 0x85])
        wire.writeBytes(Self.maskKey)
        wire.writeBuffer(&data)
        try channel.writeInbound(wire)
        let frame = try #require(try channel.readInbound(as: WebSocketFrame.self))
        #expect(frame.opcode == .text && frame.fin)
        #expect(frame.maskKey == Self.maskKey)
        #expect(String(buffer: frame.unmaskedData) == "hello")
    }

    @Test func aFrameAtTheLimitPassesAndALargerOneIsRefusedFromItsHeader() throws {
        let channel = try self.channel(limit: 1000)
        try channel.writeInbound(self.wire(0x2, count: 1000))
        #expect(try self.frames(channel) == [Decoded(.binary, fin: true, 1000)])
        // Only the header of a 1001-byte frame has arrived.
        #expect(throws: NIOWebSocketError.invalidFrameLength) {
            try channel.writeInbound(self.wire(0x2, count: 0, announced: 1001, payload: false))
        }
    }

    @Test func aNarrowedLimitHoldsTheNextFrameInTheSameRead() throws {
        let channel = try self.channel(limit: 1000)
        var read = self.wire(0x1, fin: false, count: 600)
        var next = self.wire(0x0, count: 0, announced: 401, payload: false)
        read.writeBuffer(&next)
        #expect(throws: NIOWebSocketError.invalidFrameLength) { try channel.writeInbound(read) }
        #expect(try self.frames(channel) == [Decoded(.text, fin: false, 600)])
    }

    @Test func fragmentsWithinTheNarrowedLimitPassAndTheLimitReturnsAfterTheLastOne() throws {
        let channel = try self.channel(limit: 1000)
        var read = self.wire(0x1, fin: false, count: 600)
        for var frame in [self.wire(0x0, fin: false, count: 300), self.wire(0x0, count: 100), self.wire(0x2, count: 1000)] {
            read.writeBuffer(&frame)
        }
        try channel.writeInbound(read)
        #expect(
            try self.frames(channel) == [
                Decoded(.text, fin: false, 600),
                Decoded(.continuation, fin: false, 300),
                Decoded(.continuation, fin: true, 100),
                Decoded(.binary, fin: true, 1000),
            ]
        )
    }

    @Test func controlFramesStillPassWhenAMessageHasNoRoomLeft() throws {
        let channel = try self.channel(limit: 1000)
        var read = self.wire(0x1, fin: false, count: 1000)
        var ping = self.wire(0x9, count: 125)
        read.writeBuffer(&ping)
        try channel.writeInbound(read)
        #expect(try self.frames(channel) == [Decoded(.text, fin: false, 1000), Decoded(.ping, fin: true, 125)])
        #expect(throws: NIOWebSocketError.invalidFrameLength) {
            try channel.writeInbound(self.wire(0x0, count: 0, announced: 126, payload: false))
        }
    }

    @Test func withTheProtocolHandlerAnOversizedFragmentHeaderClosesWith1009() throws {
        let bound = FrameBound(messageStart: 1000)
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(BoundedFrameDecoder(bound: bound)))
        try channel.pipeline.syncOperations.addHandler(
            WebSocketProtocolHandler(
                configuration: .init(maxMessageBytes: 1000, deflate: nil, heartbeatInterval: nil, closeTimeout: .seconds(5)),
                frameBound: bound,
                loop: nil
            )
        )
        try channel.writeInbound(self.wire(0x2, fin: false, count: 700))
        #expect(bound.maxFrameSize == 300)
        try channel.writeInbound(self.wire(0x0, count: 0, announced: 301, payload: false))
        let close = try #require(try channel.readOutbound(as: WebSocketFrame.self))
        #expect(close.opcode == .connectionClose)
        #expect(Array(close.data.readableBytesView.prefix(2)) == [0x03, 0xF1])
        #expect(bound.maxFrameSize == 1000)
        #expect(try channel.readInbound(as: WebSocketMessage.self) == nil)
    }
}
