import RelayKernel

/// Settings of a `dev-tokens` instance.
public struct DevTokensConfiguration: Decodable, Sendable {
    /// The URL path answering `POST <path>` with a token.
    public var path = "/dev/token"
    /// Lifetime of a minted token, seconds.
    public var ttl = 3600
    /// Whether peers other than the relay's own machine (loopback) may ask for tokens.
    public var allowRemote = false

    enum CodingKeys: String, CodingKey, CaseIterable {
        case path, ttl, allowRemote
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.path = try container.decodeIfPresent(String.self, forKey: .path) ?? self.path
        self.ttl = try container.decodeIfPresent(Int.self, forKey: .ttl) ?? self.ttl
        self.allowRemote = try container.decodeIfPresent(Bool.self, forKey: .allowRemote) ?? self.allowRemote
        guard self.path.hasPrefix("/"), self.path.count > 1, !self.path.contains(":") else {
            throw DecodingError.dataCorruptedError(forKey: .path, in: container, debugDescription: "must be a URL path without ':' segments")
        }
        guard (1...86_400).contains(self.ttl) else {
            throw DecodingError.dataCorruptedError(forKey: .ttl, in: container, debugDescription: "must be 1...86400 seconds")
        }
    }
}
