import CompressNIO
import NIOCore
import Testing
@testable import RelayKernel

/// ``MessageDeflater``: one sync-flushed raw deflate block per message, without its trailing
/// `00 00 FF FF` (RFC 7692 §7.2.1), with or without the context of earlier messages.
@Suite("MessageDeflater")
struct MessageDeflaterTests {
    private let allocator = ByteBufferAllocator()
    private let message = Array(String(repeating: "the relay compresses what it sends. ", count: 30).utf8)

    private func deflate(_ deflater: MessageDeflater, _ bytes: [UInt8]) throws -> ByteBuffer {
        try deflater.deflate(ByteBuffer(bytes: bytes), allocator: self.allocator)
    }

    /// Inflates with `decompressor` (a client's, kept across messages), the tail put back.
    private func inflate(_ payload: ByteBuffer, with decompressor: ZlibDecompressor) throws -> [UInt8] {
        var input = payload
        input.writeBytes([0x00, 0x00, 0xFF, 0xFF])
        var output = self.allocator.buffer(capacity: 1 << 16)
        do {
            try decompressor.inflate(from: &input, to: &output)
        } catch let error as CompressNIOError where error == .inputBufferOverflow {
            // All input consumed.
        }
        return Array(output.readableBytesView)
    }

    @Test func aMessageRoundTripsWithoutTheTrailingEmptyBlock() throws {
        let deflater = try MessageDeflater(PerMessageDeflate())
        let payload = try self.deflate(deflater, self.message)
        #expect(payload.readableBytes < self.message.count / 4)
        #expect(Array(payload.readableBytesView.suffix(4)) != [0x00, 0x00, 0xFF, 0xFF])
        #expect(try self.inflate(payload, with: ZlibDecompressor(algorithm: .deflate)) == self.message)
    }

    @Test func withContextTakeoverLaterMessagesReferToEarlierOnes() throws {
        let deflater = try MessageDeflater(PerMessageDeflate(serverNoContextTakeover: false))
        let first = try self.deflate(deflater, self.message)
        let second = try self.deflate(deflater, self.message)
        #expect(second.readableBytes < first.readableBytes)
        let client = try ZlibDecompressor(algorithm: .deflate)
        #expect(try self.inflate(first, with: client) == self.message)
        #expect(try self.inflate(second, with: client) == self.message)
    }

    @Test func withoutContextTakeoverEveryMessageInflatesOnItsOwn() throws {
        let deflater = try MessageDeflater(PerMessageDeflate(serverNoContextTakeover: true))
        let first = try self.deflate(deflater, self.message)
        let second = try self.deflate(deflater, self.message)
        #expect(first == second)
        #expect(try self.inflate(second, with: ZlibDecompressor(algorithm: .deflate)) == self.message)
    }

    @Test func theNegotiatedServerWindowIsUsed() throws {
        // Random 2000-byte blocks repeated: only a window wider than 2000 bytes can refer back to them.
        var state: UInt64 = 42
        let block = (0..<2000).map { _ -> UInt8 in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 56)
        }
        let text = block + block + block
        let wide = try self.deflate(try MessageDeflater(PerMessageDeflate()), text)
        let narrow = try self.deflate(try MessageDeflater(PerMessageDeflate(serverMaxWindowBits: 9)), text)
        #expect(wide.readableBytes < block.count + 100)
        #expect(narrow.readableBytes > text.count - 100)
        #expect(try self.inflate(narrow, with: ZlibDecompressor(algorithm: .deflate, windowSize: 9)) == text)
    }

    @Test func anEmptyMessageDeflatesToAValidPayload() throws {
        let deflater = try MessageDeflater(PerMessageDeflate())
        let payload = try self.deflate(deflater, [])
        #expect(try self.inflate(payload, with: ZlibDecompressor(algorithm: .deflate)).isEmpty)
    }
}
