import NIOCore
import Testing
@testable import RelayKernel

/// ``EngineIOHeartbeat``: a ping an interval after the last pong; a client silent `timeout`
/// after a ping was due is dropped, however late the sweep that sent it ran.
@Suite("EngineIOHeartbeat")
struct EngineIOHeartbeatTests {
    private let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    private func heartbeat() -> EngineIOHeartbeat {
        EngineIOHeartbeat(interval: .milliseconds(300), timeout: .milliseconds(200), from: self.start)
    }

    @Test func nothingIsDueBeforeTheInterval() {
        var heartbeat = self.heartbeat()
        #expect(heartbeat.check(at: self.start) == .none)
        #expect(heartbeat.check(at: self.start + .milliseconds(299)) == .none)
    }

    @Test func aPingIsDueAfterTheIntervalAndOnlyOnce() {
        var heartbeat = self.heartbeat()
        #expect(heartbeat.check(at: self.start + .milliseconds(300)) == .ping)
        #expect(heartbeat.check(at: self.start + .milliseconds(350)) == .none)
    }

    @Test func theTimeoutCountsFromWhenThePingWasDueNotWhenItWentOut() {
        var heartbeat = self.heartbeat()
        // The sweep runs late: the ping goes out at 340 ms, but the client must answer by 500 ms.
        #expect(heartbeat.check(at: self.start + .milliseconds(340)) == .ping)
        #expect(heartbeat.check(at: self.start + .milliseconds(499)) == .none)
        #expect(heartbeat.check(at: self.start + .milliseconds(500)) == .timedOut)
    }

    @Test func aPongSchedulesTheNextPingAnIntervalLater() {
        var heartbeat = self.heartbeat()
        #expect(heartbeat.check(at: self.start + .milliseconds(300)) == .ping)
        heartbeat.ponged(at: self.start + .milliseconds(320))
        #expect(heartbeat.check(at: self.start + .milliseconds(600)) == .none)
        #expect(heartbeat.check(at: self.start + .milliseconds(619)) == .none)
        #expect(heartbeat.check(at: self.start + .milliseconds(620)) == .ping)
    }

    @Test func aHeldDeadlineGivesAWholeTimeoutFromWhenTheHoldEnds() {
        var heartbeat = self.heartbeat()
        #expect(heartbeat.check(at: self.start + .milliseconds(300)) == .ping)
        // Busy from 400 ms to 900 ms: the client could not answer.
        heartbeat.holdDeadline(at: self.start + .milliseconds(400))
        heartbeat.holdDeadline(at: self.start + .milliseconds(900))
        #expect(heartbeat.check(at: self.start + .milliseconds(1_099)) == .none)
        #expect(heartbeat.check(at: self.start + .milliseconds(1_100)) == .timedOut)
    }

    @Test func holdingWithoutAPingAwaitedChangesNothing() {
        var heartbeat = self.heartbeat()
        heartbeat.holdDeadline(at: self.start + .milliseconds(100))
        #expect(heartbeat.check(at: self.start + .milliseconds(300)) == .ping)
        #expect(heartbeat.check(at: self.start + .milliseconds(500)) == .timedOut)
    }
}
