import Synchronization
import Testing
@testable import RelayKernel

/// Records which timer actions ran, in order.
final class FiredLog: Sendable {
    private let names = Mutex<[String]>([])
    var all: [String] { self.names.withLock { $0 } }
    func append(_ name: String) { self.names.withLock { $0.append(name) } }
}

@Suite("RelayTimers")
struct RelayTimersTests {
    private func run(_ actions: [@Sendable () async -> Void]) async {
        for action in actions { await action() }
    }

    @Test func takeDueReturnsOnlyDueActionsEarliestFirst() async {
        let timers = RelayTimers()
        let log = FiredLog()
        let start = ContinuousClock.now
        timers.schedule(after: .seconds(30)) { log.append("30s") }
        timers.schedule(after: .seconds(10)) { log.append("10s") }
        timers.schedule(after: .seconds(20)) { log.append("20s") }
        timers.schedule(after: .seconds(5)) { log.append("5s") }

        #expect(timers.takeDue(now: start).isEmpty)
        await self.run(timers.takeDue(now: start + .seconds(21)))
        #expect(log.all == ["5s", "10s", "20s"])
        // Taken actions do not come back.
        #expect(timers.takeDue(now: start + .seconds(21)).isEmpty)
        await self.run(timers.takeDue(now: start + .seconds(60)))
        #expect(log.all == ["5s", "10s", "20s", "30s"])
        #expect(timers.takeDue(now: start + .seconds(3600)).isEmpty)
    }

    @Test func equalDelaysFireInSchedulingOrder() async {
        let timers = RelayTimers()
        let log = FiredLog()
        for index in 0..<20 { timers.schedule(after: .seconds(1)) { log.append("\(index)") } }
        await self.run(timers.takeDue(now: .now + .seconds(2)))
        #expect(log.all == (0..<20).map(String.init))
    }

    @Test func cancelledTimersNeverFire() async {
        let timers = RelayTimers()
        let log = FiredLog()
        let keep = timers.schedule(after: .seconds(1)) { log.append("keep") }
        let drop = timers.schedule(after: .seconds(2)) { log.append("drop") }
        #expect(keep != drop)
        #expect(timers.cancel(drop))
        #expect(!timers.cancel(drop))
        await self.run(timers.takeDue(now: .now + .seconds(10)))
        #expect(log.all == ["keep"])
        // A timer that already fired can no longer be cancelled.
        #expect(!timers.cancel(keep))
    }

    @Test func zeroDelayIsDueAtOnce() async {
        let timers = RelayTimers()
        let log = FiredLog()
        timers.schedule(after: .zero) { log.append("now") }
        await self.run(timers.takeDue(now: .now))
        #expect(log.all == ["now"])
    }

    @Test func runLoopFiresDueTimers() async throws {
        let timers = RelayTimers(tick: .milliseconds(1))
        let log = FiredLog()
        timers.schedule(after: .zero) { log.append("fired") }
        let task = Task { try await timers.run() }
        // Bounded wait: at most 20 × 2 ms.
        for _ in 0..<20 where log.all.isEmpty {
            try await Task.sleep(for: .milliseconds(2))
        }
        task.cancel()
        _ = try? await task.value
        #expect(log.all == ["fired"])
    }
}
