import NIOCore
import Testing
@testable import RelayKernel

/// ``ClosePayload``: what a peer's close frame may carry (RFC 6455 §5.5.1, §7.4).
@Suite("ClosePayload")
struct ClosePayloadTests {
    /// `.valid(code)` as `code`, `.invalid(reason)` as its close code.
    private enum Verdict: Equatable {
        case valid(UInt16?)
        case invalid(CloseCode)
    }

    private func verdict(_ bytes: [UInt8]) -> Verdict {
        switch ClosePayload(ByteBuffer(bytes: bytes)) {
        case .valid(let code): .valid(code)
        case .invalid(let reason): .invalid(reason.code)
        }
    }

    private func payload(_ code: UInt16, _ reason: [UInt8] = []) -> [UInt8] {
        [UInt8(code >> 8), UInt8(code & 0xFF)] + reason
    }

    @Test func anEmptyPayloadIsACloseWithoutCode() {
        #expect(self.verdict([]) == .valid(nil))
    }

    @Test func aCodeAloneAndACodeWithAUTF8ReasonAreValid() {
        #expect(self.verdict(self.payload(1000)) == .valid(1000))
        #expect(self.verdict(self.payload(1001, Array("going away — κόσμε".utf8))) == .valid(1001))
    }

    @Test func aOneBytePayloadIsAProtocolError() {
        #expect(self.verdict([0x03]) == .invalid(.protocolError))
    }

    @Test(arguments: [UInt16(1000), 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999])
    func definedRegisteredAndPrivateCodesMayBeSent(_ code: UInt16) {
        #expect(ClosePayload.isSendable(code))
        #expect(self.verdict(self.payload(code)) == .valid(code))
    }

    /// 1004 is reserved, 1005, 1006 and 1015 are for local use only, 1016...2999 are reserved
    /// for the protocol, and nothing is defined below 1000 or above 4999.
    @Test(arguments: [UInt16(0), 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535])
    func reservedAndLocalCodesAreProtocolErrors(_ code: UInt16) {
        #expect(!ClosePayload.isSendable(code))
        #expect(self.verdict(self.payload(code)) == .invalid(.protocolError))
    }

    @Test func aReasonThatIsNotUTF8IsAnInvalidPayload() {
        #expect(self.verdict(self.payload(1000, [0xFF])) == .invalid(.invalidPayload))
        // A reason cut inside a character.
        #expect(self.verdict(self.payload(1000, [0xCE, 0xBA, 0xE1, 0xBD])) == .invalid(.invalidPayload))
    }

    @Test func aBadCodeIsReportedBeforeABadReason() {
        #expect(self.verdict(self.payload(1005, [0xFF])) == .invalid(.protocolError))
    }
}
