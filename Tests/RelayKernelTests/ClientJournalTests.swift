import NIOCore
import Synchronization
import Testing
@testable import RelayKernel

/// The client journal (what a node taking a client over after a crash trusts): how it records
/// positions, what a resume from it replays or refuses, its encoding, and the session's hold of
/// frames until their record is written.
@Suite("Client journal")
struct ClientJournalTests {
    static func row(_ seq: Int64, _ inbox: String = "a_1") -> ClusterFrameRef { ClusterFrameRef(inbox: inbox, seq: seq) }

    @Test func aResumeReplaysTheMissedRowsThenTheUnpositionedOnes() {
        var journal = ClientJournal(inbox: "a_1", start: 10)
        journal.joined("chat/t", inbox: "a_1", after: 12)
        journal.append(nil)               // 1: an answer of node a
        journal.append(Self.row(14))      // 2
        journal.append(Self.row(17))      // 3
        #expect(journal.position == 3)
        #expect(journal.plan(lastSeen: 1) == .replay(tail: [Self.row(14), Self.row(17)], ranges: [
            ClientJournal.Range(inbox: "a_1", after: 17, through: nil, memberships: [ClientJournal.Membership(inbox: "a_1", room: "chat/t", after: 12)])
        ]))
        #expect(journal.retain(in: "a_1") == 14)
    }

    @Test func aResumeIsRefusedWhenTheJournalCannotVouchForIt() {
        var journal = ClientJournal(inbox: "a_1", start: 0)
        journal.append(nil)
        journal.append(Self.row(1))
        guard case .refuse = journal.plan(lastSeen: 0) else { Issue.record("missed an answer of the dead node"); return }
        guard case .refuse = journal.plan(lastSeen: 3) else { Issue.record("saw more than was journaled"); return }
        #expect(journal.plan(lastSeen: 2) == .replay(tail: [], ranges: [ClientJournal.Range(inbox: "a_1", after: 1, through: nil, memberships: [])]))
        for n in 2...200 { journal.append(Self.row(Int64(n))) }
        guard case .refuse = journal.plan(lastSeen: 2) else { Issue.record("missed more than the tail keeps"); return }
        journal.lost = true
        guard case .refuse = journal.plan(lastSeen: journal.position) else { Issue.record("the queue overflowed"); return }
    }

    @Test func roomRowsCountOnlyWhileTheClientWasAMember() {
        var journal = ClientJournal(inbox: "a_1", start: 0)
        journal.joined("chat/t", inbox: "a_1", after: 5)
        journal.left("chat/t", inbox: "a_1", until: 9)
        guard case .replay(_, let ranges) = journal.plan(lastSeen: 0), let range = ranges.first else { Issue.record("no range"); return }
        #expect(!range.includes(seq: 5, room: "chat/t") && range.includes(seq: 6, room: "chat/t") && range.includes(seq: 9, room: "chat/t"))
        #expect(!range.includes(seq: 10, room: "chat/t") && !range.includes(seq: 7, room: "chat/other"))
        #expect(range.includes(seq: 3, room: nil))  // a row for the client itself
    }

    @Test func aTakeoverEndsTheOldInboxAndStartsTheNewOne() {
        var journal = ClientJournal(inbox: "a_1", start: 0)
        journal.joined("chat/t", inbox: "a_1", after: 0)
        journal.append(Self.row(4))
        journal.claimed(by: "b_2", start: 30, end: 8, rooms: ["chat/t"])
        #expect(journal.inboxes == [ClientJournal.Inbox(id: "a_1", positioned: 4, end: 8), ClientJournal.Inbox(id: "b_2", positioned: 30)])
        journal.passed("b_2", through: 40)   // everything of b's inbox up to 40 was queued and positioned
        journal.passed("a_1", through: 8)    // a's inbox is closed: only its own rows advance it
        #expect(journal.inboxes.map(\.positioned) == [4, 40])
        journal.append(Self.row(8))
        journal.compact()
        #expect(journal.inboxes.map(\.id) == ["b_2"])  // nothing of a's inbox can be unpositioned any more
    }

    @Test func theEncodingRoundTrips() throws {
        var journal = ClientJournal(inbox: "a_1", start: 3)
        journal.joined("chat/t", inbox: "a_1", after: 2)
        for n in 1...140 { journal.append(n % 3 == 0 ? nil : Self.row(Int64(n * 2))) }
        journal.claimed(by: "b_2", start: 70, end: 300, rooms: ["chat/t", "chat/u"])
        journal.left("chat/u", inbox: "b_2", until: 75)
        let decoded = try ClientJournal(decoding: journal.encoded)
        #expect(decoded == journal)
        #expect(throws: ClientJournal.DecodingError.self) { try ClientJournal(decoding: ByteBuffer(bytes: [9, 9, 9])) }
    }

    @Test func framesWaitForTheirRecordWhileTheBackplaneIsConnected() {
        let harness = DeliveryHarness()
        let cluster = ClusterJournal(inbox: "a_1")
        let control = harness.control()
        let info = ClientInfo(id: ClientID("c"), userId: nil, claims: [:], endpoint: "/ws", parameters: [:])
        let session = ClientSession(
            info: info,
            bounds: ClientSession.Bounds(queueMessages: 10, queueBytes: 1 << 20, replayMessages: 10),
            connection: control,
            resumeToken: "t",
            cluster: cluster,
            journal: ClientJournal(inbox: "a_1", start: 0)
        )
        cluster.activate([session])
        _ = session.enqueue(numbered(1), policy: .close, counter: nil, ref: Self.row(5))
        _ = session.enqueue(numbered(2), policy: .close, counter: nil)
        #expect(drain(session, generation: 0).isEmpty)  // no record yet
        let records = cluster.takeRecords(frontier: 5)
        #expect(records.map(\.position) == [2])
        #expect(drain(session, generation: 0).isEmpty)  // taken, not yet written
        cluster.written(records)
        #expect(drain(session, generation: 0).map(\.n) == [1, 2])
        cluster.suspend([session])  // the backplane went down: frames go out at once
        _ = session.enqueue(numbered(3), policy: .close, counter: nil)
        #expect(drain(session, generation: 0).map(\.n) == [3])
        #expect(session.journal?.position == 3 && session.journal?.tail == [Self.row(5), nil, nil])
    }

    @Test func wakingTheWriterCostsTheSameOnEveryCall() {
        // The wake-up was once re-wrapped in two thunks per call: the 200,000th call ran through
        // 400,000 of them (seconds per frame, then a stack overflow).
        let cluster = ClusterJournal(inbox: "a_1")
        let wakes = Atomic<Int>(0)
        cluster.onPending { wakes.add(1, ordering: .relaxed) }
        let info = ClientInfo(id: ClientID("c"), userId: nil, claims: [:], endpoint: "/ws", parameters: [:])
        let session = ClientSession(
            info: info,
            bounds: ClientSession.Bounds(queueMessages: 10, queueBytes: 1 << 20, replayMessages: 10),
            connection: DeliveryHarness().control(),
            resumeToken: "t",
            cluster: cluster,
            journal: ClientJournal(inbox: "a_1", start: 0)
        )
        let calls = 200_000
        for _ in 0..<calls { cluster.needsRecord(session) }
        #expect(wakes.load(ordering: .relaxed) == calls)
    }
}
