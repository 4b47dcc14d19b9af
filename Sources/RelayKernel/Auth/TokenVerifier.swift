import ExtrasBase64
import Foundation
import JWTKit

/// Verifies JWTs: HS256 with the configured secret, RS/ES/EdDSA with the JWKS keys; checks
/// `exp`, `nbf`, `iss` and `aud`; refuses `alg: none`, unknown `kid`s and algorithm confusion.
public struct TokenVerifier: Sendable {
    /// Why a token was refused (the text goes into the 1008 close reason).
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// The reason.
        public let reason: String
        public var description: String { self.reason }
    }

    private let hmacKeys: JWTKeyCollection?
    private let jwksKeys: JWTKeyCollection?
    private let jwksKeyIDs: Set<String>
    private let jwksAlgorithms: Set<String>
    private let settings: AuthSettings
    /// Tokens already verified with these keys (a reload makes a new verifier, and a new cache).
    private let verified = VerifiedTokenCache(capacity: 4096)

    /// Whether any key is configured.
    public var hasKeys: Bool { self.hmacKeys != nil || self.jwksKeys != nil }

    /// HMAC secrets shorter than this are refused (JWTKit asserts on them).
    public static let minimumSecretBytes = 32

    /// Loads keys: the HS256 `secret` and the JWKS document `jwks` (either may be absent).
    public init(settings: AuthSettings, secret: String?, jwks: String?) async throws {
        self.settings = settings
        if let secret {
            guard secret.utf8.count >= Self.minimumSecretBytes else {
                throw Failure(reason: "the HS256 secret must be at least \(Self.minimumSecretBytes) bytes")
            }
            let keys = JWTKeyCollection()
            await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
            self.hmacKeys = keys
        } else {
            self.hmacKeys = nil
        }
        if let jwks {
            let document = try JSONDecoder().decode(JWKS.self, from: Data(jwks.utf8))
            let keys = JWTKeyCollection()
            try await keys.add(jwks: document)
            self.jwksKeys = keys
            self.jwksKeyIDs = Set(document.keys.compactMap { $0.keyIdentifier?.string })
            self.jwksAlgorithms = Self.algorithms(of: document)
        } else {
            self.jwksKeys = nil
            self.jwksKeyIDs = []
            self.jwksAlgorithms = []
        }
    }

    /// Verifies `token` at time `now` (seconds since 1970).
    public func verify(_ token: String, now: Double? = nil) async throws(Failure) -> VerifiedIdentity {
        let now = now ?? Date().timeIntervalSince1970
        if let known = self.verified[token] {
            // The signature and the key were checked; the time-bound claims are checked again.
            try self.checkClaims(known.claims, now: now)
            return known
        }
        let identity = try await self.verifySignature(token, now: now)
        self.verified[token] = identity
        return identity
    }

    private func verifySignature(_ token: String, now: Double) async throws(Failure) -> VerifiedIdentity {
        let header = try Self.header(of: token)
        guard let algorithm = header["alg"]?.stringValue else { throw Failure(reason: "token has no alg") }
        let keys: JWTKeyCollection
        if algorithm == "HS256" {
            guard let hmacKeys else { throw Failure(reason: "HS256 tokens are not accepted") }
            keys = hmacKeys
        } else if let jwksKeys, self.jwksAlgorithms.contains(algorithm) {
            if let kid = header["kid"]?.stringValue {
                guard self.jwksKeyIDs.contains(kid) else { throw Failure(reason: "unknown key id") }
            } else if self.jwksKeyIDs.count > 1 {
                throw Failure(reason: "token has no kid")
            }
            keys = jwksKeys
        } else {
            throw Failure(reason: "algorithm \(algorithm) is not accepted")
        }
        let claims: [String: JSONValue]
        do {
            claims = try await keys.verify(token, as: RelayClaims.self).claims
        } catch {
            throw Failure(reason: "invalid token signature")
        }
        try self.checkClaims(claims, now: now)
        return VerifiedIdentity(
            userId: claims[self.settings.userClaim]?.stringValue ?? claims[self.settings.userClaim]?.intValue.map(String.init),
            claims: claims,
            expiresAt: claims["exp"]?.doubleValue
        )
    }

    private func checkClaims(_ claims: [String: JSONValue], now: Double) throws(Failure) {
        let leeway = self.settings.leeway
        if let exp = claims["exp"] {
            guard let expiry = exp.doubleValue else { throw Failure(reason: "exp is not a number") }
            guard now <= expiry + leeway else { throw Failure(reason: "token expired") }
        }
        if let nbf = claims["nbf"] {
            guard let notBefore = nbf.doubleValue else { throw Failure(reason: "nbf is not a number") }
            guard now + leeway >= notBefore else { throw Failure(reason: "token not yet valid") }
        }
        if let issuer = self.settings.issuer, claims["iss"]?.stringValue != issuer {
            throw Failure(reason: "wrong issuer")
        }
        if let audience = self.settings.audience {
            let audiences = claims["aud"]?.arrayValue?.compactMap(\.stringValue) ?? claims["aud"]?.stringValue.map { [$0] } ?? []
            guard audiences.contains(audience) else { throw Failure(reason: "wrong audience") }
        }
    }

    private static func header(of token: String) throws(Failure) -> [String: JSONValue] {
        let parts = token.utf8.split(separator: UInt8(ascii: "."), maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 3, let data = try? Base64.decode(bytes: parts[0], options: [.base64UrlAlphabet, .omitPaddingCharacter]),
            let header = try? JSONParser.parse(data).objectValue
        else { throw Failure(reason: "malformed token") }
        return header
    }

    private static func algorithms(of jwks: JWKS) -> Set<String> {
        var result = Set<String>()
        for key in jwks.keys {
            if let algorithm = key.algorithm {
                result.insert(algorithm.rawValue)
                continue
            }
            switch key.keyType.rawValue {
            case "RSA": result.formUnion(["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"])
            case "EC": result.formUnion(["ES256", "ES384", "ES512"])
            case "OKP": result.insert("EdDSA")
            default: break
            }
        }
        return result
    }

    /// Signs a development token with the HS256 secret (`relay token`).
    public static func mintDevelopmentToken(secret: String, claims: [String: JSONValue]) async throws -> String {
        try await TokenVerifier(settings: AuthSettings(), secret: secret, jwks: nil).sign(claims)
    }

    /// Signs `claims` as an HS256 token with the configured secret: a token this verifier
    /// accepts while the claims are valid. Throws when no HS256 secret is configured.
    public func sign(_ claims: [String: JSONValue]) async throws -> String {
        guard let hmacKeys else { throw Failure(reason: "no HS256 secret is configured") }
        return try await hmacKeys.sign(RelayClaims(claims: claims))
    }
}
