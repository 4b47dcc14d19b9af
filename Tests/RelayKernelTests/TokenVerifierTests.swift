import Foundation
import Testing
@testable import RelayKernel

@Suite("TokenVerifier")
struct TokenVerifierTests {
    static let secret = "0123456789abcdef0123456789abcdef-relay-test"
    static let otherSecret = "fedcba9876543210fedcba9876543210-other-key"
    /// A fixed "now" for every check, in seconds since 1970.
    static let now = 1_800_000_000.0

    static func verifier(
        secret: String? = Self.secret,
        jwks: String? = nil,
        issuer: String? = nil,
        audience: String? = nil,
        leeway: Double = 5,
        userClaim: String = "sub"
    ) async throws -> TokenVerifier {
        var settings = AuthSettings()
        settings.issuer = issuer
        settings.audience = audience
        settings.leeway = leeway
        settings.userClaim = userClaim
        return try await TokenVerifier(settings: settings, secret: secret, jwks: jwks)
    }

    static func mint(_ claims: [String: JSONValue], secret: String = Self.secret) async throws -> String {
        try await TokenVerifier.mintDevelopmentToken(secret: secret, claims: claims)
    }

    static func base64URL(_ text: String) -> String {
        Data(text.utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// A token assembled by hand: header and payload JSON, any signature text.
    static func handMade(header: String, payload: String, signature: String = "") -> String {
        "\(self.base64URL(header)).\(self.base64URL(payload)).\(signature)"
    }

    /// The reason `token` is refused, or `nil` when it verifies.
    static func refusal(_ token: String, by verifier: TokenVerifier, now: Double = Self.now) async -> String? {
        do {
            _ = try await verifier.verify(token, now: now)
            return nil
        } catch {
            return error.reason
        }
    }

    // MARK: Verified tokens are remembered

    @Test func aRememberedTokenIsStillRefusedOnceExpired() async throws {
        let verifier = try await Self.verifier(leeway: 5)
        let token = try await Self.mint(["sub": "alice", "exp": .double(Self.now + 60)])
        #expect(await Self.refusal(token, by: verifier) == nil)
        // Presented again: no signature check, but the expiry still counts.
        #expect(await Self.refusal(token, by: verifier, now: Self.now + 30) == nil)
        #expect(await Self.refusal(token, by: verifier, now: Self.now + 66) == "token expired")
    }

    @Test func aRememberedTokenIsStillRefusedBeforeItsNotBefore() async throws {
        let verifier = try await Self.verifier(leeway: 0)
        let token = try await Self.mint(["sub": "alice", "nbf": .double(Self.now)])
        #expect(await Self.refusal(token, by: verifier) == nil)
        #expect(await Self.refusal(token, by: verifier, now: Self.now - 10) == "token not yet valid")
    }

    @Test func anotherKeySetDoesNotTrustWhatTheFirstVerified() async throws {
        let token = try await Self.mint(["sub": "alice"])
        #expect(await Self.refusal(token, by: try await Self.verifier()) == nil)
        // A reload builds a new verifier: its cache starts empty.
        #expect(await Self.refusal(token, by: try await Self.verifier(secret: Self.otherSecret)) == "invalid token signature")
    }

    @Test func theCacheKeepsItsBoundDroppingTheOldest() {
        let cache = VerifiedTokenCache(capacity: 2)
        let identity = VerifiedIdentity(userId: "u", claims: [:], expiresAt: nil)
        cache["a"] = identity
        cache["b"] = identity
        cache["a"] = identity  // already known: keeps its place
        cache["c"] = identity
        #expect(cache["a"] == nil)
        #expect(cache["b"] == identity && cache["c"] == identity)
        cache["d"] = identity
        #expect(cache["b"] == nil && cache["c"] == identity && cache["d"] == identity)
    }

    // MARK: HS256

    @Test func validTokenGivesUserAndClaims() async throws {
        let verifier = try await Self.verifier()
        #expect(verifier.hasKeys)
        let token = try await Self.mint(["sub": "alice", "role": "admin", "exp": .double(Self.now + 60), "teams": ["a", "b"]])
        #expect(token.split(separator: ".").count == 3)
        let identity = try await verifier.verify(token, now: Self.now)
        #expect(identity.userId == "alice")
        #expect(identity.claims["role"] == "admin")
        #expect(identity.claims["teams"] == ["a", "b"])
        #expect(identity.expiresAt == Self.now + 60)
    }

    @Test func tokenWithoutExpiryOrUser() async throws {
        let verifier = try await Self.verifier()
        let identity = try await verifier.verify(try await Self.mint(["role": "guest"]), now: Self.now)
        #expect(identity.userId == nil)
        #expect(identity.expiresAt == nil)
        #expect(identity.claims == ["role": "guest"])
    }

    @Test func configuredUserClaimAndNumericUsers() async throws {
        let verifier = try await Self.verifier(userClaim: "uid")
        let identity = try await verifier.verify(try await Self.mint(["sub": "ignored", "uid": 42]), now: Self.now)
        #expect(identity.userId == "42")
    }

    @Test func wrongSecretIsRefused() async throws {
        let verifier = try await Self.verifier()
        let token = try await Self.mint(["sub": "alice"], secret: Self.otherSecret)
        #expect(await Self.refusal(token, by: verifier) == "invalid token signature")
    }

    @Test func tamperedPayloadIsRefused() async throws {
        let verifier = try await Self.verifier()
        let token = try await Self.mint(["sub": "alice", "role": "user"])
        let parts = token.split(separator: ".").map(String.init)
        let forged = "\(parts[0]).\(Self.base64URL(#"{"sub":"alice","role":"admin"}"#)).\(parts[2])"
        #expect(await Self.refusal(forged, by: verifier) == "invalid token signature")
        let stripped = "\(parts[0]).\(parts[1])."
        #expect(await Self.refusal(stripped, by: verifier) == "invalid token signature")
    }

    @Test func algNoneIsRefused() async throws {
        let verifier = try await Self.verifier()
        let none = Self.handMade(header: #"{"alg":"none","typ":"JWT"}"#, payload: #"{"sub":"mallory"}"#)
        #expect(await Self.refusal(none, by: verifier) == "algorithm none is not accepted")
        let capitalised = Self.handMade(header: #"{"alg":"None","typ":"JWT"}"#, payload: #"{"sub":"mallory"}"#)
        #expect(await Self.refusal(capitalised, by: verifier) == "algorithm None is not accepted")
        let missing = Self.handMade(header: #"{"typ":"JWT"}"#, payload: #"{"sub":"mallory"}"#)
        #expect(await Self.refusal(missing, by: verifier) == "token has no alg")
    }

    @Test func otherAlgorithmsWithoutKeysAreRefused() async throws {
        let verifier = try await Self.verifier()
        let rs256 = Self.handMade(header: #"{"alg":"RS256","typ":"JWT"}"#, payload: #"{"sub":"x"}"#, signature: "c2ln")
        #expect(await Self.refusal(rs256, by: verifier) == "algorithm RS256 is not accepted")
        let hs512 = Self.handMade(header: #"{"alg":"HS512","typ":"JWT"}"#, payload: #"{"sub":"x"}"#, signature: "c2ln")
        #expect(await Self.refusal(hs512, by: verifier) == "algorithm HS512 is not accepted")
    }

    @Test(arguments: ["", "abc", "a.b", "a.b.c.d", "!!!.e30.", "e30", "W10.e30.", "bm90IGpzb24.e30."])
    func malformedTokensAreRefused(token: String) async throws {
        let verifier = try await Self.verifier()
        #expect(await Self.refusal(token, by: verifier) == "malformed token")
    }

    @Test func shortSecretIsRefusedAtInit() async {
        await #expect(throws: TokenVerifier.Failure.self) {
            _ = try await Self.verifier(secret: "too-short-31-bytes-long-secret!")
        }
        await #expect(throws: TokenVerifier.Failure.self) {
            _ = try await TokenVerifier.mintDevelopmentToken(secret: "short", claims: [:])
        }
        // Exactly 32 bytes is enough.
        let verifier = try? await Self.verifier(secret: String(repeating: "k", count: 32))
        #expect(verifier != nil)
    }

    @Test func withoutASecretHS256IsRefused() async throws {
        let verifier = try await Self.verifier(secret: nil)
        #expect(!verifier.hasKeys)
        let token = try await Self.mint(["sub": "alice"])
        #expect(await Self.refusal(token, by: verifier) == "HS256 tokens are not accepted")
    }

    // MARK: Time claims

    @Test func expiryWithinLeewayIsAcceptedBeyondIsRefused() async throws {
        let verifier = try await Self.verifier(leeway: 5)
        let recent = try await Self.mint(["sub": "a", "exp": .double(Self.now - 4)])
        #expect(await Self.refusal(recent, by: verifier) == nil)
        let edge = try await Self.mint(["sub": "a", "exp": .double(Self.now - 5)])
        #expect(await Self.refusal(edge, by: verifier) == nil)
        let old = try await Self.mint(["sub": "a", "exp": .double(Self.now - 6)])
        #expect(await Self.refusal(old, by: verifier) == "token expired")
        let future = try await Self.mint(["sub": "a", "exp": .double(Self.now + 3600)])
        #expect(await Self.refusal(future, by: verifier) == nil)
    }

    @Test func zeroLeewayIsExact() async throws {
        let verifier = try await Self.verifier(leeway: 0)
        let token = try await Self.mint(["sub": "a", "exp": .double(Self.now)])
        #expect(await Self.refusal(token, by: verifier, now: Self.now) == nil)
        #expect(await Self.refusal(token, by: verifier, now: Self.now + 0.5) == "token expired")
    }

    @Test func notBefore() async throws {
        let verifier = try await Self.verifier(leeway: 5)
        let soon = try await Self.mint(["sub": "a", "nbf": .double(Self.now + 3)])
        #expect(await Self.refusal(soon, by: verifier) == nil)
        let later = try await Self.mint(["sub": "a", "nbf": .double(Self.now + 60)])
        #expect(await Self.refusal(later, by: verifier) == "token not yet valid")
        #expect(await Self.refusal(later, by: verifier, now: Self.now + 56) == nil)
        let past = try await Self.mint(["sub": "a", "nbf": .double(Self.now - 60)])
        #expect(await Self.refusal(past, by: verifier) == nil)
    }

    @Test func nonNumericTimeClaimsAreRefused() async throws {
        let verifier = try await Self.verifier()
        let exp = try await Self.mint(["sub": "a", "exp": "tomorrow"])
        #expect(await Self.refusal(exp, by: verifier) == "exp is not a number")
        let nbf = try await Self.mint(["sub": "a", "nbf": "yesterday"])
        #expect(await Self.refusal(nbf, by: verifier) == "nbf is not a number")
    }

    // MARK: Issuer and audience

    @Test func issuer() async throws {
        let verifier = try await Self.verifier(issuer: "https://issuer.example")
        #expect(await Self.refusal(try await Self.mint(["sub": "a", "iss": "https://issuer.example"]), by: verifier) == nil)
        #expect(await Self.refusal(try await Self.mint(["sub": "a", "iss": "https://evil.example"]), by: verifier) == "wrong issuer")
        #expect(await Self.refusal(try await Self.mint(["sub": "a"]), by: verifier) == "wrong issuer")
        #expect(await Self.refusal(try await Self.mint(["sub": "a", "iss": ["https://issuer.example"]]), by: verifier) == "wrong issuer")
    }

    @Test func noIssuerConfiguredAcceptsAnyIssuer() async throws {
        let verifier = try await Self.verifier()
        #expect(await Self.refusal(try await Self.mint(["sub": "a", "iss": "anyone"]), by: verifier) == nil)
    }

    @Test func audienceAsStringOrArray() async throws {
        let verifier = try await Self.verifier(audience: "relay")
        #expect(await Self.refusal(try await Self.mint(["sub": "a", "aud": "relay"]), by: verifier) == nil)
        #expect(await Self.refusal(try await Self.mint(["sub": "a", "aud": ["other", "relay"]]), by: verifier) == nil)
        #expect(await Self.refusal(try await Self.mint(["sub": "a", "aud": "other"]), by: verifier) == "wrong audience")
        #expect(await Self.refusal(try await Self.mint(["sub": "a", "aud": ["other", "more"]]), by: verifier) == "wrong audience")
        #expect(await Self.refusal(try await Self.mint(["sub": "a", "aud": []]), by: verifier) == "wrong audience")
        #expect(await Self.refusal(try await Self.mint(["sub": "a"]), by: verifier) == "wrong audience")
        #expect(await Self.refusal(try await Self.mint(["sub": "a", "aud": "relay-staging"]), by: verifier) == "wrong audience")
    }

    // MARK: JWKS (ES256; keys and tokens generated offline, tokens expire in 2100)

    static let jwksOneKey = #"""
        {"keys":[{"kty":"EC","crv":"P-256","kid":"k1","alg":"ES256","use":"sig","x":"7M3BJZGmyOMM-Vn9xEHn2kF6hM3RNEz3m3a2c-thJbw","y":"TNxO6w2G2wf_4dwFi_kMwWyEvxJLervDOwjf9ZRHnrA"}]}
        """#
    static let jwksTwoKeys = #"""
        {"keys":[{"kty":"EC","crv":"P-256","kid":"k1","alg":"ES256","use":"sig","x":"7M3BJZGmyOMM-Vn9xEHn2kF6hM3RNEz3m3a2c-thJbw","y":"TNxO6w2G2wf_4dwFi_kMwWyEvxJLervDOwjf9ZRHnrA"},{"kty":"EC","crv":"P-256","kid":"k2","alg":"ES256","use":"sig","x":"IHOlao5KDiQDreMrF24RsvZ8bjCZfJMfHrk72Zdr21Q","y":"jWdDCn3xJoCF6wq4x2Yr44fnHstT1AKrxTIT09Wa190"}]}
        """#
    /// `{"sub":"bob","exp":4102444800,"iss":"https://issuer","aud":"relay"}` signed by k1.
    static let es256WithKid =
        "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJzdWIiOiJib2IiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaXNzdWVyIiwiYXVkIjoicmVsYXkifQ.GoxrkBBK2MGTGxZZtS9xyQW4VgWzpQHMSd2DLWFAjUROJdhJAkMSbAiHqHDC5_7WbF2TTt7DzdcJEDSVUNhxYA"
    static let es256NoKid =
        "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJib2IiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaXNzdWVyIiwiYXVkIjoicmVsYXkifQ.cBnZeIn-FI6NXwdc1q4XwrhggrXC-qPMNKmiT4n7irjb7mcajlfwOVmM7VKmoXGuHUZdCKWYE9rImg2CNaO8dA"
    static let es256UnknownKid =
        "eyJhbGciOiJFUzI1NiIsImtpZCI6Ims5IiwidHlwIjoiSldUIn0.eyJzdWIiOiJib2IiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaXNzdWVyIiwiYXVkIjoicmVsYXkifQ.qTaZ-n6I5bKpBlxvAVXkiDQTb73eTCxyL_XkNxlReUk6pfzzqwbq31VKU_JBWkjof_TRYM0EoI7Xvndbw0IEzQ"

    @Test func jwksTokenVerifies() async throws {
        let verifier = try await Self.verifier(secret: nil, jwks: Self.jwksOneKey, issuer: "https://issuer", audience: "relay")
        #expect(verifier.hasKeys)
        let identity = try await verifier.verify(Self.es256WithKid, now: Self.now)
        #expect(identity.userId == "bob")
        #expect(identity.expiresAt == 4_102_444_800)
        // With a single key, a token without kid uses it.
        #expect(await Self.refusal(Self.es256NoKid, by: verifier) == nil)
        // Claims are still checked.
        #expect(await Self.refusal(Self.es256WithKid, by: verifier, now: 4_102_444_806) == "token expired")
    }

    @Test func jwksUnknownKidAndMissingKid() async throws {
        let one = try await Self.verifier(secret: nil, jwks: Self.jwksOneKey)
        #expect(await Self.refusal(Self.es256UnknownKid, by: one) == "unknown key id")
        let two = try await Self.verifier(secret: nil, jwks: Self.jwksTwoKeys)
        #expect(await Self.refusal(Self.es256NoKid, by: two) == "token has no kid")
        #expect(await Self.refusal(Self.es256WithKid, by: two) == nil)
    }

    @Test func jwksTamperedTokenIsRefused() async throws {
        let verifier = try await Self.verifier(secret: nil, jwks: Self.jwksOneKey)
        let parts = Self.es256WithKid.split(separator: ".").map(String.init)
        let forged = "\(parts[0]).\(Self.base64URL(#"{"sub":"admin","exp":4102444800}"#)).\(parts[2])"
        #expect(await Self.refusal(forged, by: verifier) == "invalid token signature")
    }

    @Test func algorithmConfusionIsRefused() async throws {
        // Only JWKS keys: an HS256 token (e.g. HMAC-signed with the public key) is refused.
        let jwksOnly = try await Self.verifier(secret: nil, jwks: Self.jwksOneKey)
        let hs256 = try await Self.mint(["sub": "bob"], secret: Self.jwksOneKey)
        #expect(await Self.refusal(hs256, by: jwksOnly) == "HS256 tokens are not accepted")
        // An algorithm the JWKS does not offer.
        let rs256 = Self.handMade(header: #"{"alg":"RS256","kid":"k1"}"#, payload: #"{"sub":"bob"}"#, signature: "c2ln")
        #expect(await Self.refusal(rs256, by: jwksOnly) == "algorithm RS256 is not accepted")
        // Both configured: an ES256 token never reaches the HMAC key, and vice versa.
        let both = try await Self.verifier(jwks: Self.jwksOneKey)
        #expect(await Self.refusal(Self.es256WithKid, by: both) == nil)
        #expect(await Self.refusal(try await Self.mint(["sub": "alice"]), by: both) == nil)
    }

    @Test func invalidJWKSIsRefusedAtInit() async {
        await #expect(throws: (any Error).self) {
            _ = try await Self.verifier(secret: nil, jwks: "not json")
        }
    }
}
