import Foundation
import NIOCore
import NIOHTTP1

/// What a WebSocket upgrade request carried that the connection still needs once upgraded: the
/// endpoint's path parameters, the query, the bearer token and the peer address. The headers
/// themselves are not kept.
struct UpgradeRequest: Sendable {
    /// Values of the endpoint's `:name` segments.
    var parameters: [String: String]
    /// The query parameters.
    var query: [String: String]
    /// The token of an `Authorization: Bearer` header.
    var bearerToken: String?
    /// The peer's IP address.
    var remoteAddress: String?

    init(parameters: [String: String], query: [String: String], bearerToken: String?, remoteAddress: String?) {
        self.parameters = parameters
        self.query = query
        self.bearerToken = bearerToken
        self.remoteAddress = remoteAddress
    }

    init(head: HTTPRequestHead, parameters: [String: String], remoteAddress: String?) {
        let target = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let authorization = head.headers["authorization"].first
        self.init(
            parameters: parameters,
            query: target.count > 1 ? Self.parseQuery(target[1]) : [:],
            bearerToken: authorization.flatMap { $0.lowercased().hasPrefix("bearer ") ? String($0.dropFirst(7)).trimmingSpaces : nil },
            remoteAddress: remoteAddress
        )
    }

    /// The token to authenticate with: `?token=`, else the bearer token.
    var token: String? {
        if let token = self.query["token"], !token.isEmpty { return token }
        return self.bearerToken.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The path of a request target, without its query.
    static func path(of uri: String) -> Substring {
        uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
    }

    static func parseQuery(_ query: Substring) -> [String: String] {
        var result: [String: String] = [:]
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0]).replacingOccurrences(of: "+", with: " ").removingPercentEncodingSafely
            let value = parts.count > 1 ? String(parts[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncodingSafely : ""
            result[name] = value
        }
        return result
    }
}
