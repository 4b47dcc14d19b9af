/// A serialized origin as browsers send it in `Origin` (RFC 6454 §6.2): `scheme://host[:port]`
/// and nothing else, read strictly. Anything else (userinfo, a path, a query, a fragment, an
/// empty label or a trailing dot, non-ASCII bytes, a port that is not 1 to 5 digits up to 65535,
/// more than ``maximumLength`` bytes) is malformed.
///
/// Scheme and host are compared in lower case (RFC 6454 §4); an IDN host must be in its
/// punycode (`xn--…`) form, which is what browsers send.
struct BrowserOrigin: Sendable, Hashable {
    /// Longer `Origin` values are refused without being read (a host name has at most 253 bytes).
    static let maximumLength = 512

    /// The scheme, lower case.
    let scheme: String
    /// The host, lower case: a DNS name or IPv4 address, or an IPv6 address in brackets.
    let host: String
    /// The port as written, if any.
    let port: Int?

    /// The port the origin means: the written one, or the scheme's default (`nil` for a scheme
    /// without one).
    var effectivePort: Int? { self.port ?? Self.defaultPort(of: self.scheme) }

    /// Reads an `Origin` value; `nil` when malformed.
    init?(_ text: String) {
        guard let parts = Self.split(text, allowingWildcards: false) else { return nil }
        self.scheme = parts.scheme
        self.host = parts.host
        guard let port = parts.port else {
            self.port = nil
            return
        }
        guard let number = Self.portNumber(port) else { return nil }
        self.port = number
    }

    /// The default port of `scheme`.
    static func defaultPort(of scheme: String) -> Int? {
        switch scheme {
        case "http", "ws": 80
        case "https", "wss": 443
        default: nil
        }
    }

    /// `scheme`, `host` and `port` text of `scheme://host[:port]`, checked and lower-cased.
    /// `allowingWildcards` lets a pattern's host start with `*.` and its port be `*`.
    static func split(_ text: String, allowingWildcards: Bool) -> (scheme: String, host: String, port: String?)? {
        let bytes = Array(text.utf8)
        guard bytes.count <= Self.maximumLength, bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        let lower = bytes.map { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") ? $0 | 0x20 : $0 }
        guard let separator = Self.find(Array("://".utf8), in: lower) else { return nil }
        let scheme = lower[..<separator]
        let authority = lower[(separator + 3)...]
        guard Self.isScheme(scheme) else { return nil }
        let hostEnd: Int
        if authority.first == UInt8(ascii: "[") {
            guard let close = authority.firstIndex(of: UInt8(ascii: "]")) else { return nil }
            guard Self.isIPv6Literal(authority[(authority.startIndex + 1)..<close]) else { return nil }
            hostEnd = close + 1
        } else {
            hostEnd = authority.firstIndex(of: UInt8(ascii: ":")) ?? authority.endIndex
            guard Self.isHostName(authority[authority.startIndex..<hostEnd], allowingWildcard: allowingWildcards) else { return nil }
        }
        let host = String(decoding: authority[authority.startIndex..<hostEnd], as: UTF8.self)
        guard hostEnd < authority.endIndex else { return (String(decoding: scheme, as: UTF8.self), host, nil) }
        guard authority[hostEnd] == UInt8(ascii: ":") else { return nil }
        let port = authority[(hostEnd + 1)...]
        let isWildcardPort = allowingWildcards && port.elementsEqual([UInt8(ascii: "*")])
        guard isWildcardPort || (1...5).contains(port.count) && port.allSatisfy(Self.isDigit) else { return nil }
        return (String(decoding: scheme, as: UTF8.self), host, String(decoding: port, as: UTF8.self))
    }

    /// The value of a port text of 1 to 5 digits, if it is at most 65535.
    static func portNumber(_ text: String) -> Int? {
        guard (1...5).contains(text.utf8.count), text.utf8.allSatisfy(Self.isDigit), let value = Int(text), value <= 65535 else { return nil }
        return value
    }

    /// A scheme: a letter, then letters, digits, `+`, `-` or `.` (RFC 3986 §3.1), at most 32.
    private static func isScheme(_ bytes: ArraySlice<UInt8>) -> Bool {
        guard let first = bytes.first, Self.isLetter(first), bytes.count <= 32 else { return false }
        return bytes.allSatisfy { Self.isLetter($0) || Self.isDigit($0) || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }
    }

    /// A DNS name or IPv4 address: labels of 1 to 63 letters, digits, `-` or `_` separated by
    /// single dots, at most 253 bytes, no trailing dot; with `allowingWildcard`, optionally
    /// preceded by `*.`.
    private static func isHostName(_ bytes: ArraySlice<UInt8>, allowingWildcard: Bool) -> Bool {
        var name = bytes
        if allowingWildcard, name.starts(with: [UInt8(ascii: "*"), UInt8(ascii: ".")]) {
            name = name.dropFirst(2)
        }
        guard !name.isEmpty, name.count <= 253 else { return false }
        return name.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false).allSatisfy { label in
            (1...63).contains(label.count)
                && label.allSatisfy { Self.isLetter($0) || Self.isDigit($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }
        }
    }

    /// The inside of `[…]`: hex digits, colons and dots (an embedded IPv4 address), with at least
    /// two colons.
    private static func isIPv6Literal(_ bytes: ArraySlice<UInt8>) -> Bool {
        guard (2...45).contains(bytes.count), bytes.count(where: { $0 == UInt8(ascii: ":") }) >= 2 else { return false }
        return bytes.allSatisfy { Self.isHexDigit($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") }
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        return (0...(haystack.count - needle.count)).first { haystack[$0..<($0 + needle.count)].elementsEqual(needle) }
    }

    private static func isLetter(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z") }
    private static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
    private static func isHexDigit(_ byte: UInt8) -> Bool { Self.isDigit(byte) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "f")) }
}
