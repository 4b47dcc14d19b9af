import NIOCore
import Testing
@testable import RelayKernel

@Suite("InboundDecoder")
struct JSONInboundDecoderTests {
    private func text(_ string: String) -> JSONInboundDecoder.Result {
        JSONInboundDecoder.decode(.text, ByteBuffer(string: string))
    }

    private func binary(headerLength: UInt32? = nil, header: String, payload: [UInt8]) -> JSONInboundDecoder.Result {
        var buffer = ByteBuffer()
        buffer.writeInteger(headerLength ?? UInt32(header.utf8.count))
        buffer.writeString(header)
        buffer.writeBytes(payload)
        return JSONInboundDecoder.decode(.binary, buffer)
    }

    private func errorCode(_ result: JSONInboundDecoder.Result) -> String? {
        if case .error(let error, _) = result { return error.code.rawValue }
        return nil
    }

    private func message(_ result: JSONInboundDecoder.Result) -> (type: String, body: [String: JSONValue], payload: ByteBuffer?)? {
        if case .message(let type, let body, let payload) = result { return (type, body, payload) }
        return nil
    }

    @Test func validTextMessage() throws {
        let decoded = try #require(self.message(self.text(#"{"type":"publish","topic":"t","data":{"n":1}}"#)))
        #expect(decoded.type == "publish")
        #expect(decoded.body == ["type": "publish", "topic": "t", "data": ["n": 1]])
        #expect(decoded.payload == nil)
    }

    @Test(arguments: ["", "not json", "{", #"{"type":"a",}"#, #"{"type":"a"} trailing"#, "\"unterminated"])
    func notJSONIsBadJSON(text: String) {
        #expect(self.errorCode(self.text(text)) == "bad_json")
    }

    @Test func badJSONIsReportedBeforeAnyShapeCheck() {
        // Not an object AND not JSON: bad_json wins.
        #expect(self.errorCode(self.text("[1,")) == "bad_json")
        // A non-string type AND not JSON: bad_json wins.
        #expect(self.errorCode(self.text(#"{"type": 5"#)) == "bad_json")
    }

    @Test func badJSONMessageNamesReasonAndOffset() {
        guard case .error(let error, let ref) = self.text("[1 2]") else {
            Issue.record("expected an error")
            return
        }
        #expect(error.code == .badJSON)
        #expect(error.message.hasPrefix("not JSON: expected ',' or ']' at byte "))
        #expect(ref == nil)
    }

    @Test(arguments: ["[]", #"[{"type":"a"}]"#, #""publish""#, "42", "null", "true"])
    func nonObjectIsInvalidMessage(text: String) {
        guard case .error(let error, let ref) = self.text(text) else {
            Issue.record("expected an error for \(text)")
            return
        }
        #expect(error.code == .invalidMessage)
        #expect(error.message == "a message is a JSON object")
        #expect(ref == nil)
    }

    @Test(arguments: ["{}", #"{"topic":"t"}"#, #"{"type":5}"#, #"{"type":null}"#, #"{"type":["a"]}"#, #"{"type":{"a":1}}"#, #"{"type":true}"#, #"{"type":""}"#])
    func missingOrNonStringTypeIsInvalidMessage(text: String) {
        guard case .error(let error, _) = self.text(text) else {
            Issue.record("expected an error for \(text)")
            return
        }
        #expect(error.code == .invalidMessage)
        #expect(error.message == "a message needs a string 'type'")
    }

    @Test func binaryFrameHeaderAndPayload() throws {
        let decoded = try #require(self.message(self.binary(header: #"{"type":"frame","seq":7}"#, payload: [0, 1, 2, 255])))
        #expect(decoded.type == "frame")
        #expect(decoded.body == ["type": "frame", "seq": 7])
        let payload = try #require(decoded.payload)
        #expect(Array(payload.readableBytesView) == [0, 1, 2, 255])
    }

    @Test func binaryFrameWithEmptyPayload() throws {
        let decoded = try #require(self.message(self.binary(header: #"{"type":"frame"}"#, payload: [])))
        #expect(decoded.payload?.readableBytes == 0)
    }

    @Test func binaryHeaderMatchesWhatOutboundBinaryWrites() throws {
        let outbound = OutboundMessage.binary(header: ["type": "media", "n": 1], payload: ByteBuffer(bytes: [9, 8, 7]))
        #expect(outbound.kind == .binary)
        #expect(outbound.type == "media")
        let decoded = try #require(self.message(JSONInboundDecoder.decode(.binary, outbound.bytes)))
        #expect(decoded.type == "media")
        #expect(decoded.body["n"] == .int(1))
        #expect(decoded.payload.map { Array($0.readableBytesView) } == [9, 8, 7])
    }

    @Test func binaryFramesTooShortForTheirHeader() {
        #expect(self.errorCode(JSONInboundDecoder.decode(.binary, ByteBuffer())) == "invalid_message")
        #expect(self.errorCode(JSONInboundDecoder.decode(.binary, ByteBuffer(bytes: [0, 0, 1]))) == "invalid_message")
        // Declared header length beyond the frame.
        #expect(self.errorCode(self.binary(headerLength: 100, header: #"{"type":"a"}"#, payload: [1, 2])) == "invalid_message")
        #expect(self.errorCode(self.binary(headerLength: UInt32.max, header: #"{"type":"a"}"#, payload: [])) == "invalid_message")
    }

    @Test func binaryHeaderIsCheckedLikeAText() {
        // The header is only the declared length: the payload is not part of the JSON.
        #expect(self.errorCode(self.binary(headerLength: 5, header: #"{"type":"a"}"#, payload: [])) == "bad_json")
        #expect(self.errorCode(self.binary(header: "not json", payload: [1])) == "bad_json")
        #expect(self.errorCode(self.binary(header: "[1]", payload: [1])) == "invalid_message")
        #expect(self.errorCode(self.binary(header: #"{"type":1}"#, payload: [1])) == "invalid_message")
    }

    @Test func binaryHeaderLengthIsBigEndian() throws {
        let header = #"{"type":"be"}"#
        var buffer = ByteBuffer()
        buffer.writeBytes([0, 0, 0, UInt8(header.utf8.count)])
        buffer.writeString(header)
        buffer.writeString("tail")
        let decoded = try #require(self.message(JSONInboundDecoder.decode(.binary, buffer)))
        #expect(decoded.type == "be")
        #expect(decoded.payload.map { String(buffer: $0) } == "tail")
    }
}
