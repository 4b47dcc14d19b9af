/// An entry of `limits.allowedOrigins`, matched against a browser's `Origin` by component:
///
/// - `scheme://host[:port]`: the scheme exactly; the host exactly, or `*.` followed by a domain,
///   which matches one or more whole labels in front of that domain (`*.example.com` matches
///   `a.example.com` and `a.b.example.com`, never `example.com`, `evilexample.com` or
///   `example.com.evil.net`); the port exactly, or `*` for any port (digits only). Without a
///   port only the scheme's default port matches.
/// - `null`: the `null` origin (sandboxed frames, `file:` pages), refused unless listed.
/// - `*`: every well-formed origin (not `null`).
///
/// An `Origin` that is not exactly `scheme://host[:port]` (see ``BrowserOrigin``) matches no
/// pattern.
public struct OriginPattern: Sendable, Hashable {
    private enum Host: Hashable {
        case exact(String)
        /// `*.` + this domain.
        case subdomains(of: String)
    }

    private enum Kind: Hashable {
        case anyOrigin
        case nullOrigin
        case origin(scheme: String, host: Host, port: Int?, anyPort: Bool)
    }

    private let kind: Kind

    /// Parses a pattern; `nil` when it is not of one of the forms above (a host with a `*`
    /// anywhere but a leading `*.` label, a wildcard over an IP address, a path, userinfo, a
    /// trailing dot or slash, a non-ASCII host: write IDNs in their `xn--` form).
    public init?(_ text: String) {
        switch text {
        case "*":
            self.kind = .anyOrigin
            return
        case "null":
            self.kind = .nullOrigin
            return
        default:
            break
        }
        guard let parts = BrowserOrigin.split(text, allowingWildcards: true) else { return nil }
        let host: Host
        if parts.host.hasPrefix("*.") {
            let domain = String(parts.host.dropFirst(2))
            // A wildcard names DNS labels; a top-level label of digits would be an IP address.
            guard let top = domain.split(separator: ".").last, !top.allSatisfy(\.isNumber) else { return nil }
            host = .subdomains(of: domain)
        } else {
            host = .exact(parts.host)
        }
        switch parts.port {
        case nil:
            self.kind = .origin(scheme: parts.scheme, host: host, port: nil, anyPort: false)
        case "*":
            self.kind = .origin(scheme: parts.scheme, host: host, port: nil, anyPort: true)
        case let text?:
            guard let port = BrowserOrigin.portNumber(text) else { return nil }
            self.kind = .origin(scheme: parts.scheme, host: host, port: port, anyPort: false)
        }
    }

    /// Whether an `Origin` header value matches.
    public func matches(_ origin: String) -> Bool {
        if origin == "null" { return self.kind == .nullOrigin }
        guard let parsed = BrowserOrigin(origin) else { return false }
        return self.matches(parsed)
    }

    /// Whether a well-formed origin matches.
    func matches(_ origin: BrowserOrigin) -> Bool {
        switch self.kind {
        case .anyOrigin:
            return true
        case .nullOrigin:
            return false
        case .origin(let scheme, let host, let port, let anyPort):
            guard origin.scheme == scheme else { return false }
            switch host {
            case .exact(let name):
                guard origin.host == name else { return false }
            case .subdomains(let domain):
                guard origin.host.utf8.count > domain.utf8.count + 1, origin.host.hasSuffix("." + domain), !origin.host.hasPrefix("[") else {
                    return false
                }
            }
            if anyPort { return true }
            return origin.effectivePort == (port ?? BrowserOrigin.defaultPort(of: scheme))
        }
    }

    /// Whether this pattern admits every origin (`*`), which `relay check` warns about.
    public var admitsEveryOrigin: Bool { self.kind == .anyOrigin }
}
