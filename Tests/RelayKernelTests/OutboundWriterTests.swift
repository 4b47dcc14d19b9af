import Testing
@testable import RelayKernel

/// ``OutboundWriter``: the sessions a connection writes for (one per namespace), taken in turns,
/// and the end of a connection whose sessions all resumed elsewhere.
@Suite("OutboundWriter")
struct OutboundWriterTests {
    let harness = DeliveryHarness()

    /// A session with `count` messages queued, named `<id>1`, `<id>2`, ...
    private func session(_ id: String, queued count: Int) -> ClientSession {
        let session = self.harness.session(id).session
        for n in 0..<count {
            _ = session.enqueue(.json(type: "\(id)\(n + 1)"), policy: .close, counter: nil)
        }
        return session
    }

    /// What `next()` gives until it runs out: "namespace:type", then "empty" or "superseded".
    private func take(_ writer: inout OutboundWriter, limit: Int = 50) -> [String] {
        var taken: [String] = []
        for _ in 0..<limit {
            switch writer.next() {
            case .frame(let frame, let namespace):
                taken.append("\(namespace):\(frame.message.type)")
            case .empty:
                taken.append("empty")
                return taken
            case .superseded:
                taken.append("superseded")
                return taken
            }
        }
        return taken
    }

    /// Moves `session` to another connection, as a resume does (its writers here are superseded).
    private func resumeElsewhere(_ session: ClientSession) throws {
        _ = try #require(session.resume(on: self.harness.control(), lastSeen: 0, newToken: "moved"))
    }

    @Test func aWriterWithoutSessionsHasNothing() {
        var writer = OutboundWriter()
        #expect(self.take(&writer) == ["empty"])
        #expect(!writer.hasWaiting)
    }

    @Test func framesComeOutInTheirSessionsOrder() {
        var writer = OutboundWriter()
        writer.attach(self.session("a", queued: 3), generation: 0, namespace: "")
        #expect(self.take(&writer) == [":a1", ":a2", ":a3", "empty"])
    }

    @Test func sessionsAreTakenInTurns() {
        var writer = OutboundWriter()
        writer.attach(self.session("a", queued: 3), generation: 0, namespace: "/a")
        writer.attach(self.session("b", queued: 1), generation: 0, namespace: "/b")
        writer.attach(self.session("c", queued: 2), generation: 0, namespace: "/c")
        #expect(self.take(&writer) == ["/a:a1", "/b:b1", "/c:c1", "/a:a2", "/c:c2", "/a:a3", "empty"])
    }

    @Test func attachingToANamespaceReplacesItsSession() {
        var writer = OutboundWriter()
        writer.attach(self.session("old", queued: 2), generation: 0, namespace: "/chat")
        writer.attach(self.session("new", queued: 1), generation: 0, namespace: "/chat")
        #expect(self.take(&writer) == ["/chat:new1", "empty"])
    }

    @Test func aDetachedNamespaceIsNoLongerWritten() {
        var writer = OutboundWriter()
        writer.attach(self.session("a", queued: 1), generation: 0, namespace: "/a")
        writer.attach(self.session("b", queued: 1), generation: 0, namespace: "/b")
        writer.detach(namespace: "/a")
        #expect(self.take(&writer) == ["/b:b1", "empty"])
    }

    @Test func hasWaitingFollowsTheQueues() {
        var writer = OutboundWriter()
        writer.attach(self.session("a", queued: 1), generation: 0, namespace: "/a")
        writer.attach(self.session("b", queued: 0), generation: 0, namespace: "/b")
        #expect(writer.hasWaiting)
        _ = self.take(&writer)
        #expect(!writer.hasWaiting)
    }

    @Test func aWriterWhoseOnlySessionResumedElsewhereIsSuperseded() throws {
        var writer = OutboundWriter()
        let session = self.session("a", queued: 2)
        writer.attach(session, generation: 0, namespace: "")
        try self.resumeElsewhere(session)
        #expect(self.take(&writer) == ["superseded"])
    }

    @Test func aSessionThatResumedElsewhereIsDroppedAndTheOthersGoOn() throws {
        var writer = OutboundWriter()
        let moved = self.session("a", queued: 2)
        writer.attach(moved, generation: 0, namespace: "/a")
        writer.attach(self.session("b", queued: 2), generation: 0, namespace: "/b")
        try self.resumeElsewhere(moved)
        #expect(self.take(&writer) == ["/b:b1", "/b:b2", "empty"])
        // Only when the last one goes too is the connection superseded.
        writer.detach(namespace: "/b")
        #expect(self.take(&writer) == ["empty"])
    }

    @Test func aWriterAttachedForAnotherGenerationIsSuperseded() {
        var writer = OutboundWriter()
        let session = self.session("a", queued: 1)
        // Attached for a generation the session has not reached: not this writer's frames.
        writer.attach(session, generation: 1, namespace: "")
        #expect(self.take(&writer) == ["superseded"])
        #expect(session.pendingCount == 1)
    }

    /// A session dropped for resuming elsewhere must not make the writer skip another one that
    /// still has frames: `.empty` ends the pump until the next wake-up.
    @Test func droppingAResumedSessionSkipsNoOtherSession() throws {
        var writer = OutboundWriter()
        let a = self.session("a", queued: 0)
        let b = self.session("b", queued: 1)
        writer.attach(a, generation: 0, namespace: "/a")
        writer.attach(b, generation: 0, namespace: "/b")
        writer.attach(self.session("c", queued: 0), generation: 0, namespace: "/c")
        // /b's frame is taken: /c's turn is next.
        #expect(self.take(&writer) == ["/b:b1", "empty"])
        _ = b.enqueue(.json(type: "b2"), policy: .close, counter: nil)
        try self.resumeElsewhere(a)
        #expect(self.take(&writer) == ["/b:b2", "empty"])
    }
}
