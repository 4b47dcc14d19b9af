import Testing
@testable import Plugins

@Suite("DevTokensPlugin")
struct DevTokensPluginTests {
    @Test(arguments: [
        ("127.0.0.1", true), ("127.8.9.10", true), ("::1", true), ("::ffff:127.0.0.1", true),
        ("192.168.1.20", false), ("10.0.0.1", false), ("::ffff:10.0.0.1", false), ("1270::1", false),
    ])
    func onlyLoopbackPeersAreTheRelaysOwnMachine(address: String, loopback: Bool) {
        #expect(DevTokensPlugin.isLoopback(address) == loopback)
    }

    @Test func anUnknownPeerIsNotLoopback() {
        #expect(!DevTokensPlugin.isLoopback(nil))
    }
}
