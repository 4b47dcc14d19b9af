/// A message type pattern: an exact type, or a glob with `*` (any run) and `?` (one character).
public struct TypePattern: Sendable, Hashable, CustomStringConvertible {
    private let characters: [Character]
    /// The pattern as written.
    public let text: String
    /// Whether the pattern has no wildcards.
    public let isExact: Bool

    /// Parses a pattern; `nil` for an empty one.
    public init?(_ text: String) {
        guard !text.isEmpty else { return nil }
        self.text = text
        self.characters = Array(text)
        self.isExact = !text.contains("*") && !text.contains("?")
    }

    public var description: String { self.text }

    /// Whether `type` matches.
    public func matches(_ type: String) -> Bool {
        if self.isExact { return type == self.text }
        let input = Array(type)
        var patternIndex = 0
        var inputIndex = 0
        var starIndex: Int?
        var starMatch = 0
        while inputIndex < input.count {
            if patternIndex < self.characters.count,
                self.characters[patternIndex] == "?" || self.characters[patternIndex] == input[inputIndex]
            {
                patternIndex += 1
                inputIndex += 1
            } else if patternIndex < self.characters.count, self.characters[patternIndex] == "*" {
                starIndex = patternIndex
                starMatch = inputIndex
                patternIndex += 1
            } else if let star = starIndex {
                patternIndex = star + 1
                starMatch += 1
                inputIndex = starMatch
            } else {
                return false
            }
        }
        while patternIndex < self.characters.count, self.characters[patternIndex] == "*" { patternIndex += 1 }
        return patternIndex == self.characters.count
    }

    /// Whether this pattern matches every type `other` matches (so a route with this pattern
    /// placed before one with `other` leaves the latter nothing).
    public func covers(_ other: TypePattern) -> Bool {
        let pattern = self.characters
        let covered = other.characters
        // matches[i][k]: pattern[i...] matches every expansion of covered[k...]. A `*` of the
        // pattern takes any run of the other's characters and wildcards, a `?` one literal or
        // `?`, a literal only the same literal.
        var matches = Array(repeating: Array(repeating: false, count: covered.count + 1), count: pattern.count + 1)
        matches[pattern.count][covered.count] = true
        for i in stride(from: pattern.count - 1, through: 0, by: -1) {
            for k in stride(from: covered.count, through: 0, by: -1) {
                let next = k < covered.count ? covered[k] : nil
                switch pattern[i] {
                case "*": matches[i][k] = matches[i + 1][k] || (next != nil && matches[i][k + 1])
                case "?": matches[i][k] = next != nil && next != "*" && matches[i + 1][k + 1]
                default: matches[i][k] = next == pattern[i] && matches[i + 1][k + 1]
                }
            }
        }
        return matches[0][0]
    }
}
