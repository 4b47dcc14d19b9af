import RelayClient
import Testing

@Suite struct BackoffTests {
    @Test func windowsGrowByTheFactorUpToTheCap() {
        let backoff = Backoff(initial: .milliseconds(100), maximum: .milliseconds(700), factor: 2)
        #expect((0...5).map { backoff.window(attempt: $0) } == [100, 200, 400, 700, 700, 700].map { Duration.milliseconds($0) })
        #expect(backoff.window(attempt: 10_000) == .milliseconds(700))
    }

    @Test func delaysAreSpreadOverTheWholeWindow() {
        let backoff = Backoff(initial: .seconds(1), maximum: .seconds(1))
        var generator = SystemRandomNumberGenerator()
        let delays = (0..<200).map { _ in backoff.delay(attempt: 0, using: &generator) }
        #expect(delays.allSatisfy { $0 >= .zero && $0 <= .seconds(1) })
        #expect(delays.contains { $0 < .milliseconds(250) } && delays.contains { $0 > .milliseconds(750) })
    }
}
