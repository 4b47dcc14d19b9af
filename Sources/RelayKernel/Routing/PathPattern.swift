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
        self.segments = Self.split(text).map { $0.hasPrefix(":") ? .parameter(String($0.dropFirst())) : .literal(String($0)) }
    }

    public var description: String { self.text }

    /// The parameters when `path` matches, else `nil`.
    public func match(_ path: String) -> [String: String]? {
        let parts = Self.split(path)
        guard parts.count == self.segments.count else { return nil }
        var parameters: [String: String] = [:]
        for (segment, part) in zip(self.segments, parts) {
            switch segment {
            case .literal(let literal):
                guard literal == part else { return nil }
            case .parameter(let name):
                guard !part.isEmpty else { return nil }
                parameters[name] = String(part).removingPercentEncodingSafely
            }
        }
        return parameters
    }

    private static func split(_ path: String) -> [Substring] {
        path.split(separator: "/", omittingEmptySubsequences: true)
    }
}

extension String {
    /// Percent-decoded text, or the text itself when it is not valid percent-encoding.
    var removingPercentEncodingSafely: String {
        guard self.contains("%") else { return self }
        var bytes: [UInt8] = []
        var iterator = self.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%"), let high = iterator.next().flatMap(Self.hexValue), let low = iterator.next().flatMap(Self.hexValue) {
                bytes.append(high << 4 | low)
            } else if byte == UInt8(ascii: "%") {
                return self
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self) ?? self
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
