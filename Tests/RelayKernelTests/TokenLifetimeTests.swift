import Testing
@testable import RelayKernel

@Suite("TokenLifetime")
struct TokenLifetimeTests {
    private var settings: AuthSettings {
        var settings = AuthSettings()
        settings.leeway = 5
        settings.refreshWindow = 60
        return settings
    }

    @Test func warnsOnceWithinTheWindowThenExpiresAfterTheLeeway() throws {
        var lifetime = try #require(TokenLifetime(VerifiedIdentity(userId: "u", claims: [:], expiresAt: 1000)))
        #expect(lifetime.step(at: 900, settings: self.settings) == .nothing)
        #expect(lifetime.step(at: 940, settings: self.settings) == .warn(expiresAtMilliseconds: 1_000_000))
        #expect(lifetime.step(at: 950, settings: self.settings) == .nothing)
        #expect(lifetime.step(at: 1005, settings: self.settings) == .nothing)
        #expect(lifetime.step(at: 1005.5, settings: self.settings) == .expire)
    }

    @Test func aTokenAlreadyInsideTheWindowIsWarnedAtOnce() throws {
        var lifetime = try #require(TokenLifetime(VerifiedIdentity(userId: "u", claims: [:], expiresAt: 1000.25)))
        #expect(lifetime.step(at: 999, settings: self.settings) == .warn(expiresAtMilliseconds: 1_000_250))
    }

    @Test func tokensWithoutExpHaveNoLifetime() {
        #expect(TokenLifetime(VerifiedIdentity(userId: "u", claims: [:], expiresAt: nil)) == nil)
        #expect(TokenLifetime(.anonymous) == nil)
    }
}
