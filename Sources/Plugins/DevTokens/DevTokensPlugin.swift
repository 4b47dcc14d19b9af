import Foundation
public import RelayKernel

/// Mints development tokens over HTTP, for demo pages and local experiments: `POST <path>` with
/// `{"sub": "alice", "claims": {"role": "ml-service"}}` answers
/// `{"token": "<JWT>", "expiresAt": <unix seconds>}`, signed with the relay's HS256 secret.
///
/// Anyone who can reach the path gets any claims, so it answers only the relay's own machine
/// (loopback peers) unless `allowRemote` is set. Leave it out of production route files.
public struct DevTokensPlugin: RelayPlugin {
    public static let name = "dev-tokens"
    /// HTTP only: no message types.
    public static let messageTypes: [String]? = []

    /// Claims the plugin sets itself.
    static let reservedClaims: Set<String> = ["sub", "iat", "exp", "nbf"]

    public init(configuration: DevTokensConfiguration, setup: inout PluginSetup) throws {
        let ttl = configuration.ttl
        let allowRemote = configuration.allowRemote
        setup.http("POST", configuration.path) { request, context in
            guard allowRemote || Self.isLoopback(request.remoteAddress) else {
                throw RelayError(.forbidden, "development tokens are minted for the relay's own machine only (allowRemote: false)")
            }
            let body = try request.jsonObject()
            guard let subject = body["sub"]?.stringValue, !subject.isEmpty, subject.count <= 128 else {
                throw RelayError.invalidField("sub", expected: "a string of 1 to 128 characters")
            }
            var claims: [String: JSONValue] = [:]
            if let extra = body["claims"] {
                guard let object = extra.objectValue else { throw RelayError.invalidField("claims", expected: "an object") }
                if let reserved = object.keys.first(where: Self.reservedClaims.contains) {
                    throw RelayError(.invalidMessage, "claim '\(reserved)' is set by the relay")
                }
                claims = object
            }
            let now = Int(context.clock.secondsSince1970)
            claims["sub"] = .string(subject)
            claims["iat"] = .int(now)
            claims["exp"] = .int(now + ttl)
            let token = try await context.signToken(claims)
            return .json(["token": .string(token), "expiresAt": .int(now + ttl)])
        }
    }

    public func handle(_ message: RelayMessage, context: PluginContext) async throws {
        throw RelayError(.unknownType, "dev-tokens serves HTTP only")
    }

    /// Whether `address` is the relay's own machine.
    static func isLoopback(_ address: String?) -> Bool {
        guard let address else { return false }
        return address.hasPrefix("127.") || address == "::1" || address.hasPrefix("::ffff:127.")
    }
}
