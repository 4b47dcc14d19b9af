/// Random identifiers and secrets from the system's secure generator, every character equally
/// likely.
///
/// ```swift
/// let token = RandomToken.make(length: 32)                                   // 190 bits
/// let code = RandomToken.make(length: 6, alphabet: "23456789ABCDEFGHJKMNPQRSTUVWXYZ")
/// ```
public enum RandomToken {
    /// Letters and digits: URL-safe, and safe in a file or store key.
    public static let lettersAndDigits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

    private static let alphabet: [UInt8] = Array(Self.lettersAndDigits.utf8)

    /// A token of `length` letters and digits (about 5.95 bits each).
    public static func make(length: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return String(unsafeUninitializedCapacity: length) { output in
            var written = 0
            while written < length {
                // Eight random bytes per draw; bytes past the largest multiple of 62 are skipped,
                // so every character is equally likely.
                var bits = generator.next()
                for _ in 0..<8 where written < length {
                    let byte = UInt8(truncatingIfNeeded: bits)
                    bits >>= 8
                    guard byte < 248 else { continue }
                    output[written] = Self.alphabet[Int(byte % 62)]
                    written += 1
                }
            }
            return length
        }
    }

    /// A token of `length` characters drawn uniformly from `alphabet` (which must not be empty).
    public static func make(length: Int, alphabet: String) -> String {
        let characters = Array(alphabet)
        precondition(!characters.isEmpty, "an alphabet needs characters")
        var generator = SystemRandomNumberGenerator()
        return String((0..<length).map { _ in characters[Int(generator.next(upperBound: UInt32(characters.count)))] })
    }
}
