import NIOCore
import NIOWebSocket
import Testing
@testable import RelayKernel

/// `CloseReason.frame(allocator:)`: the close frame the relay sends for a reason.
@Suite("CloseReason+Frame")
struct CloseReasonFrameTests {
    @Test func theFrameCarriesTheCodeThenTheReason() {
        let frame = CloseReason(.messageTooBig, "too big").frame(allocator: ByteBufferAllocator())
        #expect(frame.fin)
        #expect(frame.opcode == .connectionClose)
        #expect(frame.maskKey == nil)
        #expect(!frame.rsv1 && !frame.rsv2 && !frame.rsv3)
        #expect(Array(frame.data.readableBytesView) == [0x03, 0xF1] + Array("too big".utf8))
    }

    @Test func aLongReasonIsCutToFitAControlFrameAtACharacterBoundary() {
        // 200 bytes of two-byte characters: 123 bytes would split one.
        let frame = CloseReason(.internalError, String(repeating: "é", count: 100)).frame(allocator: ByteBufferAllocator())
        let payload = Array(frame.data.readableBytesView)
        #expect(payload.count <= 125)
        #expect(payload.count == 2 + 122)
        #expect(String(validating: payload.dropFirst(2), as: UTF8.self) == String(repeating: "é", count: 61))
    }

    @Test func aReasonOf123BytesIsKeptWhole() {
        let reason = String(repeating: "r", count: 123)
        let frame = CloseReason(.normal, reason).frame(allocator: ByteBufferAllocator())
        #expect(frame.data.readableBytes == 125)
    }
}
