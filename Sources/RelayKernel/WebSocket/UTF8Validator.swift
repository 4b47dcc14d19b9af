/// Checks UTF-8 as bytes arrive, so a text message split over several frames fails at its first
/// bad byte rather than when it is complete (RFC 6455 §8.1; Unicode 15, table 3-7: no overlong
/// forms, no surrogates, nothing above U+10FFFF).
struct UTF8Validator {
    /// Continuation bytes the current character still needs.
    private var needed: UInt8 = 0
    /// The range the next continuation byte must fall in (narrower after E0, ED, F0 and F4).
    private var lower: UInt8 = 0x80
    private var upper: UInt8 = 0xBF

    /// Whether everything fed so far ends on a character boundary.
    var isComplete: Bool { self.needed == 0 }

    /// Feeds `bytes`; `false` at the first byte that cannot continue valid UTF-8.
    mutating func feed(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var index = 0
        let count = bytes.count
        while index < count {
            if self.needed == 0 {
                // ASCII runs, eight bytes at a time.
                while index + 8 <= count, bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
                    index += 8
                }
                guard index < count else { return true }
                let byte = bytes[index]
                index += 1
                switch byte {
                case 0x00...0x7F: continue
                case 0xC2...0xDF: self.expect(1, 0x80, 0xBF)
                case 0xE0: self.expect(2, 0xA0, 0xBF)
                case 0xE1...0xEC, 0xEE...0xEF: self.expect(2, 0x80, 0xBF)
                case 0xED: self.expect(2, 0x80, 0x9F)
                case 0xF0: self.expect(3, 0x90, 0xBF)
                case 0xF1...0xF3: self.expect(3, 0x80, 0xBF)
                case 0xF4: self.expect(3, 0x80, 0x8F)
                default: return false
                }
            } else {
                let byte = bytes[index]
                index += 1
                guard byte >= self.lower, byte <= self.upper else { return false }
                self.expect(self.needed - 1, 0x80, 0xBF)
            }
        }
        return true
    }

    /// Starts over (a new message).
    mutating func reset() {
        self.expect(0, 0x80, 0xBF)
    }

    private mutating func expect(_ needed: UInt8, _ lower: UInt8, _ upper: UInt8) {
        self.needed = needed
        self.lower = lower
        self.upper = upper
    }
}
