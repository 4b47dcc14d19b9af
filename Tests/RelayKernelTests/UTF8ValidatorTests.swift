import Testing
@testable import RelayKernel

/// ``UTF8Validator``: incremental UTF-8 checking by Unicode 15 table 3-7 (no overlong forms, no
/// surrogates, nothing above U+10FFFF), failing at the first bad byte.
@Suite("UTF8Validator")
struct UTF8ValidatorTests {
    /// Feeds `chunks` in order; `nil` when a feed failed, else whether it ended on a boundary.
    private func check(_ chunks: [UInt8]...) -> Bool? {
        var validator = UTF8Validator()
        for chunk in chunks {
            guard chunk.withUnsafeBytes({ validator.feed($0) }) else { return nil }
        }
        return validator.isComplete
    }

    @Test func emptyInputIsComplete() {
        #expect(self.check([]) == true)
        #expect(UTF8Validator().isComplete)
    }

    @Test func asciiAndEveryEncodedLengthAreValid() {
        #expect(self.check(Array("plain ASCII, longer than eight bytes".utf8)) == true)
        #expect(self.check(Array("é € 𝄞 κόσμε".utf8)) == true)
    }

    /// The first and last scalar of every row of table 3-7.
    @Test(arguments: [
        [0x00], [0x7F],
        [0xC2, 0x80], [0xDF, 0xBF],
        [0xE0, 0xA0, 0x80], [0xE0, 0xBF, 0xBF],
        [0xE1, 0x80, 0x80], [0xEC, 0xBF, 0xBF],
        [0xED, 0x80, 0x80], [0xED, 0x9F, 0xBF],
        [0xEE, 0x80, 0x80], [0xEF, 0xBF, 0xBF],
        [0xF0, 0x90, 0x80, 0x80], [0xF0, 0xBF, 0xBF, 0xBF],
        [0xF1, 0x80, 0x80, 0x80], [0xF3, 0xBF, 0xBF, 0xBF],
        [0xF4, 0x80, 0x80, 0x80], [0xF4, 0x8F, 0xBF, 0xBF],
    ] as [[UInt8]])
    func wellFormedSequencesAtTheEdgesOfEachRowAreValid(_ bytes: [UInt8]) {
        #expect(self.check(bytes) == true)
    }

    @Test(arguments: [
        // Overlong forms.
        [0xC0, 0x80], [0xC1, 0xBF], [0xE0, 0x80, 0x80], [0xE0, 0x9F, 0xBF], [0xF0, 0x80, 0x80, 0x80], [0xF0, 0x8F, 0xBF, 0xBF],
        // UTF-16 surrogates U+D800...U+DFFF.
        [0xED, 0xA0, 0x80], [0xED, 0xBF, 0xBF],
        // Above U+10FFFF, and bytes that never occur.
        [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xF8], [0xFE], [0xFF],
        // A continuation byte with no lead, a lead without its continuation.
        [0x80], [0xBF], [0xC3, 0x28], [0xE2, 0x28, 0xA1], [0xE2, 0x82, 0x28], [0xF0, 0x9F, 0x98, 0x41],
    ] as [[UInt8]])
    func illFormedSequencesFail(_ bytes: [UInt8]) {
        #expect(self.check(bytes) == nil)
    }

    @Test func aTruncatedCharacterIsValidSoFarButNotComplete() {
        #expect(self.check([0x41, 0xE2, 0x82]) == false)
        #expect(self.check([0xF0, 0x9F]) == false)
    }

    @Test func aCharacterMayBeSplitAcrossFeedsAtAnyByte() {
        let bytes = Array("a𝄞b€c".utf8)
        for cut in 0...bytes.count {
            #expect(self.check(Array(bytes[..<cut]), Array(bytes[cut...])) == true, "cut at \(cut)")
        }
        // The narrowed range after F0 carries over a feed boundary too.
        #expect(self.check([0xF0], [0x8F, 0xBF, 0xBF]) == nil)
        #expect(self.check([0xED], [0xA0], [0x80]) == nil)
    }

    @Test func aBadByteAfterALongASCIIRunIsFound() {
        let ascii = Array(repeating: UInt8(ascii: "x"), count: 16)
        #expect(self.check(ascii + [0xFF] + ascii) == nil)
        #expect(self.check(ascii + Array("é".utf8) + ascii) == true)
        // A multi-byte character straddling an eight-byte block.
        #expect(self.check(Array(repeating: UInt8(ascii: "x"), count: 7) + Array("€".utf8) + ascii) == true)
    }

    @Test func resetDropsAHalfReceivedCharacter() {
        var validator = UTF8Validator()
        #expect([UInt8]([0xE2, 0x82]).withUnsafeBytes { validator.feed($0) })
        #expect(!validator.isComplete)
        validator.reset()
        #expect(validator.isComplete)
        #expect([UInt8]([0x41]).withUnsafeBytes { validator.feed($0) })
        #expect(validator.isComplete)
    }

    /// Random byte strings, split at a random point, judged the same as the standard library.
    @Test func agreesWithTheStandardLibraryOnRandomInput() {
        // Bytes around every boundary in table 3-7, plus ASCII.
        let alphabet: [UInt8] = [
            0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC,
            0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF,
        ]
        var random = SplitMix64(seed: 0x5EED)
        var disagreements: [[UInt8]] = []
        for _ in 0..<5000 {
            let length = Int(random.next() % 12)
            let bytes = (0..<length).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] }
            let cut = Int(random.next() % UInt64(length + 1))
            let ours = self.check(Array(bytes[..<cut]), Array(bytes[cut...])) == true
            let standard = String(validating: bytes, as: UTF8.self) != nil
            if ours != standard { disagreements.append(bytes) }
        }
        #expect(disagreements.isEmpty)
    }
}

/// A small deterministic generator (SplitMix64).
private struct SplitMix64 {
    private var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
