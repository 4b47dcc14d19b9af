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
}
