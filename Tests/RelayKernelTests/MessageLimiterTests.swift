import Logging
import Plugins
import Testing
@testable import RelayKernel

/// ``MessageLimiter``: the endpoint's token bucket, a bucket per route that sets its own rate,
/// and at most one `rate_limited` answer a second. Rates here are so slow that no token comes
/// back while a test runs.
@Suite("MessageLimiter")
struct MessageLimiterTests {
    let routes: [String: CompiledRoute]

    init() throws {
        let yaml = """
            endpoints:
              - path: /ws
            plugins:
              p: {plugin: pubsub}
            routes:
              - {endpoint: /ws, type: slow, plugin: p, messagesPerSecond: 0.001, burst: 2}
              - {endpoint: /ws, type: other, plugin: p, messagesPerSecond: 0.001, burst: 2}
              - {endpoint: /ws, type: nobust, plugin: p, messagesPerSecond: 0.001}
              - {endpoint: /ws, type: fast, plugin: p, messagesPerSecond: 2.5}
              - {endpoint: /ws, type: free, plugin: p}
            """
        let registry = BuiltinPlugins.registry
        let file = try RouteFile.decode(yaml: yaml, file: "test.yaml", environment: [:], registry: registry)
        let table = try RouteTable(file: file, registry: registry, previous: nil, logger: Logger(label: "test"))
        let endpoint = try #require(table.endpoint(named: "/ws"))
        self.routes = Dictionary(uniqueKeysWithValues: endpoint.routes.map { ($0.settings.type, $0) })
    }

    private func limits(rate: Double, burst: Int) -> LimitSettings {
        var limits = LimitSettings()
        limits.messagesPerSecond = rate
        limits.burst = burst
        return limits
    }

    @Test func theEndpointBucketAdmitsABurstThenRefuses() {
        var limiter = MessageLimiter(limits: self.limits(rate: 0.001, burst: 3))
        let admitted = (0..<4).map { _ in limiter.admitMessage() }
        #expect(admitted == [true, true, true, false])
    }

    @Test func aRateOfZeroNeverLimits() {
        var limiter = MessageLimiter(limits: self.limits(rate: 0, burst: 1))
        let admitted = (0..<1000).map { _ in limiter.admitMessage() }
        #expect(admitted.allSatisfy { $0 })
    }

    @Test func aRouteWithoutARateIsNeverLimitedByItsOwnBucket() throws {
        var limiter = MessageLimiter(limits: self.limits(rate: 0.001, burst: 1))
        let free = try #require(self.routes["free"])
        let admitted = (0..<1000).map { _ in limiter.admit(free) }
        #expect(admitted.allSatisfy { $0 })
    }

    @Test func aRouteWithARateHasItsOwnBurst() throws {
        var limiter = MessageLimiter(limits: self.limits(rate: 0, burst: 1))
        let slow = try #require(self.routes["slow"])
        let admitted = (0..<3).map { _ in limiter.admit(slow) }
        #expect(admitted == [true, true, false])
        // The endpoint's bucket is separate.
        let endpoint = limiter.admitMessage()
        #expect(endpoint)
    }

    @Test func eachRouteHasItsOwnBucket() throws {
        var limiter = MessageLimiter(limits: self.limits(rate: 0, burst: 1))
        let slow = try #require(self.routes["slow"])
        let other = try #require(self.routes["other"])
        let slowAdmitted = (0..<3).map { _ in limiter.admit(slow) }
        let otherAdmitted = (0..<3).map { _ in limiter.admit(other) }
        #expect(slowAdmitted == [true, true, false])
        #expect(otherAdmitted == [true, true, false])
    }

    @Test func aRouteBurstDefaultsToItsRateAndAtLeastOne() throws {
        var limiter = MessageLimiter(limits: self.limits(rate: 0, burst: 1))
        let nobust = try #require(self.routes["nobust"])
        let single = (0..<2).map { _ in limiter.admit(nobust) }
        #expect(single == [true, false])
        // 2.5 a second: a burst of 2.
        let fast = try #require(self.routes["fast"])
        let double = (0..<3).map { _ in limiter.admit(fast) }
        #expect(double == [true, true, false])
    }

    @Test func aRejectedMessageIsAnsweredAtMostOnceASecond() {
        var limiter = MessageLimiter(limits: self.limits(rate: 0.001, burst: 1))
        let notices = (0..<3).map { _ in limiter.mayNotify() }
        #expect(notices == [true, false, false])
    }
}
