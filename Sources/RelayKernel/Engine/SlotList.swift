/// Elements that keep their slot until removed: O(1) insertion and removal by slot, iteration
/// over the occupied slots.
struct SlotList<Element> {
    private var slots: [Element?] = []
    private var free: [Int] = []

    /// How many elements are held.
    private(set) var count = 0

    /// Adds `element`; returns its slot.
    mutating func insert(_ element: Element) -> Int {
        self.count += 1
        if let slot = self.free.popLast() {
            self.slots[slot] = element
            return slot
        }
        self.slots.append(element)
        return self.slots.count - 1
    }

    /// Removes the element in `slot`.
    mutating func remove(at slot: Int) {
        guard self.slots[slot] != nil else { return }
        self.slots[slot] = nil
        self.free.append(slot)
        self.count -= 1
    }

    /// Calls `body` with every element.
    func forEach(_ body: (Element) -> Void) {
        for case let element? in self.slots { body(element) }
    }
}
