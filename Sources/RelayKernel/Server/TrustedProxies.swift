import HTTPTypes

/// `server.trustedProxies`: the reverse proxies whose forwarding headers say who the client is.
///
/// Only when the TCP peer is in one of the networks are `X-Forwarded-For` (or, when a request
/// has none, `Forwarded`, RFC 7239) and `X-Forwarded-Proto` read. The hops are walked from the
/// right (the one the peer added) past every trusted proxy; the first untrusted hop is the
/// client, so addresses a client writes into the header itself are never believed. A hop that is
/// not an IP address (`unknown`, an obfuscated name) ends the walk at the last trusted proxy.
struct TrustedProxies: Sendable {
    /// Who sent a request, proxies accounted for.
    struct Client: Sendable, Equatable {
        /// The client's IP address (the TCP peer's when it is not a trusted proxy).
        var address: String?
        /// The scheme the client used (`http` or `https`) as a trusted proxy reported it.
        var forwardedScheme: String?
    }

    private let networks: [IPNetwork]

    /// Most hops read from the right of a forwarding header.
    static let maximumHops = 32

    /// The proxies of `server.trustedProxies` (already validated).
    init(_ cidrs: [String]) {
        self.networks = cidrs.compactMap(IPNetwork.init)
    }

    /// Whether `address` is a trusted proxy.
    func trusts(_ address: String) -> Bool {
        guard !self.networks.isEmpty, let bytes = IPNetwork.bytes(of: address) else { return false }
        return self.networks.contains { $0.contains(bytes: bytes) }
    }

    /// The client of a request from `peer` whose header fields `values(name)` returns (all
    /// values of a lower-case name, in order).
    func client(peer: String?, values: (String) -> [String]) -> Client {
        guard let peer, self.trusts(peer) else { return Client(address: peer, forwardedScheme: nil) }
        let hops = Self.hops(values)
        var client = Client(address: peer, forwardedScheme: nil)
        for hop in hops.suffix(Self.maximumHops).reversed() {
            guard let address = hop.address.flatMap(Self.address(ofHop:)) else { break }
            client.address = address
            if let scheme = hop.scheme { client.forwardedScheme = scheme }
            if !self.trusts(address) { break }
        }
        return client
    }

    /// The client of an HTTP request from `peer`.
    func client(peer: String?, fields: HTTPFields) -> Client {
        self.client(peer: peer, values: { name in HTTPField.Name(name).map { fields[values: $0] } ?? [] })
    }

    /// The hops a request's forwarding headers list, client first.
    private static func hops(_ values: (String) -> [String]) -> [(address: String?, scheme: String?)] {
        let forwardedFor = values("x-forwarded-for")
        if !forwardedFor.isEmpty {
            let scheme = values("x-forwarded-proto").first.flatMap { Self.scheme(($0.split(separator: ",").first ?? "").trimmingBlanks) }
            return forwardedFor.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }.map { (address: Optional($0.trimmingBlanks), scheme: scheme) }
        }
        return values("forwarded").flatMap(Self.forwardedElements)
    }

    /// The `for` and `proto` of each element of a `Forwarded` value (RFC 7239 §4).
    private static func forwardedElements(_ value: String) -> [(address: String?, scheme: String?)] {
        var elements: [(address: String?, scheme: String?)] = []
        var address: String?
        var scheme: String?
        var pair = ""
        var quoted = false
        var escaped = false
        func endPair() {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2 {
                switch parts[0].trimmingBlanks.lowercased() {
                case "for": address = parts[1].trimmingBlanks
                case "proto": scheme = Self.scheme(parts[1].trimmingBlanks)
                default: break
                }
            }
            pair = ""
        }
        for character in value {
            if escaped {
                pair.append(character)
                escaped = false
            } else if quoted, character == "\\" {
                escaped = true
            } else if character == "\"" {
                quoted.toggle()
            } else if !quoted, character == ";" {
                endPair()
            } else if !quoted, character == "," {
                endPair()
                elements.append((address, scheme))
                (address, scheme) = (nil, nil)
            } else {
                pair.append(character)
            }
        }
        endPair()
        elements.append((address, scheme))
        return elements
    }

    /// The IP address of a hop: `1.2.3.4`, `1.2.3.4:port`, `2001:db8::1`, `[2001:db8::1]` or
    /// `[2001:db8::1]:port`; `nil` for anything else.
    private static func address(ofHop hop: String) -> String? {
        var text = Substring(hop)
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            let rest = text[text.index(after: close)...]
            guard rest.isEmpty || (rest.hasPrefix(":") && rest.dropFirst().allSatisfy(\.isNumber)) else { return nil }
            text = text[text.index(after: text.startIndex)..<close]
        } else if text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":") {
            text = text[..<colon]
        }
        let address = String(text)
        return IPNetwork.bytes(of: address) == nil ? nil : address
    }

    private static func scheme(_ text: String) -> String? {
        switch text.lowercased() {
        case "http": "http"
        case "https": "https"
        default: nil
        }
    }
}
