import Testing
@testable import RelayKernel

@Suite("PathPattern")
struct PathPatternTests {
    @Test func literalPathsMatchExactly() {
        let pattern = PathPattern("/ws/pubsub")
        #expect(pattern.match("/ws/pubsub") == [:])
        #expect(pattern.match("/ws/pubsub/") == [:])
        #expect(pattern.match("/ws") == nil)
        #expect(pattern.match("/ws/pubsub/extra") == nil)
        #expect(pattern.match("/ws/PubSub") == nil)
        #expect(pattern.match("/ws/other") == nil)
        #expect(pattern.description == "/ws/pubsub")
    }

    @Test func rootPath() {
        #expect(PathPattern("/").match("/") == [:])
        #expect(PathPattern("/").match("/x") == nil)
    }

    @Test func parametersAreCaptured() {
        let pattern = PathPattern("/ws/portal-view/:portalViewId")
        #expect(pattern.match("/ws/portal-view/abc-123") == ["portalViewId": "abc-123"])
        #expect(pattern.match("/ws/portal-view") == nil)
        #expect(pattern.match("/ws/portal-view/abc/def") == nil)
        #expect(pattern.match("/ws/other-view/abc") == nil)
    }

    @Test func severalParameters() {
        let pattern = PathPattern("/rooms/:room/users/:user")
        #expect(pattern.match("/rooms/r1/users/u2") == ["room": "r1", "user": "u2"])
        #expect(pattern.match("/rooms/r1/members/u2") == nil)
    }

    @Test func parametersArePercentDecoded() {
        let pattern = PathPattern("/topics/:name")
        #expect(pattern.match("/topics/hello%20world") == ["name": "hello world"])
        #expect(pattern.match("/topics/a%2Fb") == ["name": "a/b"])
        #expect(pattern.match("/topics/caf%C3%A9") == ["name": "café"])
        #expect(pattern.match("/topics/%e2%9c%93") == ["name": "✓"])
        #expect(pattern.match("/topics/100%25") == ["name": "100%"])
    }

    @Test func invalidPercentEncodingIsKeptAsIs() {
        let pattern = PathPattern("/topics/:name")
        #expect(pattern.match("/topics/50%") == ["name": "50%"])
        #expect(pattern.match("/topics/%2") == ["name": "%2"])
        #expect(pattern.match("/topics/%zz") == ["name": "%zz"])
        #expect(pattern.match("/topics/%G1ok") == ["name": "%G1ok"])
        // Decodes to bytes that are not UTF-8.
        #expect(pattern.match("/topics/%FF%FE") == ["name": "%FF%FE"])
    }

    /// A percent sign must be followed by two hex digits; `%+1` is not an escape (RFC 3986 §2.1).
    @Test func signCharactersAreNotHexDigits() {
        let pattern = PathPattern("/topics/:name")
        #expect(pattern.match("/topics/a%+1") == ["name": "a%+1"])
    }

    @Test func literalSegmentsAreNotDecoded() {
        #expect(PathPattern("/a b").match("/a%20b") == nil)
    }

    /// Query strings are form-encoded: `+` is a space as well (`?name=a+b%21`).
    @Test func queryValuesAreFormDecoded() {
        #expect(UpgradeRequest.parseQuery("token=a%2Bb+c&resume=&lastSeen=7&x") == ["token": "a+b c", "resume": "", "lastSeen": "7", "x": ""])
        #expect(UpgradeRequest.parseQuery("bad=%zz+1") == ["bad": "%zz+1"])
        #expect(UpgradeRequest.path(of: "/ws/a?b=c?d") == "/ws/a" && UpgradeRequest.query(of: "/ws/a?b=c?d") == "b=c?d")
        #expect(UpgradeRequest.query(of: "/ws") == nil)
    }
}
