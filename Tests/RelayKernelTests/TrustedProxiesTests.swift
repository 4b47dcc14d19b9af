import Testing
@testable import RelayKernel

@Suite("TrustedProxies")
struct TrustedProxiesTests {
    private func client(_ proxies: [String], peer: String?, _ headers: [String: [String]]) -> TrustedProxies.Client {
        TrustedProxies(proxies).client(peer: peer, values: { headers[$0] ?? [] })
    }

    @Test func networksContainTheirAddresses() throws {
        let v4 = try #require(IPNetwork("10.0.0.0/8"))
        #expect(v4.contains("10.255.1.2") && !v4.contains("11.0.0.1") && !v4.contains("::1"))
        #expect(v4.contains("::ffff:10.1.2.3"))
        let v6 = try #require(IPNetwork("fd00::/8"))
        #expect(v6.contains("fd12:3456::1") && !v6.contains("fe80::1"))
        let one = try #require(IPNetwork("127.0.0.1"))
        #expect(one.contains("127.0.0.1") && !one.contains("127.0.0.2"))
        #expect(try #require(IPNetwork("0.0.0.0/0")).contains("8.8.8.8"))
        #expect(try #require(IPNetwork("10.1.2.3/12")).contains("10.15.0.0"))
    }

    @Test(arguments: ["10.0.0.0/33", "fd00::/129", "10.0.0/8", "10.0.0.0/", "/8", "x", "", "10.0.0.0/8/8", "10.0.0.0/-1", "fe80::1%eth0"])
    func malformedNetworksAreRefused(text: String) {
        #expect(IPNetwork(text) == nil)
    }

    @Test func anUntrustedPeerKeepsItsAddress() {
        let headers = ["x-forwarded-for": ["203.0.113.5"], "forwarded": ["for=203.0.113.6"], "x-forwarded-proto": ["https"]]
        #expect(self.client([], peer: "127.0.0.1", headers) == .init(address: "127.0.0.1", forwardedScheme: nil))
        #expect(self.client(["10.0.0.0/8"], peer: "127.0.0.1", headers) == .init(address: "127.0.0.1", forwardedScheme: nil))
    }

    @Test func theRightmostUntrustedHopIsTheClient() {
        let proxies = ["127.0.0.1/32", "10.0.0.0/8"]
        #expect(self.client(proxies, peer: "127.0.0.1", ["x-forwarded-for": ["198.51.100.1, 203.0.113.5, 10.0.0.7"]]).address == "203.0.113.5")
        #expect(self.client(proxies, peer: "127.0.0.1", ["x-forwarded-for": ["198.51.100.1", "203.0.113.5"]]).address == "203.0.113.5")
        // Every hop trusted: the leftmost.
        #expect(self.client(proxies, peer: "127.0.0.1", ["x-forwarded-for": ["10.0.0.1, 10.0.0.2"]]).address == "10.0.0.1")
        // A hop that is no address stops at the last trusted one.
        #expect(self.client(proxies, peer: "127.0.0.1", ["x-forwarded-for": ["203.0.113.5, unknown, 10.0.0.9"]]).address == "10.0.0.9")
        #expect(self.client(proxies, peer: "127.0.0.1", ["x-forwarded-for": [""]]).address == "127.0.0.1")
        // Ports and brackets.
        #expect(self.client(proxies, peer: "127.0.0.1", ["x-forwarded-for": ["203.0.113.5:4711"]]).address == "203.0.113.5")
        #expect(self.client(proxies, peer: "127.0.0.1", ["x-forwarded-for": ["[2001:db8::1]:4711"]]).address == "2001:db8::1")
        #expect(self.client(proxies, peer: "127.0.0.1", ["x-forwarded-for": ["2001:db8::1"]]).address == "2001:db8::1")
    }

    @Test func forwardedIsReadWhenThereIsNoXForwardedFor() {
        let proxies = ["127.0.0.1/32"]
        let forwarded = ["forwarded": [#"for=192.0.2.60;proto=http;by=203.0.113.43, For="[2001:db8:cafe::17]:4711";Proto=HTTPS"#]]
        #expect(self.client(proxies, peer: "127.0.0.1", forwarded) == .init(address: "2001:db8:cafe::17", forwardedScheme: "https"))
        #expect(self.client(proxies, peer: "127.0.0.1", ["forwarded": ["for=_hidden"]]).address == "127.0.0.1")
        #expect(self.client(proxies, peer: "127.0.0.1", ["forwarded": [#"for="a,b";proto=https"#]]).address == "127.0.0.1")
        let both = ["x-forwarded-for": ["203.0.113.1"], "forwarded": ["for=203.0.113.2"], "x-forwarded-proto": ["https, http"]]
        #expect(self.client(proxies, peer: "127.0.0.1", both) == .init(address: "203.0.113.1", forwardedScheme: "https"))
        #expect(self.client(proxies, peer: "127.0.0.1", ["x-forwarded-proto": ["gopher"], "x-forwarded-for": ["203.0.113.1"]]).forwardedScheme == nil)
    }

    @Test func aLongChainIsReadFromTheRightOnly() {
        let chain = Array(repeating: "10.0.0.1", count: 5000).joined(separator: ",")
        let client = self.client(["10.0.0.0/8", "127.0.0.1/32"], peer: "127.0.0.1", ["x-forwarded-for": ["203.0.113.9," + chain]])
        #expect(client.address == "10.0.0.1")
    }
}
