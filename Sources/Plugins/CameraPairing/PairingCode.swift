import RelayKernel

/// Pairing codes and REST pairing tokens.
enum PairingCode {
    /// Digits and upper-case letters without the look-alikes 0/O and 1/I/L.
    static let alphabetText = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
    static let alphabet: [Character] = Array(Self.alphabetText)

    /// A random code of `length` characters from ``alphabet``.
    static func random(length: Int) -> String {
        RandomToken.make(length: length, alphabet: Self.alphabetText)
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

    /// A secret for a REST side (190 bits).
    static func token() -> String {
        RandomToken.make(length: 32)
    }
}
