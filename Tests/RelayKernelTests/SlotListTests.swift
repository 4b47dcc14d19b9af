import Testing
@testable import RelayKernel

/// ``SlotList``: elements keep their slot until removed; freed slots are reused.
@Suite("SlotList")
struct SlotListTests {
    private func elements(_ list: SlotList<String>) -> [String] {
        var seen: [String] = []
        list.forEach { seen.append($0) }
        return seen
    }

    @Test func insertionsTakeConsecutiveSlots() {
        var list = SlotList<String>()
        #expect(list.insert("a") == 0)
        #expect(list.insert("b") == 1)
        #expect(list.insert("c") == 2)
        #expect(list.count == 3)
        #expect(self.elements(list) == ["a", "b", "c"])
    }

    @Test func removalLeavesTheOtherSlotsInPlace() {
        var list = SlotList<String>()
        for name in ["a", "b", "c"] { _ = list.insert(name) }
        list.remove(at: 1)
        #expect(list.count == 2)
        #expect(self.elements(list) == ["a", "c"])
    }

    @Test func aFreedSlotIsReused() {
        var list = SlotList<String>()
        for name in ["a", "b", "c"] { _ = list.insert(name) }
        list.remove(at: 0)
        list.remove(at: 2)
        #expect(list.insert("d") == 2)
        #expect(list.insert("e") == 0)
        #expect(list.insert("f") == 3)
        #expect(list.count == 4)
        #expect(self.elements(list) == ["e", "b", "d", "f"])
    }

    @Test func removingAnEmptySlotTwiceChangesNothing() {
        var list = SlotList<String>()
        _ = list.insert("a")
        _ = list.insert("b")
        list.remove(at: 0)
        list.remove(at: 0)
        #expect(list.count == 1)
        // The slot was freed once, so it is handed out once.
        #expect(list.insert("c") == 0)
        #expect(list.insert("d") == 2)
    }

    @Test func anEmptiedListVisitsNothing() {
        var list = SlotList<String>()
        let slot = list.insert("a")
        list.remove(at: slot)
        #expect(list.count == 0)
        #expect(self.elements(list).isEmpty)
    }
}
