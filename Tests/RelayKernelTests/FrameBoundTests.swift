import Testing
@testable import RelayKernel

/// ``FrameBound``: the next frame's limit, narrowed while a fragmented message arrives.
@Suite("FrameBound")
struct FrameBoundTests {
    @Test func aNewBoundAllowsAWholeMessage() {
        let bound = FrameBound(messageStart: 65_536)
        #expect(bound.maxFrameSize == 65_536)
        #expect(bound.messageStart == 65_536)
    }

    @Test func narrowingLimitsTheNextFrameToWhatTheMessageMayStillGrowBy() {
        let bound = FrameBound(messageStart: 1000)
        bound.narrow(to: 600)
        #expect(bound.maxFrameSize == 600)
        bound.narrow(to: 126)
        #expect(bound.maxFrameSize == 126)
    }

    @Test func narrowingNeverGoesBelowTheLargestControlFrame() {
        let bound = FrameBound(messageStart: 1000)
        bound.narrow(to: 124)
        #expect(bound.maxFrameSize == 125)
        bound.narrow(to: 0)
        #expect(bound.maxFrameSize == 125)
    }

    @Test func resetRestoresTheMessageStartLimit() {
        let bound = FrameBound(messageStart: 1000)
        bound.narrow(to: 10)
        bound.reset()
        #expect(bound.maxFrameSize == 1000)
    }
}
