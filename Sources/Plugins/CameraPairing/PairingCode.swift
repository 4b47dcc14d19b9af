/// Pairing codes and REST pairing tokens.
enum PairingCode {
    /// Digits and upper-case letters without the look-alikes 0/O and 1/I/L.
    static let alphabet: [Character] = Array("23456789ABCDEFGHJKMNPQRSTUVWXYZ")

    /// A random code of `length` characters from ``alphabet``.
    static func random(length: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return String((0..<length).map { _ in Self.alphabet[Int(generator.next(upperBound: UInt32(Self.alphabet.count)))] })
    }

    /// How many codes of `length` exist, or `nil` when more than `limit`.
    static func spaceSize(length: Int, limit: Int) -> Int? {
        var size = 1
        for _ in 0..<length {
            size *= Self.alphabet.count
            if size > limit { return nil }
        }
        return size
    }

    /// The code numbered `index` (0 ..< spaceSize) of `length` characters.
    static func code(number index: Int, length: Int) -> String {
        var rest = index
        var characters: [Character] = []
        for _ in 0..<length {
            characters.append(Self.alphabet[rest % Self.alphabet.count])
            rest /= Self.alphabet.count
        }
        return String(characters)
    }

    /// The canonical form of a code someone typed (trimmed, upper case), or `nil` when it
    /// cannot be a code (so it can never name a store key it should not).
    static func normalize(_ text: String) -> String? {
        let code = String(text.filter { $0 != " " && $0 != "-" }).uppercased()
        guard (1...32).contains(code.count), code.allSatisfy({ Self.alphabet.contains($0) }) else { return nil }
        return code
    }

    private static let tokenAlphabet: [Character] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")

    /// A secret for a REST side (190 bits).
    static func token() -> String {
        var generator = SystemRandomNumberGenerator()
        return String((0..<32).map { _ in Self.tokenAlphabet[Int(generator.next(upperBound: UInt32(Self.tokenAlphabet.count)))] })
    }

    /// Compares secrets without an early exit.
    static func secretsEqual(_ lhs: String, _ rhs: String) -> Bool {
        let left = Array(lhs.utf8)
        let right = Array(rhs.utf8)
        var difference = UInt8(left.count == right.count ? 0 : 1)
        for index in 0..<max(left.count, right.count) {
            difference |= (index < left.count ? left[index] : 0) ^ (index < right.count ? right[index] : 0)
        }
        return difference == 0
    }
}
