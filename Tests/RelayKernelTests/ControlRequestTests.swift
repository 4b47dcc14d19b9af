import NIOCore
import Testing
@testable import RelayKernel

@Suite("ControlRequest")
struct ControlRequestTests {
    @Test(arguments: [
        ControlRequest.info,
        .clients(userId: "alice"),
        .disconnect(.user("alice"), close: CloseReason(.policyViolation, "revoked")),
        .disconnect(.client(ClientID("c1")), close: CloseReason(.normal, "moved")),
    ])
    func travelsAsJSON(request: ControlRequest) {
        #expect(ControlRequest(json: request.json) == request)
    }

    @Test func anythingElseIsNotARequest() {
        for json: JSONValue in [["op": "reboot"], ["op": "clients"], ["op": "disconnect", "code": 1008, "reason": "x"],
                                ["op": "disconnect", "userId": "a", "code": 4000, "reason": "x"], "info"] {
            #expect(ControlRequest(json: json) == nil, "\(json)")
        }
    }

    @Test func disconnectBodiesAreCheckedFieldByField() throws {
        func body(_ text: String) throws(RelayError) -> (ClientSelector, CloseReason) {
            try ServerAPI.disconnectRequest(ByteBuffer(string: text))
        }
        let (selector, close) = try body(#"{"userId":"alice"}"#)
        #expect(selector == .user("alice") && close == CloseReason(.policyViolation, "revoked"))
        let custom = try body(#"{"clientId":"c1","code":1013,"reason":"move"}"#)
        #expect(custom.0 == .client(ClientID("c1")) && custom.1 == CloseReason(.tryAgainLater, "move"))
        for (text, code) in [("nope", "bad_json"), ("[]", "invalid_message"), ("{}", "invalid_message"),
                             (#"{"userId":"a","clientId":"b"}"#, "invalid_message"), (#"{"userId":1}"#, "invalid_message"),
                             (#"{"userId":"a","code":1002}"#, "invalid_message"),
                             (#"{"userId":"a","reason":"\#(String(repeating: "é", count: 62))"}"#, "invalid_message")] {
            #expect(throws: RelayError.self, "\(text)") { try body(text) }
            do {
                _ = try body(text)
            } catch {
                #expect(error.code.rawValue == code, "\(text)")
            }
        }
    }
}
