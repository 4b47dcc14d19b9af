/// A client's identity: stable across reconnects that resume.
public struct ClientID: Hashable, Sendable, CustomStringConvertible, Codable {
    /// The id as sent on the wire.
    public let rawValue: String

    /// Wraps a wire id.
    public init(_ rawValue: String) {
        self.rawValue = rawValue
    }

    /// A new random id.
    static func random() -> ClientID {
        ClientID(RandomToken.make(length: 20))
    }

    public var description: String { self.rawValue }

    public init(from decoder: any Decoder) throws {
        self.rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.rawValue)
    }
}

/// Random URL-safe tokens (letters and digits) from the system's secure generator.
enum RandomToken {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)

    static func make(length: Int) -> String {
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
}
