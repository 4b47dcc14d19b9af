import JWTKit

/// Every claim of a token, kept as JSON; checked by ``TokenVerifier`` after the signature.
struct RelayClaims: JWTPayload {
    var claims: [String: JSONValue]

    init(claims: [String: JSONValue]) {
        self.claims = claims
    }

    init(from decoder: any Decoder) throws {
        self.claims = try decoder.singleValueContainer().decode([String: JSONValue].self)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.claims)
    }

    /// Time claims are checked by ``TokenVerifier`` with the configured leeway.
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}
