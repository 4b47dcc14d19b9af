import NIOCore
import NIOHTTP1

/// What a WebSocket upgrade request carried that the connection still needs once upgraded: the
/// endpoint's path parameters, the query, the bearer token, the client's address and origin.
/// The headers themselves are not kept.
struct UpgradeRequest: Sendable {
    /// Values of the endpoint's `:name` segments.
    var parameters: [String: String]
    /// The query parameters.
    var query: [String: String]
    /// The token of an `Authorization: Bearer` header.
    var bearerToken: String?
    /// The client's IP address (``TrustedProxies`` accounted for).
    var remoteAddress: String?
    /// The `Origin` header, for the log of a refusal.
    var origin: String?

    init(parameters: [String: String], query: [String: String], bearerToken: String?, remoteAddress: String?, origin: String?) {
        self.parameters = parameters
        self.query = query
        self.bearerToken = bearerToken
        self.remoteAddress = remoteAddress
        self.origin = origin
    }

    init(head: HTTPRequestHead, parameters: [String: String], remoteAddress: String?) {
        let authorization = head.headers.first(name: "authorization")
        self.init(
            parameters: parameters,
            query: Self.query(of: head.uri).map(Self.parseQuery) ?? [:],
            bearerToken: authorization.flatMap(Self.bearerToken),
            remoteAddress: remoteAddress,
            origin: head.headers.first(name: "origin")
        )
    }

    /// The token to authenticate with: `?token=`, else the bearer token.
    var token: String? {
        if let token = self.query["token"], !token.isEmpty { return token }
        return self.bearerToken.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The path of a request target, without its query.
    static func path(of uri: String) -> Substring {
        guard let mark = uri.utf8.firstIndex(of: UInt8(ascii: "?")) else { return uri[...] }
        return uri[..<mark]
    }

    /// The query of a request target, if it has one.
    static func query(of uri: String) -> Substring? {
        guard let mark = uri.utf8.firstIndex(of: UInt8(ascii: "?")) else { return nil }
        return uri[uri.utf8.index(after: mark)...]
    }

    /// `name=value&…` pairs, form-decoded (`+` is a space, `%XX` a byte).
    static func parseQuery(_ query: Substring) -> [String: String] {
        var result: [String: String] = [:]
        for pair in query.utf8.split(separator: UInt8(ascii: "&")) {
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            let value = parts.count > 1 ? Substring(parts[1]).formDecoded : ""
            result[Substring(parts[0]).formDecoded] = value
        }
        return result
    }

    /// The credentials of `Authorization: Bearer <token>`.
    static func bearerToken(_ authorization: String) -> String? {
        let scheme = "bearer "
        guard authorization.utf8.count > scheme.utf8.count,
            authorization.utf8.prefix(scheme.utf8.count).elementsEqual(scheme.utf8, by: { $0 | 0x20 == $1 })
        else { return nil }
        return authorization.dropFirst(scheme.count).trimmingBlanks
    }
}
