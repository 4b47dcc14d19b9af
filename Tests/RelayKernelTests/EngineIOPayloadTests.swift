import NIOCore
import NIOWebSocket
import Testing
@testable import RelayKernel

/// ``EngineIOPayload``: Engine.IO v4 long-polling bodies, packets joined by 0x1E, binary as
/// `b` + base64.
@Suite("EngineIOPayload")
struct EngineIOPayloadTests {
    private func decode(_ bytes: [UInt8]) throws(EngineIOPayload.Malformed) -> [(RelayMessage.Kind, [UInt8])] {
        try EngineIOPayload.decode(ByteBuffer(bytes: bytes)).map { ($0.kind, Array($0.data.readableBytesView)) }
    }

    @Test func onePacketIsOneTextMessage() throws {
        let messages = try self.decode(Array("42[\"hello\",1]".utf8))
        #expect(messages.count == 1)
        #expect(messages[0].0 == .text && messages[0].1 == Array("42[\"hello\",1]".utf8))
    }

    @Test func packetsAreSplitAtTheRecordSeparatorAndBinaryIsDecoded() throws {
        let body = Array("3".utf8) + [0x1E] + Array("451-[\"x\",{\"_placeholder\":true,\"num\":0}]".utf8) + [0x1E] + Array("bAQID".utf8)
        let messages = try self.decode(body)
        #expect(messages.map(\.0) == [.text, .text, .binary])
        #expect(messages[0].1 == Array("3".utf8))
        #expect(messages[2].1 == [1, 2, 3])
    }

    private static let malformed: [([UInt8], EngineIOPayload.Malformed)] = [
        ([], .emptyPacket),
        ([0x32, 0x1E], .emptyPacket),
        ([0x32, 0x1E, 0x1E, 0x33], .emptyPacket),
        ([0x62, 0x21, 0x21, 0x21], .badBase64),
        ([0x34, 0x32, 0xFF], .notUTF8),
        ([0x34, 0xE2, 0x82], .notUTF8),
    ]

    @Test(arguments: Self.malformed)
    func malformedBodiesAreRefused(body: [UInt8], expected: EngineIOPayload.Malformed) {
        #expect(throws: expected) { try self.decode(body) }
    }

    @Test func framesAreJoinedWithBinaryAsBase64() {
        var body = ByteBuffer()
        let frames = [
            WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: "2")),
            WebSocketFrame(fin: true, opcode: .binary, data: ByteBuffer(bytes: [1, 2, 3])),
            WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: "42[\"a\"]")),
        ]
        for frame in frames { EngineIOPayload.append(frame, to: &body) }
        #expect(Array(body.readableBytesView) == Array("2".utf8) + [0x1E] + Array("bAQID".utf8) + [0x1E] + Array("42[\"a\"]".utf8))
        #expect(frames.map(EngineIOPayload.encodedSize(of:)).reduce(0, +) == body.readableBytes + 1)
    }

    @Test func whatIsEncodedDecodesToTheSameMessages() throws {
        var body = ByteBuffer()
        EngineIOPayload.append(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: "40{\"token\":\"é\"}")), to: &body)
        EngineIOPayload.append(WebSocketFrame(fin: true, opcode: .binary, data: ByteBuffer(bytes: Array(0...255))), to: &body)
        let messages = try self.decode(Array(body.readableBytesView))
        #expect(messages.map(\.0) == [.text, .binary])
        #expect(messages[0].1 == Array("40{\"token\":\"é\"}".utf8))
        #expect(messages[1].1 == Array(0...255))
    }
}
