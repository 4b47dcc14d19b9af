import NIOCore
import Synchronization
import Testing
@testable import RelayKernel

@Suite("ClientSession")
struct ClientSessionTests {
    let harness = DeliveryHarness()

    // MARK: Queue bounds and overflow policies

    @Test func queuesUpToTheBoundThenClosesUnderTheClosePolicy() {
        let (session, control) = self.harness.session("a", queueMessages: 2)
        #expect(session.enqueue(numbered(1), policy: .close, counter: nil) == .queued)
        #expect(session.enqueue(numbered(2), policy: .close, counter: nil) == .queued)
        #expect(control.closeReason == nil)
        #expect(session.enqueue(numbered(3), policy: .close, counter: nil) == .overflowClose)
        #expect(control.closeReason == CloseReason(.tryAgainLater, "slow consumer"))
        // The message is kept so the client finds it when it resumes.
        #expect(session.pendingCount == 3)
    }

    @Test func byteBoundCountsToo() {
        let big = OutboundMessage(kind: .text, bytes: ByteBuffer(repeating: UInt8(ascii: "x"), count: 600), type: "big")
        let (session, control) = self.harness.session("a", queueMessages: 100, queueBytes: 1024)
        #expect(session.enqueue(big, policy: .close, counter: nil) == .queued)
        #expect(session.enqueue(big, policy: .close, counter: nil) == .overflowClose)
        #expect(control.closeReason?.code == .tryAgainLater)

        let (dropping, dropControl) = self.harness.session("b", queueMessages: 100, queueBytes: 1024)
        #expect(dropping.enqueue(big, policy: .dropOldest, counter: nil) == .queued)
        #expect(dropping.enqueue(big, policy: .dropOldest, counter: nil) == .dropped)
        #expect(dropping.pendingCount == 1)
        #expect(dropControl.closeReason == nil)
    }

    @Test func overflowBeyondTwiceTheBoundLosesTheQueueAndTheResume() {
        let (session, control) = self.harness.session("a", queueMessages: 2)
        for n in 1...2 { #expect(session.enqueue(numbered(n), policy: .close, counter: nil) == .queued) }
        for n in 3...4 { #expect(session.enqueue(numbered(n), policy: .close, counter: nil) == .overflowClose) }
        #expect(session.pendingCount == 4)
        #expect(session.enqueue(numbered(5), policy: .close, counter: nil) == .overflowClose)
        #expect(session.pendingCount == 0)
        #expect(session.detach(from: control) == 0)
        #expect(session.resume(on: self.harness.control(), lastSeen: 0, newToken: "t2") == nil)
    }

    @Test func dropOldestKeepsTheNewest() {
        let (session, control) = self.harness.session("a", queueMessages: 3)
        for n in 1...3 { #expect(session.enqueue(numbered(n), policy: .dropOldest, counter: nil) == .queued) }
        for n in 4...10 { #expect(session.enqueue(numbered(n), policy: .dropOldest, counter: nil) == .dropped) }
        #expect(control.closeReason == nil)
        #expect(drain(session, generation: 0).map(\.n) == [8, 9, 10])
    }

    @Test func dropOldestNeverDropsMessagesQueuedUnderTheClosePolicy() {
        let (session, _) = self.harness.session("a", queueMessages: 2)
        #expect(session.enqueue(numbered(1), policy: .close, counter: nil) == .queued)
        #expect(session.enqueue(numbered(2), policy: .close, counter: nil) == .queued)
        // Nothing droppable is queued: the new message itself is the one dropped.
        #expect(session.enqueue(numbered(3), policy: .dropOldest, counter: nil) == .dropped)
        #expect(drain(session, generation: 0).map(\.n) == [1, 2])
    }

    @Test func dropOldestSkipsControlMessagesWhenChoosingTheVictim() {
        let (session, _) = self.harness.session("a", queueMessages: 3)
        #expect(session.enqueue(numbered(1), policy: .close, counter: nil) == .queued)
        #expect(session.enqueue(numbered(2), policy: .dropOldest, counter: nil) == .queued)
        #expect(session.enqueue(numbered(3), policy: .close, counter: nil) == .queued)
        #expect(session.enqueue(numbered(4), policy: .dropOldest, counter: nil) == .dropped)
        #expect(drain(session, generation: 0).map(\.n) == [1, 3, 4])
    }

    /// `limits.queueBytes` is "the outbound queue bound per client (bytes)": under drop-oldest
    /// (unlike `close`, which keeps up to twice the bound for resume on purpose) the queue
    /// should drop as many old droppable messages as it takes to stay within it.
    @Test func dropOldestStaysWithinTheByteBound() {
        let (session, _) = self.harness.session("a", queueMessages: 100, queueBytes: 1024)
        let small = OutboundMessage(kind: .binary, bytes: ByteBuffer(repeating: 1, count: 100), type: "small")
        let large = OutboundMessage(kind: .binary, bytes: ByteBuffer(repeating: 2, count: 900), type: "large")
        for _ in 0..<10 { #expect(session.enqueue(small, policy: .dropOldest, counter: nil) == .queued) }
        for _ in 0..<3 { #expect(session.enqueue(large, policy: .dropOldest, counter: nil) == .dropped) }
        var queuedBytes = 0
        while case .frame(let frame) = session.popForWriter(generation: 0) { queuedBytes += frame.message.bytes.readableBytes }
        #expect(queuedBytes <= 1024)
    }

    @Test func overflowWhileDetachedRequestsNoClose() {
        let (session, control) = self.harness.session("a", queueMessages: 1)
        #expect(session.detach(from: control) == 0)
        #expect(session.enqueue(numbered(1), policy: .close, counter: nil) == .queued)
        #expect(session.enqueue(numbered(2), policy: .close, counter: nil) == .overflowClose)
        #expect(control.closeReason == nil)
    }

    // MARK: Replay numbering and resume

    @Test func framesAreNumberedInDeliveryOrder() {
        let (session, _) = self.harness.session("a")
        for n in 1...3 { _ = session.enqueue(numbered(n), policy: .close, counter: nil) }
        #expect(drain(session, generation: 0) == inOrder(1...3))
        #expect(session.popForWriter(generation: 0).isEmpty)
        for n in 4...5 { _ = session.enqueue(numbered(n), policy: .dropOldest, counter: nil) }
        #expect(drain(session, generation: 0) == inOrder(4...5))
    }

    @Test func resumeReplaysExactlyTheMissedFramesInOrder() throws {
        let (session, control) = self.harness.session("a")
        for n in 1...5 { _ = session.enqueue(numbered(n), policy: .close, counter: nil) }
        #expect(drain(session, generation: 0) == inOrder(1...5))
        #expect(session.detach(from: control) == 0)
        #expect(session.phase == .detached)
        #expect(session.isStillDetached(generation: 0))
        // Queued while detached.
        for n in 6...7 { #expect(session.enqueue(numbered(n), policy: .close, counter: nil) == .queued) }

        let next = self.harness.control()
        let resumed = try #require(session.resume(on: next, lastSeen: 3, newToken: "t2"))
        // Every missed message follows: 4 and 5 (written but unseen), 6 and 7 (queued while away).
        #expect(resumed.replayed == 4)
        #expect(resumed.generation == 1)
        #expect(resumed.previous == nil)
        #expect(session.phase == .attached)
        #expect(session.connection === next)
        #expect(session.resumeToken == "t2")
        #expect(!session.isStillDetached(generation: 0))
        // The old writer is superseded; the new one gets 4 and 5 again, then 6 and 7 numbered on.
        #expect(session.popForWriter(generation: 0).isSuperseded)
        #expect(drain(session, generation: 1) == inOrder(4...7))
    }

    @Test func resumeTwiceDoesNotDuplicate() throws {
        let (session, control) = self.harness.session("a")
        for n in 1...5 { _ = session.enqueue(numbered(n), policy: .close, counter: nil) }
        _ = drain(session, generation: 0)
        _ = session.detach(from: control)
        for n in 6...7 { _ = session.enqueue(numbered(n), policy: .close, counter: nil) }

        // First resume: the new connection writes only frame 4, then drops too.
        let second = self.harness.control()
        let first = try #require(session.resume(on: second, lastSeen: 3, newToken: "t2"))
        #expect(first.replayed == 4)
        #expect(pop(session, generation: first.generation, count: 1) == [Pair(4, 4)])
        #expect(session.detach(from: second) == first.generation)

        // Second resume after seeing 4: frame 5 once, then 6 and 7 once.
        let third = self.harness.control()
        let again = try #require(session.resume(on: third, lastSeen: 4, newToken: "t3"))
        #expect(again.replayed == 3)
        #expect(again.generation == 2)
        #expect(drain(session, generation: again.generation) == inOrder(5...7))
    }

    @Test func resumeTwiceWithoutWritingDoesNotDuplicate() throws {
        let (session, control) = self.harness.session("a")
        for n in 1...5 { _ = session.enqueue(numbered(n), policy: .close, counter: nil) }
        _ = drain(session, generation: 0)
        _ = session.detach(from: control)
        _ = session.enqueue(numbered(6), policy: .close, counter: nil)
        let firstControl = self.harness.control()
        let first = try #require(session.resume(on: firstControl, lastSeen: 2, newToken: "t2"))
        #expect(first.replayed == 4)
        let second = try #require(session.resume(on: self.harness.control(), lastSeen: 2, newToken: "t3"))
        #expect(second.replayed == 4)
        #expect(second.previous === firstControl)
        #expect(session.pendingCount == 4)
        #expect(drain(session, generation: second.generation) == inOrder(3...6))
    }

    @Test func resumeAfterSeeingEverythingReplaysNothing() throws {
        let (session, control) = self.harness.session("a")
        for n in 1...3 { _ = session.enqueue(numbered(n), policy: .close, counter: nil) }
        _ = drain(session, generation: 0)
        _ = session.detach(from: control)
        let resumed = try #require(session.resume(on: self.harness.control(), lastSeen: 3, newToken: "t2"))
        #expect(resumed.replayed == 0)
        _ = session.enqueue(numbered(4), policy: .close, counter: nil)
        #expect(drain(session, generation: resumed.generation) == inOrder(4...4))
    }

    @Test func resumeOfAnAttachedSessionHandsBackThePreviousConnection() throws {
        let (session, control) = self.harness.session("a")
        let resumed = try #require(session.resume(on: self.harness.control(), lastSeen: 0, newToken: "t2"))
        #expect(resumed.previous === control)
        // The old connection can no longer detach the session.
        #expect(session.detach(from: control) == nil)
        #expect(session.phase == .attached)
    }

    @Test func gapBeyondTheReplayLogCannotBeResumed() throws {
        let (session, control) = self.harness.session("a", replay: 2)
        for n in 1...5 { _ = session.enqueue(numbered(n), policy: .close, counter: nil) }
        _ = drain(session, generation: 0)
        _ = session.detach(from: control)
        // Only 4 and 5 are kept: a client that saw 2 misses 3.
        #expect(session.resume(on: self.harness.control(), lastSeen: 2, newToken: "t2") == nil)
        #expect(session.resume(on: self.harness.control(), lastSeen: 0, newToken: "t2") == nil)
        // A client cannot have seen more than was sent, nor a negative count.
        #expect(session.resume(on: self.harness.control(), lastSeen: 6, newToken: "t2") == nil)
        #expect(session.resume(on: self.harness.control(), lastSeen: -1, newToken: "t2") == nil)
        // Failed attempts changed nothing: the session is still detached and resumable.
        #expect(session.isStillDetached(generation: 0))
        let resumed = try #require(session.resume(on: self.harness.control(), lastSeen: 3, newToken: "t2"))
        #expect(resumed.replayed == 2)
        #expect(drain(session, generation: resumed.generation) == inOrder(4...5))
    }

    @Test func withoutAReplayLogOnlyAFullyCaughtUpClientResumes() {
        let (session, control) = self.harness.session("a", replay: 0)
        for n in 1...3 { _ = session.enqueue(numbered(n), policy: .close, counter: nil) }
        #expect(drain(session, generation: 0) == inOrder(1...3))
        _ = session.detach(from: control)
        #expect(session.resume(on: self.harness.control(), lastSeen: 2, newToken: "t2") == nil)
        #expect(session.resume(on: self.harness.control(), lastSeen: 3, newToken: "t2")?.replayed == 0)
    }

    @Test func detachOnlyFromTheAttachedConnection() {
        let (session, control) = self.harness.session("a")
        #expect(session.detach(from: self.harness.control()) == nil)
        #expect(session.phase == .attached)
        #expect(session.detach(from: control) == 0)
        #expect(session.detach(from: control) == nil)
        #expect(session.connection == nil)
        // A detached session has no writer.
        _ = session.enqueue(numbered(1), policy: .close, counter: nil)
        #expect(session.popForWriter(generation: 0).isSuperseded)
    }

    // MARK: Leaving for good

    @Test func markGone() throws {
        let (session, control) = self.harness.session("a")
        let room = RoomKey(instance: "chat", name: "lobby")
        #expect(session.addRoom(room))
        _ = session.enqueue(numbered(1), policy: .close, counter: nil)
        #expect(session.markGone() == [room])
        #expect(session.phase == .gone)
        #expect(session.pendingCount == 0)
        #expect(session.rooms.isEmpty)
        #expect(session.connection == nil)
        #expect(session.markGone() == nil)
        #expect(session.enqueue(numbered(2), policy: .close, counter: nil) == .gone)
        #expect(session.enqueue(numbered(3), policy: .dropOldest, counter: nil) == .gone)
        #expect(!session.addRoom(room))
        #expect(session.resume(on: self.harness.control(), lastSeen: 0, newToken: "t2") == nil)
        #expect(session.detach(from: control) == nil)
        #expect(session.popForWriter(generation: 0).isSuperseded)
    }
}

extension ClientSession.PopResult {
    var isEmpty: Bool {
        if case .empty = self { return true }
        return false
    }

    var isSuperseded: Bool {
        if case .superseded = self { return true }
        return false
    }
}

// MARK: - Delivery test support (also used by RelayHubTests and PubSubPluginTests)

/// Builds sessions on a hub, attached to connections that record what delivery asks of them.
struct DeliveryHarness {
    let hub = RelayHub(metrics: RelayMetrics())

    func control() -> RecordingConnection {
        RecordingConnection()
    }

    func session(
        _ id: String,
        queueMessages: Int = 64,
        queueBytes: Int = 1 << 20,
        replay: Int = 100,
        control: RecordingConnection? = nil
    ) -> (session: ClientSession, control: RecordingConnection) {
        let control = control ?? self.control()
        let info = ClientInfo(id: ClientID(id), userId: nil, claims: [:], endpoint: "/ws", parameters: [:])
        let session = ClientSession(
            info: info,
            bounds: ClientSession.Bounds(queueMessages: queueMessages, queueBytes: queueBytes, replayMessages: replay),
            connection: control,
            resumeToken: "token-\(id)"
        )
        self.hub.register(session)
        return (session, control)
    }
}

/// A connection that records the wake-ups and the close that delivery asks for.
final class RecordingConnection: SessionConnection {
    private let state = Mutex<(wakes: Int, close: CloseReason?)>((0, nil))

    func wake() { self.state.withLock { $0.wakes += 1 } }

    func requestClose(_ reason: CloseReason) {
        self.state.withLock { if $0.close == nil { $0.close = reason } }
    }

    /// The first close asked for.
    var closeReason: CloseReason? { self.state.withLock { $0.close } }

    /// How many times the writer was woken.
    var wakes: Int { self.state.withLock { $0.wakes } }
}

/// `{"type":"m","n":<n>}`
func numbered(_ n: Int) -> OutboundMessage {
    .json(type: "m", ["n": .int(n)])
}

/// The `n` of a numbered message.
func number(of message: OutboundMessage) -> Int? {
    (try? JSONParser.parse(message.bytes.readableBytesView))?["n"]?.intValue
}

/// Pops every frame the writer of `generation` would get: (sequence, n).
func drain(_ session: ClientSession, generation: Int, limit: Int = 1000) -> [Pair] {
    var frames: [Pair] = []
    for _ in 0..<limit {
        guard case .frame(let frame) = session.popForWriter(generation: generation) else { break }
        frames.append(Pair(frame.sequence ?? -1, number(of: frame.message) ?? -1))
    }
    return frames
}

/// Pops at most `count` frames.
func pop(_ session: ClientSession, generation: Int, count: Int) -> [Pair] {
    drain(session, generation: generation, limit: count)
}

/// A (sequence, message number) pair, comparable in expectations.
struct Pair: Equatable, CustomStringConvertible {
    let sequence: Int
    let n: Int
    init(_ sequence: Int, _ n: Int) {
        self.sequence = sequence
        self.n = n
    }
    var description: String { "#\(self.sequence)=m\(self.n)" }
}

/// Pairs where the message number equals its sequence.
func inOrder(_ range: ClosedRange<Int>) -> [Pair] {
    range.map { Pair($0, $0) }
}
