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
        let fields = ConfigFields(decoder, keys: CodingKeys.self)
        self.path = fields.value(.path, default: self.path)
        self.ttl = fields.value(.ttl, default: self.ttl)
        self.allowRemote = fields.value(.allowRemote, default: self.allowRemote)
        fields.check(self.path.hasPrefix("/") && self.path.count > 1 && !self.path.contains(":"), .path, "must be a URL path without ':' segments")
        fields.check((1...86_400).contains(self.ttl), .ttl, "must be 1...86400 seconds")
        try fields.finish()
    }
}
