import Testing
@testable import RelayKernel

@Suite("TypePattern")
struct TypePatternTests {
    private func matches(_ pattern: String, _ type: String) -> Bool {
        guard let compiled = TypePattern(pattern) else {
            Issue.record("pattern \(pattern.debugDescription) did not parse")
            return false
        }
        return compiled.matches(type)
    }

    @Test func emptyPatternIsRefused() {
        #expect(TypePattern("") == nil)
    }

    @Test func exactPatterns() throws {
        let pattern = try #require(TypePattern("publish"))
        #expect(pattern.isExact)
        #expect(pattern.description == "publish")
        #expect(pattern.matches("publish"))
        #expect(!pattern.matches("Publish"))
        #expect(!pattern.matches("publish2"))
        #expect(!pattern.matches("publis"))
        #expect(!pattern.matches(""))
    }

    @Test func wildcardPatternsAreNotExact() throws {
        #expect(try #require(TypePattern("a*")).isExact == false)
        #expect(try #require(TypePattern("a?")).isExact == false)
        #expect(try #require(TypePattern("a.b")).isExact == true)
    }

    @Test(arguments: [
        ("pubsub.*", "pubsub.publish", true),
        ("pubsub.*", "pubsub.", true),
        ("pubsub.*", "pubsub.a.b.c", true),
        ("pubsub.*", "pubsub", false),
        ("pubsub.*", "xpubsub.publish", false),
        ("pubsub.*", "pubsubXpublish", false),
        ("*", "", true),
        ("*", "anything at all", true),
        ("**", "x", true),
        ("*.end", "a.b.end", true),
        ("*.end", ".end", true),
        ("*.end", "a.end.x", false),
        ("a?c", "abc", true),
        ("a?c", "a.c", true),
        ("a?c", "ac", false),
        ("a?c", "abbc", false),
        ("???", "abc", true),
        ("???", "ab", false),
        ("???", "abcd", false),
        ("a*b*c", "abc", true),
        ("a*b*c", "aXbYbZc", true),
        ("a*b*c", "aXbYbZcd", false),
        ("a*b*c", "acb", false),
        ("*a*", "banana", true),
        ("*x*", "banana", false),
        ("a*?", "a", false),
        ("a*?", "ab", true),
        ("?*", "", false),
        ("é?", "éa", true),
        ("media.*.frame", "media.video.frame", true),
        ("media.*.frame", "media..frame", true),
        ("media.*.frame", "media.video.frames", false),
    ])
    func globs(pattern: String, type: String, expected: Bool) {
        #expect(self.matches(pattern, type) == expected, "\(pattern) vs \(type)")
    }

    @Test(arguments: [
        ("*", "anything", true),
        ("*", "a*", true),
        ("*", "?", true),
        ("cam-*", "cam-offer", true),
        ("cam-*", "cam-x*", true),
        ("cam-*", "cam-?", true),
        ("cam-*", "cam*", false),
        ("cam-*", "other", false),
        ("a?", "ab", true),
        ("a?", "a?", true),
        ("a?", "a*", false),
        ("?*", "*", false),
        ("?*", "?*", true),
        ("*.end", "a.*.end", true),
        ("*.end", "*.en?", false),
        ("publish", "publish", true),
        ("publish", "pub*", false),
        ("a*b", "a*c", false),
        ("**", "*", true),
    ])
    func covers(pattern: String, other: String, expected: Bool) throws {
        let covering = try #require(TypePattern(pattern))
        let covered = try #require(TypePattern(other))
        #expect(covering.covers(covered) == expected, "\(pattern) covers \(other)")
    }
}
