/// Who a verified token says the client is.
public struct VerifiedIdentity: Sendable, Equatable {
    /// The user (the configured user claim, `sub` by default).
    public let userId: String?
    /// Every claim.
    public let claims: [String: JSONValue]
    /// When the token expires, as seconds since 1970.
    public let expiresAt: Double?

    /// The anonymous identity.
    public static let anonymous = VerifiedIdentity(userId: nil, claims: [:], expiresAt: nil)

    /// Creates an identity.
    public init(userId: String?, claims: [String: JSONValue], expiresAt: Double?) {
        self.userId = userId
        self.claims = claims
        self.expiresAt = expiresAt
    }
}
