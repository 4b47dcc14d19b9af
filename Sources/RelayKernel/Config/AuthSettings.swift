/// `auth:` — where keys come from and which claims are checked.
public struct AuthSettings: Sendable, Equatable {
    /// File holding the HS256 secret (`RELAY_JWT_SECRET` gives the secret itself).
    public var jwtSecretFile: String?
    /// JWKS file with RS256/ES256/EdDSA public keys (`RELAY_JWKS_FILE`).
    public var jwksFile: String?
    /// File holding the server REST API key (`RELAY_API_KEY` gives the key itself).
    public var apiKeyFile: String?
    /// Required `iss`, when set.
    public var issuer: String?
    /// Required `aud` member, when set.
    public var audience: String?
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    public var leeway = 5.0
    /// Seconds a client has to send first-message auth.
    public var authTimeout = 10.0
    /// The claim naming the user.
    public var userClaim = "sub"
    /// Seconds before a connection's token expires (`exp`) that the client is sent
    /// `token_expiring`, so it can send `refresh` with a new token.
    public var refreshWindow = 60.0

    /// The defaults.
    public init() {}
}

extension AuthSettings: Decodable {
    enum Keys: String, CodingKey, CaseIterable {
        case jwtSecretFile, jwksFile, apiKeyFile, issuer, audience, leeway, authTimeout, userClaim, refreshWindow
    }

    public init(from decoder: any Decoder) throws {
        let fields = ConfigFields(decoder, keys: Keys.self)
        self.jwtSecretFile = fields.optional(.jwtSecretFile)
        self.jwksFile = fields.optional(.jwksFile)
        self.apiKeyFile = fields.optional(.apiKeyFile)
        self.issuer = fields.optional(.issuer)
        self.audience = fields.optional(.audience)
        self.leeway = fields.value(.leeway, default: self.leeway)
        self.authTimeout = fields.value(.authTimeout, default: self.authTimeout)
        self.userClaim = fields.value(.userClaim, default: self.userClaim)
        self.refreshWindow = fields.value(.refreshWindow, default: self.refreshWindow)
        if self.leeway < 0 { fields.invalid(.leeway, "must not be negative") }
        if self.authTimeout <= 0 { fields.invalid(.authTimeout, "must be positive") }
        if self.refreshWindow < 0 { fields.invalid(.refreshWindow, "must not be negative") }
        try fields.finish()
    }
}
