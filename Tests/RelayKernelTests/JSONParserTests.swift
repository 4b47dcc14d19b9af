import Testing
@testable import RelayKernel

@Suite("JSONParser")
struct JSONParserTests {
    private func parse(_ text: String) throws(JSONParser.SyntaxError) -> JSONValue {
        try JSONParser.parse(Array(text.utf8))
    }

    /// The reason a text is refused, or `nil` when it parses.
    private func reason(_ text: String) -> String? {
        do {
            _ = try self.parse(text)
            return nil
        } catch {
            return error.reason
        }
    }

    // MARK: Valid values

    @Test func literals() throws {
        #expect(try self.parse("null") == .null)
        #expect(try self.parse("true") == .bool(true))
        #expect(try self.parse("false") == .bool(false))
    }

    @Test func surroundingWhitespaceIsAllowed() throws {
        #expect(try self.parse(" \t\r\n 42 \n\t ") == .int(42))
        #expect(try self.parse("\n{ \"a\" :\t[ 1 , 2 ]\r\n}\n") == .object(["a": .array([.int(1), .int(2)])]))
    }

    @Test func objectsAndArrays() throws {
        let value = try self.parse(#"{"type":"publish","topic":"t","data":{"n":[1,2.5,"x",null,true,{}],"e":[]}}"#)
        #expect(
            value
                == .object([
                    "type": .string("publish"),
                    "topic": .string("t"),
                    "data": .object([
                        "n": .array([.int(1), .double(2.5), .string("x"), .null, .bool(true), .object([:])]),
                        "e": .array([]),
                    ]),
                ])
        )
        #expect(value["type"]?.stringValue == "publish")
        #expect(value["data"]?["n"]?.arrayValue?.count == 6)
    }

    @Test func emptyContainers() throws {
        #expect(try self.parse("{}") == .object([:]))
        #expect(try self.parse("[]") == .array([]))
        #expect(try self.parse("{ }") == .object([:]))
        #expect(try self.parse("[ ]") == .array([]))
        #expect(try self.parse(#""""#) == .string(""))
    }

    // MARK: Strings

    @Test func simpleEscapes() throws {
        #expect(try self.parse(#""a\"b\\c\/d\be\ff\ng\rh\ti""#) == .string("a\"b\\c/d\u{08}e\u{0C}f\ng\rh\ti"))
    }

    @Test func unicodeEscapes() throws {
        #expect(try self.parse(#""\u00e9\u00E9""#) == .string("éé"))
        #expect(try self.parse(#""\u0041\u20AC""#) == .string("A€"))
        #expect(try self.parse(#""nul\u0000byte""#) == .string("nul\u{0}byte"))
    }

    @Test func surrogatePairs() throws {
        #expect(try self.parse(#""\uD83D\uDE00""#) == .string("😀"))
        #expect(try self.parse(#""a\ud834\udd1eb""#) == .string("a𝄞b"))
    }

    @Test func rawUTF8PassesThrough() throws {
        #expect(try self.parse("\"héllo 😀 中文\"") == .string("héllo 😀 中文"))
        // Escapes after raw multi-byte text keep both.
        #expect(try self.parse("\"é\\n😀\"") == .string("é\n😀"))
    }

    @Test(arguments: [
        #""\uD800""#,  // high surrogate alone
        #""\uD800x""#,  // high surrogate followed by text
        #""\uD800\u0041""#,  // high surrogate followed by a non-surrogate escape
        #""\uD800\uD800""#,  // two high surrogates
        #""\uDC00""#,  // low surrogate alone
        #""\uDE00\uD83D""#,  // pair in the wrong order
    ])
    func unpairedSurrogatesAreRefused(text: String) {
        #expect(self.reason(text) == "unpaired surrogate")
    }

    // MARK: Numbers

    @Test func integersStayIntegers() throws {
        #expect(try self.parse("0") == .int(0))
        #expect(try self.parse("-0") == .int(0))
        #expect(try self.parse("42") == .int(42))
        #expect(try self.parse("-17") == .int(-17))
        #expect(try self.parse("9223372036854775807") == .int(Int.max))
        #expect(try self.parse("-9223372036854775808") == .int(Int.min))
    }

    @Test func fractionsAndExponentsAreDoubles() throws {
        #expect(try self.parse("1.5") == .double(1.5))
        #expect(try self.parse("-0.25") == .double(-0.25))
        #expect(try self.parse("1.0") == .double(1.0))
        #expect(try self.parse("1e3") == .double(1000))
        #expect(try self.parse("1E3") == .double(1000))
        #expect(try self.parse("2.5e-3") == .double(0.0025))
        #expect(try self.parse("2.5E+2") == .double(250))
        #expect(try self.parse("0e0") == .double(0))
    }

    @Test func integersBeyondIntBecomeDoubles() throws {
        #expect(try self.parse("9223372036854775808") == .double(9_223_372_036_854_775_808.0))
        #expect(try self.parse("-99999999999999999999") == .double(-1e20))
    }

    @Test func numericAccessors() throws {
        #expect(try self.parse("3").intValue == 3)
        #expect(try self.parse("3.0").intValue == 3)
        #expect(try self.parse("3.5").intValue == nil)
        #expect(try self.parse("3").doubleValue == 3.0)
        #expect(try self.parse("\"3\"").intValue == nil)
    }

    // MARK: Syntax errors

    @Test(arguments: [
        ("", "unexpected end"),
        ("   ", "unexpected end"),
        ("[1,", "unexpected end"),
        ("[1", "unexpected end"),
        (#"{"a":1"#, "unexpected end"),
        (#"{"a":"#, "unexpected end"),
        ("tru", "invalid literal"),
        ("nul", "invalid literal"),
        ("fals", "invalid literal"),
        ("trUe", "invalid literal"),
        ("nil", "invalid literal"),
        ("{1:2}", "expected a key"),
        ("{,}", "expected a key"),
        (#"{"a":1,}"#, "expected a key"),
        ("{'a':1}", "expected a key"),
        ("{", "expected a key"),
        (#"{"a" 1}"#, "expected ':'"),
        (#"{"a"}"#, "expected ':'"),
        (#"{"a":1 "b":2}"#, "expected ',' or '}'"),
        (#"{"a":1]"#, "expected ',' or '}'"),
        ("[1 2]", "expected ',' or ']'"),
        ("[1}", "expected ',' or ']'"),
        ("[1,]", "invalid value"),
        ("[,1]", "invalid value"),
        ("\"a\tb\"", "control character in string"),
        ("\"a\nb\"", "control character in string"),
        ("\"a\\n\u{01}\"", "control character in string"),
        ("\"abc", "unterminated string"),
        ("\"a\\nbc", "unterminated string"),
        ("\"abc\\", "unterminated escape"),
        (#""\x""#, "invalid escape"),
        (#""\a""#, "invalid escape"),
        (#""\U0041""#, "invalid escape"),
        (#""\u12""#, "short unicode escape"),
        (#""\u12G4""#, "invalid unicode escape"),
        (#""\u-123""#, "invalid unicode escape"),
        ("-", "invalid value"),
        ("+1", "invalid value"),
        (".5", "invalid value"),
        ("x", "invalid value"),
        ("NaN", "invalid value"),
        ("01", "leading zero"),
        ("-01", "leading zero"),
        ("00", "leading zero"),
        ("1.", "invalid number"),
        ("1.e3", "invalid number"),
        ("1e", "invalid number"),
        ("1e+", "invalid number"),
        ("1 2", "trailing characters"),
        ("{} x", "trailing characters"),
        ("truex", "trailing characters"),
        ("[] []", "trailing characters"),
        ("\"a\"\"b\"", "trailing characters"),
    ])
    func syntaxErrorsAreRefused(text: String, expected: String) {
        #expect(self.reason(text) == expected, "for \(text.debugDescription)")
    }

    @Test func errorCarriesTheOffsetOfTheProblem() {
        #expect(throws: JSONParser.SyntaxError(offset: 2, reason: "trailing characters")) {
            try JSONParser.parse(Array("1 x".utf8))
        }
        #expect(throws: JSONParser.SyntaxError(offset: 5, reason: "expected ':'")) {
            try JSONParser.parse(Array(#"{"a" 1}"#.utf8))
        }
        #expect(throws: JSONParser.SyntaxError(offset: 0, reason: "invalid value")) {
            try JSONParser.parse(Array("x".utf8))
        }
    }

    /// The separator errors name the byte that should have been `,` (what clients see in
    /// "not JSON: … at byte N").
    @Test func separatorErrorPointsAtTheOffendingByte() {
        #expect(throws: JSONParser.SyntaxError(offset: 3, reason: "expected ',' or ']'")) {
            try JSONParser.parse(Array("[1 2]".utf8))
        }
        #expect(throws: JSONParser.SyntaxError(offset: 7, reason: "expected ',' or '}'")) {
            try JSONParser.parse(Array(#"{"a":1 "b":2}"#.utf8))
        }
    }

    // MARK: Depth

    @Test func nestingUpToTheLimitIsAccepted() throws {
        let depth = JSONParser.maximumDepth
        let arrays = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        var value = try self.parse(arrays)
        var levels = 0
        while case .array(let elements) = value {
            levels += 1
            guard let first = elements.first else { break }
            value = first
        }
        #expect(levels == depth)

        let objects = String(repeating: #"{"a":"#, count: depth - 1) + "{}" + String(repeating: "}", count: depth - 1)
        #expect(self.reason(objects) == nil)
    }

    @Test func nestingBeyondTheLimitIsRefused() {
        let depth = JSONParser.maximumDepth + 1
        #expect(self.reason(String(repeating: "[", count: depth) + String(repeating: "]", count: depth)) == "nesting too deep")
        let objects = String(repeating: #"{"a":"#, count: depth - 1) + "{}" + String(repeating: "}", count: depth - 1)
        #expect(self.reason(objects) == "nesting too deep")
        // A hostile, unterminated document is refused by depth, not by exhausting the stack.
        #expect(self.reason(String(repeating: "[", count: 100_000)) == "nesting too deep")
    }

    /// 64 levels of containers are "the deepest nesting accepted"; a scalar inside the innermost
    /// container adds no nesting level, so it must parse like the empty innermost container does.
    @Test func scalarInsideTheDeepestAcceptedContainerParses() {
        let depth = JSONParser.maximumDepth
        let text = String(repeating: "[", count: depth) + "1" + String(repeating: "]", count: depth)
        #expect(self.reason(text) == nil)
    }
}
