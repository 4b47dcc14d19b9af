import NIOCore
import Testing
@testable import RelayKernel

/// The session side of a cluster takeover: handing the unseen frames over, restoring them on
/// the new node, holding the writer, and diverting this node's sends behind a fence.
@Suite("ClientSession handover")
struct ClientSessionHandoverTests {
    let harness = DeliveryHarness()

    @Test func handOverGivesTheUnseenReplayThenTheQueueAndEndsTheSession() throws {
        let (session, _) = self.harness.session("a", queueMessages: 100)
        for n in 1...5 { _ = session.enqueue(numbered(n), policy: .close, counter: nil) }
        #expect(drain(session, generation: 0, limit: 3).map(\.n) == [1, 2, 3])  // written: sequences 1-3
        let handed = try #require(session.handOver(after: 1))
        #expect(handed.frames.map { $0.sequence } == [2, 3, nil, nil])
        #expect(handed.frames.compactMap { number(of: $0.message) } == [2, 3, 4, 5])
        #expect(handed.lastSequence == 3)
        #expect(session.phase == .gone)
        #expect(session.handOver(after: 0) == nil)  // only once
        #expect(session.enqueue(numbered(6), policy: .close, counter: nil) == .gone)
    }

    @Test func restorePutsHandedFramesFirstAndContinuesTheNumbering() throws {
        let (old, _) = self.harness.session("a", queueMessages: 100)
        for n in 1...4 { _ = old.enqueue(numbered(n), policy: .close, counter: nil) }
        _ = drain(old, generation: 0, limit: 2)
        let handed = try #require(old.handOver(after: 1))

        let (new, _) = self.harness.session("a", queueMessages: 100)
        _ = new.enqueue(numbered(5), policy: .close, counter: nil)  // arrived during the takeover
        new.restore(handed.frames, lastSequence: handed.lastSequence)
        #expect(drain(new, generation: 0).map(\.description) == [Pair(2, 2), Pair(3, 3), Pair(4, 4), Pair(5, 5)].map(\.description))
        // The handed-over frame the client had not seen is in the new replay log too.
        let resumed = try #require(new.resume(on: self.harness.control(), lastSeen: 1, newToken: "t"))
        #expect(resumed.replayed == 4)
    }

    @Test func aHeldSessionKeepsItsFramesUntilReleased() {
        let (session, _) = self.harness.session("a", queueMessages: 10)
        session.hold()
        _ = session.enqueue(numbered(1), policy: .close, counter: nil)
        #expect(drain(session, generation: 0).isEmpty)
        session.release()
        #expect(drain(session, generation: 0).map(\.n) == [1])
    }

    @Test func divertingSendsUntilTheFenceAndEveryDivertedMessageAreBack() {
        let (session, _) = self.harness.session("a", queueMessages: 10)
        session.startDiverting()  // the fence is on its way
        #expect(session.enqueue(numbered(1), policy: .close, counter: nil) == .diverted)
        #expect(session.enqueue(numbered(2), policy: .close, counter: nil, divertible: false) == .queued)  // arrived in database order
        session.divertedArrived()  // the fence
        #expect(session.enqueue(numbered(3), policy: .close, counter: nil) == .diverted)  // message 1 still out
        session.divertedArrived()  // message 1
        session.divertedArrived()  // message 3
        #expect(session.enqueue(numbered(4), policy: .close, counter: nil) == .queued)
    }
}
