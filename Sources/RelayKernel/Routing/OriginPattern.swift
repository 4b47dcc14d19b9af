import Foundation

/// An allowed browser origin: `scheme://host[:port]`, `*` matching within the host or the port.
public struct OriginPattern: Sendable, Hashable {
    private let scheme: String
    private let host: TypePattern
    private let port: TypePattern?

    /// Parses a pattern; `nil` when it is not of the form `scheme://host[:port]`, or `*` alone.
    public init?(_ text: String) {
        if text == "*" {
            self.scheme = "*"
            self.host = TypePattern("*")!
            self.port = TypePattern("*")
            return
        }
        guard let parts = Self.split(text.lowercased()), let host = TypePattern(parts.host) else { return nil }
        self.scheme = parts.scheme
        self.host = host
        self.port = parts.port.flatMap(TypePattern.init)
    }

    /// Whether an `Origin` header value matches.
    public func matches(_ origin: String) -> Bool {
        guard let parts = Self.split(origin.lowercased()) else { return false }
        guard self.scheme == "*" || parts.scheme == self.scheme, self.host.matches(parts.host) else { return false }
        let port = parts.port ?? (parts.scheme == "https" ? "443" : "80")
        if let pattern = self.port { return pattern.matches(port) }
        return parts.port == nil || port == (parts.scheme == "https" ? "443" : "80")
    }

    private static func split(_ text: String) -> (scheme: String, host: String, port: String?)? {
        guard let range = text.range(of: "://") else { return nil }
        let scheme = String(text[..<range.lowerBound])
        var rest = String(text[range.upperBound...])
        if rest.hasSuffix("/") { rest.removeLast() }
        guard !scheme.isEmpty, !rest.isEmpty, !rest.contains("/") else { return nil }
        if let colon = rest.lastIndex(of: ":"), !rest.hasSuffix("]") {
            return (scheme, String(rest[..<colon]), String(rest[rest.index(after: colon)...]))
        }
        return (scheme, rest, nil)
    }
}
