import CompressNIO
import NIOCore
import Testing
@testable import RelayKernel

/// ``MessageInflater``: a peer's compressed messages inflated per frame (RFC 7692 §7.2.2), never
/// past the message limit. The payloads of RFC 7692 §7.2.3 are used as they are printed there.
@Suite("MessageInflater")
struct MessageInflaterTests {
    private let allocator = ByteBufferAllocator()

    private func inflater(clientNoContextTakeover: Bool = false, clientMaxWindowBits: Int = 15) throws -> MessageInflater {
        try MessageInflater(PerMessageDeflate(clientNoContextTakeover: clientNoContextTakeover, clientMaxWindowBits: clientMaxWindowBits))
    }

    private func inflate(_ inflater: MessageInflater, _ bytes: [UInt8], final: Bool = true, limit: Int = 1 << 16) throws(MessageInflater.Failure) -> [UInt8] {
        Array(try inflater.inflate(ByteBuffer(bytes: bytes), final: final, limit: limit, allocator: self.allocator).readableBytesView)
    }

    /// Raw deflate with a sync flush, without the trailing `00 00 FF FF`.
    private func deflate(_ bytes: [UInt8], compressor: ZlibCompressor? = nil) throws -> [UInt8] {
        let compressor = try compressor ?? ZlibCompressor(algorithm: .deflate)
        var input = ByteBuffer(bytes: bytes)
        var output = self.allocator.buffer(capacity: compressor.maxSize(from: input))
        try compressor.deflate(from: &input, to: &output, flush: .sync)
        return Array(output.readableBytesView.dropLast(4))
    }

    private let hello = Array("Hello".utf8)

    // MARK: RFC 7692 §7.2.3

    @Test func aMessageInOneCompressedBlock() throws {
        #expect(try self.inflate(try self.inflater(), [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00]) == self.hello)
    }

    @Test func aMessageSplitOverTwoFrames() throws {
        let inflater = try self.inflater()
        let first = try self.inflate(inflater, [0xF2, 0x48, 0xCD], final: false)
        let second = try self.inflate(inflater, [0xC9, 0xC9, 0x07, 0x00])
        #expect(first + second == self.hello)
    }

    @Test func theSecondMessageSharesTheFirstsWindow() throws {
        let inflater = try self.inflater()
        #expect(try self.inflate(inflater, [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00]) == self.hello)
        #expect(try self.inflate(inflater, [0xF2, 0x00, 0x11, 0x00, 0x00]) == self.hello)
    }

    @Test func aMessageInAStoredBlock() throws {
        #expect(try self.inflate(try self.inflater(), [0x00, 0x05, 0x00, 0xFA, 0xFF, 0x48, 0x65, 0x6C, 0x6C, 0x6F, 0x00]) == self.hello)
    }

    @Test func aMessageInTwoBlocks() throws {
        let payload: [UInt8] = [0xF2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xCA, 0xC9, 0xC9, 0x07, 0x00]
        #expect(try self.inflate(try self.inflater(), payload) == self.hello)
    }

    /// §7.2.3.4: a sender may end a message with a block whose BFINAL bit is set (plus one 0x00
    /// octet). Every such message must inflate, not only the connection's first.
    @Test func messagesEndingInABFINALBlockAllInflate() throws {
        let bfinal: [UInt8] = [0xF3, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00, 0x00]
        let inflater = try self.inflater()
        #expect(try self.inflate(inflater, bfinal) == self.hello)
        #expect(try self.inflate(inflater, bfinal) == self.hello)
    }

    @Test func messagesEndingInABFINALBlockInflateWhenTheClientResets() throws {
        let bfinal: [UInt8] = [0xF3, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00, 0x00]
        let inflater = try self.inflater(clientNoContextTakeover: true)
        #expect(try self.inflate(inflater, bfinal) == self.hello)
        #expect(try self.inflate(inflater, bfinal) == self.hello)
    }

    // MARK: Limit

    @Test func aMessageAtTheLimitInflatesAndOneByteMoreIsTooLarge() throws {
        let message = Array(repeating: UInt8(ascii: "z"), count: 5000)
        #expect(try self.inflate(try self.inflater(), try self.deflate(message), limit: 5000) == message)
        #expect(throws: MessageInflater.Failure.tooLarge) {
            try self.inflate(try self.inflater(), try self.deflate(message), limit: 4999)
        }
    }

    @Test func aDecompressionBombStopsAtTheLimit() throws {
        // 4 MiB of zeros is about 4 KiB compressed.
        let bomb = try self.deflate(Array(repeating: 0, count: 4 << 20))
        #expect(bomb.count < 5_000)
        #expect(throws: MessageInflater.Failure.tooLarge) {
            try self.inflate(try self.inflater(), bomb, limit: 65_536)
        }
    }

    @Test func theLimitCountsWhatAFrameProducesNotWhatItCarries() throws {
        // A frame of 12 bytes that produces 1000.
        let frame = try self.deflate(Array(repeating: 1, count: 1000))
        #expect(frame.count < 20)
        #expect(throws: MessageInflater.Failure.tooLarge) {
            try self.inflate(try self.inflater(), frame, final: false, limit: 999)
        }
    }

    @Test func largeMessagesInflateWholeInsideTheLimit() throws {
        // Output grows past its first guess several times.
        var random = UInt64(0x1234_5678)
        let message = (0..<300_000).map { index -> UInt8 in
            random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return index % 3 == 0 ? UInt8(truncatingIfNeeded: random >> 56) : UInt8(ascii: "a")
        }
        #expect(try self.inflate(try self.inflater(), try self.deflate(message), limit: 300_000) == message)
    }

    // MARK: Corruption and windows

    @Test func corruptDataIsReportedAsCorrupt() throws {
        #expect(throws: MessageInflater.Failure.corrupt) {
            try self.inflate(try self.inflater(), [0xFF, 0xFF, 0xFF, 0xFF])
        }
    }

    @Test func aDistanceBeyondWhatWasInflatedIsCorrupt() throws {
        // A reference into a window that does not exist (the client kept context the server does not have).
        let compressor = try ZlibCompressor(algorithm: .deflate)
        _ = try self.deflate(self.hello, compressor: compressor)
        let second = try self.deflate(self.hello, compressor: compressor)
        #expect(throws: MessageInflater.Failure.corrupt) {
            try self.inflate(try self.inflater(), second)
        }
    }

    @Test func clientNoContextTakeoverStartsEveryMessageWithAnEmptyWindow() throws {
        let inflater = try self.inflater(clientNoContextTakeover: true)
        #expect(try self.inflate(inflater, [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00]) == self.hello)
        // §7.2.3.2's second message needs the first one's window, which was dropped.
        #expect(throws: MessageInflater.Failure.corrupt) {
            try self.inflate(inflater, [0xF2, 0x00, 0x11, 0x00, 0x00])
        }
    }

    @Test func aClientWindowOf8BitsIsInflatedWith9() throws {
        // zlib cannot inflate raw deflate with 8 bits; a wider window is always correct.
        let inflater = try self.inflater(clientMaxWindowBits: 8)
        let message = Array(String(repeating: "window of eight ", count: 40).utf8)
        let compressor = try ZlibCompressor(algorithm: .deflate, configuration: ZlibConfiguration(windowSize: 9, compressionLevel: 6, memoryLevel: 8))
        #expect(try self.inflate(inflater, try self.deflate(message, compressor: compressor)) == message)
    }
}
