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
