import NIOCore
import NIOWebSocket
import Testing
@testable import RelayKernel
@testable import WSCore

/// Holds an assembler so `#expect` can call its mutating `append`.
final class AssemblerBox {
    var assembler: MessageAssembler
    init(maxSize: Int) { self.assembler = MessageAssembler(maxSize: maxSize) }
    func append(_ frame: WebSocketDataFrame) -> MessageAssembler.Output { self.assembler.append(frame) }
}

@Suite("MessageAssembler")
struct MessageAssemblerTests {
    private func frame(_ opcode: WebSocketOpcode, _ text: String, fin: Bool = true) throws -> WebSocketDataFrame {
        try #require(WebSocketDataFrame(from: WebSocketFrame(fin: fin, opcode: opcode, data: ByteBuffer(string: text))))
    }

    private func frame(_ opcode: WebSocketOpcode, bytes count: Int, fin: Bool = true) throws -> WebSocketDataFrame {
        try #require(
            WebSocketDataFrame(from: WebSocketFrame(fin: fin, opcode: opcode, data: ByteBuffer(repeating: UInt8(ascii: "x"), count: count)))
        )
    }

    private func message(_ output: MessageAssembler.Output) -> (RelayMessage.Kind, String)? {
        if case .message(let kind, let buffer) = output { return (kind, String(buffer: buffer)) }
        return nil
    }

    private func isIncomplete(_ output: MessageAssembler.Output) -> Bool {
        if case .incomplete = output { return true }
        return false
    }

    private func closeReason(_ output: MessageAssembler.Output) -> CloseReason? {
        if case .close(let reason) = output { return reason }
        return nil
    }

    @Test func singleFrames() throws {
        let assembler = AssemblerBox(maxSize: 100)
        let text = self.message(assembler.append(try self.frame(.text, #"{"type":"ping"}"#)))
        #expect(text?.0 == .text)
        #expect(text?.1 == #"{"type":"ping"}"#)
        let binary = self.message(assembler.append(try self.frame(.binary, "bin")))
        #expect(binary?.0 == .binary)
        #expect(binary?.1 == "bin")
    }

    @Test func fragmentsAreJoined() throws {
        let assembler = AssemblerBox(maxSize: 100)
        #expect(self.isIncomplete(assembler.append(try self.frame(.text, "{\"type\":", fin: false))))
        #expect(self.isIncomplete(assembler.append(try self.frame(.continuation, "\"pi", fin: false))))
        #expect(self.isIncomplete(assembler.append(try self.frame(.continuation, "", fin: false))))
        let joined = self.message(assembler.append(try self.frame(.continuation, "ng\"}")))
        #expect(joined?.0 == .text)
        #expect(joined?.1 == #"{"type":"ping"}"#)
        // The assembler is ready for the next message.
        #expect(self.message(assembler.append(try self.frame(.text, "next")))?.1 == "next")
    }

    @Test func fragmentedBinaryKeepsItsKind() throws {
        let assembler = AssemblerBox(maxSize: 100)
        #expect(self.isIncomplete(assembler.append(try self.frame(.binary, "ab", fin: false))))
        let joined = self.message(assembler.append(try self.frame(.continuation, "cd")))
        #expect(joined?.0 == .binary)
        #expect(joined?.1 == "abcd")
    }

    @Test func sizeLimitIsInclusiveForSingleFrames() throws {
        let assembler = AssemblerBox(maxSize: 16)
        #expect(self.message(assembler.append(try self.frame(.text, bytes: 16)))?.1.utf8.count == 16)
        #expect(self.closeReason(assembler.append(try self.frame(.text, bytes: 17))) == CloseReason(.messageTooBig, "message too large"))
    }

    @Test func sizeLimitIsInclusiveAcrossFragments() throws {
        let assembler = AssemblerBox(maxSize: 16)
        #expect(self.isIncomplete(assembler.append(try self.frame(.text, bytes: 10, fin: false))))
        #expect(self.message(assembler.append(try self.frame(.continuation, bytes: 6)))?.1.utf8.count == 16)

        let over = AssemblerBox(maxSize: 16)
        #expect(self.isIncomplete(over.append(try self.frame(.text, bytes: 10, fin: false))))
        #expect(self.isIncomplete(over.append(try self.frame(.continuation, bytes: 6, fin: false))))
        #expect(self.closeReason(over.append(try self.frame(.continuation, bytes: 1))) == CloseReason(.messageTooBig, "message too large"))
    }

    @Test func firstFragmentOverTheLimitClosesAtOnce() throws {
        let assembler = AssemblerBox(maxSize: 16)
        #expect(self.closeReason(assembler.append(try self.frame(.binary, bytes: 17, fin: false)))?.code == .messageTooBig)
    }

    @Test func continuationWithoutStartIsAProtocolError() throws {
        let assembler = AssemblerBox(maxSize: 100)
        #expect(
            self.closeReason(assembler.append(try self.frame(.continuation, "x")))
                == CloseReason(.protocolError, "continuation without a message")
        )
        #expect(self.closeReason(assembler.append(try self.frame(.continuation, "x", fin: false)))?.code == .protocolError)
    }

    @Test func continuationAfterACompleteMessageIsAProtocolError() throws {
        let assembler = AssemblerBox(maxSize: 100)
        #expect(self.isIncomplete(assembler.append(try self.frame(.text, "a", fin: false))))
        #expect(self.message(assembler.append(try self.frame(.continuation, "b"))) != nil)
        #expect(self.closeReason(assembler.append(try self.frame(.continuation, "c")))?.code == .protocolError)
    }

    @Test func newMessageInsideAFragmentedOneIsAProtocolError() throws {
        let assembler = AssemblerBox(maxSize: 100)
        #expect(self.isIncomplete(assembler.append(try self.frame(.text, "a", fin: false))))
        #expect(
            self.closeReason(assembler.append(try self.frame(.binary, "b")))
                == CloseReason(.protocolError, "new message inside a fragmented one")
        )
    }
}
