/// An endpoint or HTTP path template: literal segments and `:name` parameters.
public struct PathPattern: Sendable, Hashable, CustomStringConvertible {
    enum Segment: Hashable, Sendable {
        case literal(String)
        case parameter(String)
    }

    /// The template as written.
    public let text: String
    let segments: [Segment]

    /// Parses a template such as `/ws/portal-view/:portalViewId`.
    public init(_ text: String) {
        self.text = text
        self.segments = Self.split(text[...]).map { $0.hasPrefix(":") ? .parameter(String($0.dropFirst())) : .literal(String($0)) }
    }

    public var description: String { self.text }

    /// The parameters when `path` matches, else `nil`.
    public func match(_ path: String) -> [String: String]? {
        self.match(path[...])
    }

    /// The parameters when `path` matches, else `nil`.
    func match(_ path: Substring) -> [String: String]? {
        let parts = Self.split(path)
        guard parts.count == self.segments.count else { return nil }
        var parameters: [String: String] = [:]
        for (segment, part) in zip(self.segments, parts) {
            switch segment {
            case .literal(let literal):
                guard literal == part else { return nil }
            case .parameter(let name):
                guard !part.isEmpty else { return nil }
                parameters[name] = part.percentDecoded
            }
        }
        return parameters
    }

    private static func split(_ path: Substring) -> [Substring] {
        path.utf8.split(separator: UInt8(ascii: "/")).map { Substring($0) }
    }
}

extension Substring {
    /// Percent-decoded text, or the text itself when it is not valid percent-encoding.
    var percentDecoded: String { self.decoded(plusIsSpace: false) }

    /// Form-decoded text (`+` is a space, then percent-decoding), or the text itself when it is not
    /// valid percent-encoding.
    var formDecoded: String { self.decoded(plusIsSpace: true) }

    private func decoded(plusIsSpace: Bool) -> String {
        let escapes = self.utf8.contains { $0 == UInt8(ascii: "%") || (plusIsSpace && $0 == UInt8(ascii: "+")) }
        guard escapes else { return String(self) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(self.utf8.count)
        var iterator = self.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+") where plusIsSpace:
                bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(Self.hexValue), let low = iterator.next().flatMap(Self.hexValue) else { return String(self) }
                bytes.append(high << 4 | low)
            default:
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self) ?? String(self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
