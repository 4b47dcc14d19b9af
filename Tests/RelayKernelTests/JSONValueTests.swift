import NIOCore
import Testing
@testable import RelayKernel

@Suite("JSONValue serialization")
struct JSONValueTests {
    private func roundTrip(_ value: JSONValue) throws -> JSONValue {
        try JSONParser.parse(Array(value.jsonText.utf8))
    }

    @Test func scalarsSerializeCompactly() {
        #expect(JSONValue.null.jsonText == "null")
        #expect(JSONValue.bool(true).jsonText == "true")
        #expect(JSONValue.bool(false).jsonText == "false")
        #expect(JSONValue.int(-42).jsonText == "-42")
        #expect(JSONValue.int(Int.min).jsonText == "-9223372036854775808")
        #expect(JSONValue.double(2.5).jsonText == "2.5")
        #expect(JSONValue.string("hi").jsonText == #""hi""#)
    }

    @Test func integralDoublesAreWrittenAsIntegers() {
        #expect(JSONValue.double(3.0).jsonText == "3")
        #expect(JSONValue.double(-0.0).jsonText == "0")
        #expect(JSONValue.double(1e14).jsonText == "100000000000000")
    }

    @Test func nonFiniteDoublesBecomeNull() {
        #expect(JSONValue.double(.nan).jsonText == "null")
        #expect(JSONValue.double(.infinity).jsonText == "null")
        #expect(JSONValue.double(-.infinity).jsonText == "null")
    }

    @Test func objectKeysAreSortedAndContainersCompact() {
        let value: JSONValue = ["b": 1, "a": [true, nil, "x"], "c": [:]]
        #expect(value.jsonText == #"{"a":[true,null,"x"],"b":1,"c":{}}"#)
        #expect(JSONValue.array([]).jsonText == "[]")
    }

    @Test func stringEscaping() {
        #expect(JSONValue.string("q\"b\\s/").jsonText == #""q\"b\\s/""#)
        #expect(JSONValue.string("l\nr\rt\t").jsonText == #""l\nr\rt\t""#)
        #expect(JSONValue.string("\u{0}\u{1}\u{8}\u{C}\u{1F}").jsonText == #""\u0000\u0001\u0008\u000c\u001f""#)
        #expect(JSONValue.string("é😀\u{7F}").jsonText == "\"é😀\u{7F}\"")
    }

    @Test(arguments: [
        JSONValue.null,
        .bool(true),
        .int(0),
        .int(Int.max),
        .int(Int.min),
        .double(0.1),
        .double(-2.5e-8),
        .double(1.7976931348623157e308),
        .double(1e15 + 0.5),
        .string(""),
        .string("quote \" backslash \\ slash / newline \n tab \t nul \u{0} bell \u{7} emoji 😀 cjk 中文"),
        .array([.int(1), .double(1.5), .string("x"), .null, .array([]), .object([:])]),
        .object([
            "type": "publish",
            "data": ["nested": ["deep": [1, 2, ["k": "v"]]]],
            "with \"quotes\"": "and\nlines",
            "": .bool(false),
        ]),
    ])
    func roundTripPreservesTheValue(value: JSONValue) throws {
        #expect(try self.roundTrip(value) == value)
    }

    @Test func integralDoublesRoundTripAsEqualNumbers() throws {
        let parsed = try self.roundTrip(.double(4.0))
        #expect(parsed == .int(4))
        #expect(parsed.doubleValue == 4.0)
    }

    @Test func writeAppendsToAnExistingBuffer() {
        var buffer = ByteBuffer(string: "prefix:")
        JSONValue.array([1, "a"]).write(into: &buffer)
        #expect(String(buffer: buffer) == #"prefix:[1,"a"]"#)
    }

    @Test func outboundJSONKeepsFieldOrderAndTypeFirst() {
        let ordered = OutboundMessage.json(type: "message", ["topic": "t", "data": ["x": 1]])
        #expect(String(buffer: ordered.bytes) == #"{"type":"message","topic":"t","data":{"x":1}}"#)
        let sorted = OutboundMessage.json(type: "connected", fields: ["z": 1, "a": true, "type": "ignored"])
        #expect(String(buffer: sorted.bytes) == #"{"type":"connected","a":true,"z":1}"#)
        #expect(sorted.type == "connected")
        #expect(sorted.kind == .text)
    }
}
