
/// An IPv4 or IPv6 network in CIDR notation (`10.0.0.0/8`, `fd00::/8`; an address alone is a
/// network of one). Addresses are read in their text forms (dotted quad; RFC 4291 §2.2 with `::`
/// and a trailing dotted quad); an IPv4-mapped IPv6 address (`::ffff:10.1.2.3`) is the IPv4
/// address it maps.
struct IPNetwork: Sendable, Hashable {
    /// The network's address bytes (4 or 16), host bits cleared.
    private let prefix: [UInt8]
    private let length: Int

    /// Parses `address[/bits]`; `nil` when malformed.
    init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = Self.bytes(of: String(parts[0])) else { return nil }
        let maximum = address.count * 8
        var length = maximum
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].utf8.count <= 3, parts[1].allSatisfy(\.isASCII), let bits = Int(parts[1]), (0...maximum).contains(bits) else {
                return nil
            }
            length = bits
        }
        self.length = length
        self.prefix = Self.masked(address, bits: length)
    }

    /// Whether `address` (text as NIO prints peers, or as a header carries it) is in the network.
    func contains(_ address: String) -> Bool {
        guard let bytes = Self.bytes(of: address) else { return false }
        return self.contains(bytes: bytes)
    }

    /// Whether the address `bytes` (4 or 16) is in the network.
    func contains(bytes: [UInt8]) -> Bool {
        bytes.count == self.prefix.count && Self.masked(bytes, bits: self.length) == self.prefix
    }

    /// The bytes of an IPv4 or IPv6 address (an IPv4-mapped IPv6 address gives its 4 IPv4
    /// bytes); `nil` for anything else, including a zone (`%eth0`) or a port.
    static func bytes(of text: String) -> [UInt8]? {
        guard !text.isEmpty, text.utf8.count <= 45 else { return nil }
        if !text.contains(":") { return Self.ipv4(Substring(text)) }
        guard let bytes = Self.ipv6(text) else { return nil }
        let mapped: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]
        return bytes.starts(with: mapped) ? Array(bytes[12...]) : bytes
    }

    /// Four decimal octets of 0...255 (1 to 3 digits each).
    private static func ipv4(_ text: Substring) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard (1...3).contains(part.utf8.count), part.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                let value = UInt8(part)
            else { return nil }
            bytes.append(value)
        }
        return bytes
    }

    /// Eight groups of 1 to 4 hex digits, `::` standing for one or more zero groups (once), the
    /// last 32 bits optionally as a dotted quad.
    private static func ipv6(_ text: String) -> [UInt8]? {
        let halves = text.split(separator: "::", omittingEmptySubsequences: false)
        guard halves.count <= 2 else { return nil }
        func groups(_ part: Substring) -> [UInt8]? {
            guard !part.isEmpty else { return [] }
            var bytes: [UInt8] = []
            let fields = part.split(separator: ":", omittingEmptySubsequences: false)
            for (index, field) in fields.enumerated() {
                if index == fields.count - 1, field.contains(".") {
                    guard let v4 = Self.ipv4(field) else { return nil }
                    bytes += v4
                    continue
                }
                guard (1...4).contains(field.utf8.count), let value = UInt16(field, radix: 16), field.utf8.allSatisfy({ $0 != UInt8(ascii: "+") && $0 != UInt8(ascii: "-") }) else {
                    return nil
                }
                bytes += [UInt8(value >> 8), UInt8(value & 0xFF)]
            }
            return bytes
        }
        guard let head = groups(halves[0]) else { return nil }
        if halves.count == 1 { return head.count == 16 ? head : nil }
        guard let tail = groups(halves[1]), head.count + tail.count <= 14 else { return nil }
        return head + Array(repeating: 0, count: 16 - head.count - tail.count) + tail
    }

    private static func masked(_ bytes: [UInt8], bits: Int) -> [UInt8] {
        bytes.enumerated().map { index, byte in
            let kept = min(max(bits - index * 8, 0), 8)
            return kept == 8 ? byte : byte & ~(UInt8.max >> kept)
        }
    }
}
