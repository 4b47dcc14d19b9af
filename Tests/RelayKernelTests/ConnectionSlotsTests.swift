import Testing
@testable import RelayKernel

/// ``ConnectionSlots``: the caps one connection holds a place in, all given back at its end.
@Suite("ConnectionSlots")
struct ConnectionSlotsTests {
    let counter = ConnectionCounter()

    /// How many places `key` holds (probed by acquiring up to a limit).
    private func held(_ key: ConnectionCounter.Key) -> Int {
        for count in 0..<100 where self.counter.acquire(key, limit: count + 1) {
            self.counter.release(key)
            return count
        }
        return 100
    }

    /// Takes the total, address and user places `slots` asks for; whether each was granted.
    private func acquireAll(_ slots: inout ConnectionSlots, limit: Int, address: String = "10.0.0.1", user: String = "alice") -> [Bool] {
        [
            slots.acquireTotal(self.counter, limit: limit),
            slots.acquire(address: address, self.counter, limit: limit),
            slots.acquire(user: user, self.counter, limit: limit),
        ]
    }

    @Test func theTotalIsTakenUpToItsLimit() {
        var first = ConnectionSlots()
        var second = ConnectionSlots()
        let granted = [first.acquireTotal(self.counter, limit: 1), second.acquireTotal(self.counter, limit: 1)]
        #expect(granted == [true, false])
        #expect(self.counter.current == 1)
    }

    @Test func releaseGivesEveryPlaceBack() {
        var slots = ConnectionSlots()
        let granted = self.acquireAll(&slots, limit: 5)
        #expect(granted == [true, true, true])
        #expect(self.counter.current == 1)
        #expect(self.held(.address("10.0.0.1")) == 1)
        #expect(self.held(.user("alice")) == 1)
        slots.release(self.counter)
        #expect(self.counter.current == 0)
        #expect(self.held(.address("10.0.0.1")) == 0)
        #expect(self.held(.user("alice")) == 0)
    }

    @Test func aRefusedPlaceIsNotGivenBack() {
        var holder = ConnectionSlots()
        var refused = ConnectionSlots()
        let held = self.acquireAll(&holder, limit: 1)
        let granted = self.acquireAll(&refused, limit: 1)
        #expect(held == [true, true, true])
        #expect(granted == [false, false, false])
        refused.release(self.counter)
        // The holder's places are intact.
        #expect(self.counter.current == 1)
        #expect(self.held(.address("10.0.0.1")) == 1)
        #expect(self.held(.user("alice")) == 1)
    }

    @Test func aLimitOfZeroIsUnlimitedForAddressesAndUsers() {
        var connections = (0..<50).map { _ in ConnectionSlots() }
        var granted: [Bool] = []
        for index in connections.indices {
            granted.append(connections[index].acquire(address: "10.0.0.1", self.counter, limit: 0))
            granted.append(connections[index].acquire(user: "alice", self.counter, limit: 0))
        }
        #expect(granted.allSatisfy { $0 })
        #expect(self.held(.address("10.0.0.1")) == 50)
        #expect(self.held(.user("alice")) == 50)
        for index in connections.indices { connections[index].release(self.counter) }
        #expect(self.held(.address("10.0.0.1")) == 0)
        #expect(self.held(.user("alice")) == 0)
    }

    @Test func aConnectionHoldsOneUserPlaceAtMost() {
        var slots = ConnectionSlots()
        // Authenticating again (or as someone else) takes no second place.
        let granted = [
            slots.acquire(user: "alice", self.counter, limit: 1),
            slots.acquire(user: "alice", self.counter, limit: 1),
            slots.acquire(user: "bob", self.counter, limit: 1),
        ]
        #expect(granted == [true, true, true])
        #expect(self.held(.user("alice")) == 1)
        #expect(self.held(.user("bob")) == 0)
        slots.release(self.counter)
        #expect(self.held(.user("alice")) == 0)
    }

    @Test func releasingTwiceGivesBackOnceAndTheSlotsCanBeUsedAgain() {
        var other = ConnectionSlots()
        _ = self.acquireAll(&other, limit: 5)
        var slots = ConnectionSlots()
        _ = self.acquireAll(&slots, limit: 5)
        slots.release(self.counter)
        slots.release(self.counter)
        // The other connection's places survive the second release.
        #expect(self.counter.current == 1)
        #expect(self.held(.address("10.0.0.1")) == 1)
        #expect(self.held(.user("alice")) == 1)
        let again = self.acquireAll(&slots, limit: 5, user: "bob")
        #expect(again == [true, true, true])
        #expect(self.held(.user("bob")) == 1)
    }
}
