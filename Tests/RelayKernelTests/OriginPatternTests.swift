import Testing
@testable import RelayKernel

@Suite("OriginPattern")
struct OriginPatternTests {
    private func pattern(_ text: String) throws -> OriginPattern {
        try #require(OriginPattern(text), "pattern \(text) should parse")
    }

    @Test func localhostAnyPort() throws {
        let pattern = try self.pattern("http://localhost:*")
        #expect(pattern.matches("http://localhost:3000"))
        #expect(pattern.matches("http://localhost:8080"))
        #expect(pattern.matches("http://localhost"))
        #expect(pattern.matches("HTTP://LocalHost:5173"))
        #expect(!pattern.matches("https://localhost:3000"))
        #expect(!pattern.matches("http://127.0.0.1:3000"))
        #expect(!pattern.matches("http://localhost.evil.com:3000"))
        #expect(!pattern.matches("http://evil-localhost:3000"))
        #expect(!pattern.matches("ws://localhost:3000"))
    }

    @Test func exactPort() throws {
        let pattern = try self.pattern("http://localhost:3000")
        #expect(pattern.matches("http://localhost:3000"))
        #expect(!pattern.matches("http://localhost:3000/"))
        #expect(!pattern.matches("http://localhost:3001"))
        #expect(!pattern.matches("http://localhost:30000"))
        #expect(!pattern.matches("http://localhost"))
        #expect(!pattern.matches("https://localhost:3000"))
    }

    @Test func noPortMeansTheDefaultPort() throws {
        let https = try self.pattern("https://app.example.com")
        #expect(https.matches("https://app.example.com"))
        #expect(https.matches("https://app.example.com:443"))
        #expect(!https.matches("https://app.example.com:8443"))
        #expect(!https.matches("http://app.example.com"))
        let http = try self.pattern("http://app.example.com")
        #expect(http.matches("http://app.example.com:80"))
        #expect(!http.matches("http://app.example.com:443"))
    }

    @Test func explicitDefaultPortMatchesAnOriginWithout() throws {
        #expect(try self.pattern("https://app.example.com:443").matches("https://app.example.com"))
        #expect(try self.pattern("http://app.example.com:80").matches("http://app.example.com"))
    }

    @Test func wildcardHost() throws {
        let pattern = try self.pattern("https://*.example.com")
        #expect(pattern.matches("https://a.example.com"))
        #expect(pattern.matches("https://a.b.example.com"))
        #expect(!pattern.matches("https://example.com"))
        #expect(!pattern.matches("https://a.example.com.evil.org"))
        #expect(!pattern.matches("https://evilexample.com"))
        #expect(!pattern.matches("https://a.example.com:8443"))
    }

    @Test func starAloneMatchesEveryOrigin() throws {
        let pattern = try self.pattern("*")
        #expect(pattern.matches("http://localhost:3000"))
        #expect(pattern.matches("https://example.com"))
        #expect(pattern.matches("https://example.com:8443"))
        #expect(pattern.matches("chrome-extension://abcdef"))
    }

    @Test func ipv6Hosts() throws {
        let pattern = try self.pattern("http://[::1]:*")
        #expect(pattern.matches("http://[::1]:8080"))
        #expect(pattern.matches("http://[::1]"))
        #expect(!pattern.matches("http://[::2]:8080"))
    }

    @Test func malformedOriginsNeverMatch() throws {
        let pattern = try self.pattern("*")
        #expect(!pattern.matches("localhost:3000"))
        #expect(!pattern.matches("http://"))
        #expect(!pattern.matches("http://host/path"))
        #expect(!pattern.matches(""))
    }

    @Test(arguments: ["localhost", "localhost:3000", "http://", "://host", "http://host/path", ""])
    func malformedPatternsAreRefused(text: String) {
        #expect(OriginPattern(text) == nil)
    }

    @Test(arguments: [
        "http://127.0.0.1:8080.evil.example", "http://127.0.0.1:80@evil.example", "http://user@127.0.0.1:8080",
        "http://127.0.0.1:8080/", "http://127.0.0.1:8080?q", "http://127.0.0.1:8080#f", "http://127.0.0.1.:8080",
        "http://127.0.0.1:+80", "http://127.0.0.1:99999", "http://127.0.0.1:", "http://127.0.0.1:*", "http://127.0.0.1 :80",
        "http://127.0.0.1:8\u{0}0", "http://127.0.0.1:８０", "null", "",
    ])
    func hostileOriginsDoNotMatchAPortWildcard(origin: String) throws {
        #expect(!(try self.pattern("http://127.0.0.1:*")).matches(origin))
    }

    @Test func subdomainWildcardsMatchWholeLabelsOnly() throws {
        let pattern = try self.pattern("https://*.example.com")
        #expect(pattern.matches("https://x.example.com:443"))
        #expect(pattern.matches("HTTPS://X.Y.EXAMPLE.COM"))
        for origin in ["https://example.com", "https://.example.com", "https://example.com.evil.net", "https://evilexample.com",
                       "https://a.example.com.", "https://a..example.com", "https://a.example.com:8443", "http://a.example.com"] {
            #expect(!pattern.matches(origin), "\(origin)")
        }
    }

    @Test func nullMatchesOnlyANullEntry() throws {
        #expect(try self.pattern("null").matches("null"))
        #expect(!(try self.pattern("null")).matches("http://localhost"))
        #expect(!(try self.pattern("*")).matches("null"))
        #expect(try self.pattern("*").admitsEveryOrigin)
    }

    @Test func punycodeHostsMatchAndRawUnicodeIsMalformed() throws {
        let pattern = try self.pattern("https://xn--bcher-kva.example")
        #expect(pattern.matches("https://xn--bcher-kva.example"))
        #expect(!pattern.matches("https://bücher.example"))
        #expect(OriginPattern("https://bücher.example") == nil)
    }

    @Test func longValuesAreRefusedUnread() throws {
        let pattern = try self.pattern("*")
        #expect(!pattern.matches("http://" + String(repeating: "a", count: 600) + ".example"))
        #expect(!pattern.matches("http://" + Array(repeating: "a", count: 130).joined(separator: ".") + ".example"))
        #expect(pattern.matches("http://" + String(repeating: "a", count: 63) + ".example"))
        #expect(!pattern.matches("http://" + String(repeating: "a", count: 64) + ".example"))
    }

    @Test(arguments: ["http://*:8080", "http://local*:8080", "https://*example.com", "https://a.*.example.com", "http://localhost:8*",
                      "http://*.0.0.1:*", "http://localhost.", "http://user@localhost", "https://bücher.example", "http://localhost:65536"])
    func patternsThatAreNotOfTheFormAreRefused(text: String) {
        #expect(OriginPattern(text) == nil)
    }
}
