import NIOCore
import Testing
@testable import RelayKernel

/// ``InboundSequencer``: a connection's messages stay in order while async work for an earlier
/// one runs.
@Suite("InboundSequencer")
struct InboundSequencerTests {
    /// Offers a text message to `sequencer`; `true` when it had to wait.
    private func offer(_ text: String, to sequencer: inout InboundSequencer) -> Bool {
        sequencer.mustWait(WebSocketMessage(kind: .text, data: ByteBuffer(string: text)))
    }

    /// The texts `next()` hands out until it has none.
    private func drain(_ sequencer: inout InboundSequencer) -> [String] {
        var texts: [String] = []
        while let message = sequencer.next() { texts.append(String(buffer: message.data)) }
        return texts
    }

    @Test func anIdleSequencerHandlesAMessageAtOnce() {
        var sequencer = InboundSequencer()
        let waited = self.offer("1", to: &sequencer)
        #expect(!waited)
        #expect(!sequencer.busy)
        #expect(self.drain(&sequencer).isEmpty)
    }

    @Test func messagesWaitWhileWorkRunsAndComeOutInOrderOnceIdle() {
        var sequencer = InboundSequencer()
        sequencer.begin()
        sequencer.started()
        #expect(sequencer.busy)
        let waited = [self.offer("2", to: &sequencer), self.offer("3", to: &sequencer)]
        #expect(waited == [true, true])
        // Nothing comes out while the work runs.
        #expect(self.drain(&sequencer).isEmpty)
        let resume = sequencer.finished()
        #expect(resume)
        #expect(self.drain(&sequencer) == ["2", "3"])
    }

    @Test func aNewMessageQueuesBehindWaitingOnesEvenWhenIdle() {
        var sequencer = InboundSequencer()
        sequencer.begin()
        sequencer.started()
        _ = self.offer("2", to: &sequencer)
        _ = sequencer.finished()
        // "2" has not been taken yet: "3" may not overtake it.
        let waited = self.offer("3", to: &sequencer)
        #expect(waited)
        #expect(self.drain(&sequencer) == ["2", "3"])
        let next = self.offer("4", to: &sequencer)
        #expect(!next)
    }

    @Test func workThatFinishesDuringItsSynchronousStartIsNotAResumption() {
        var sequencer = InboundSequencer()
        sequencer.begin()
        // It finished before `started()`: the caller that started it carries on.
        let resume = sequencer.finished()
        #expect(!resume)
        sequencer.started()
        #expect(!sequencer.busy)
    }

    @Test func workThatSuspendedIsResumedByWhoeverFinishesIt() {
        var sequencer = InboundSequencer()
        sequencer.begin()
        sequencer.started()
        let resume = sequencer.finished()
        #expect(resume)
        #expect(!sequencer.busy)
    }

    @Test func eachPieceOfWorkIsJudgedOnItsOwn() {
        var sequencer = InboundSequencer()
        sequencer.begin()
        sequencer.started()
        let first = sequencer.finished()
        // The next one finishes synchronously: not a resumption, whatever the last one did.
        sequencer.begin()
        let second = sequencer.finished()
        sequencer.started()
        #expect(first && !second)
    }

    @Test func discardForgetsWaitingMessages() {
        var sequencer = InboundSequencer()
        sequencer.begin()
        sequencer.started()
        _ = self.offer("2", to: &sequencer)
        sequencer.discard()
        _ = sequencer.finished()
        #expect(self.drain(&sequencer).isEmpty)
        let waited = self.offer("3", to: &sequencer)
        #expect(!waited)
    }
}
