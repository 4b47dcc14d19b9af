import Synchronization

/// The members of one room.
final class Room: Sendable {
    private let members = Mutex<[ClientID: ClientSession]>([:])

    func insert(_ session: ClientSession) {
        self.members.withLock { $0[session.id] = session }
    }

    /// Removes a member; returns whether the room is now empty.
    func remove(_ id: ClientID) -> Bool {
        self.members.withLock {
            $0.removeValue(forKey: id)
            return $0.isEmpty
        }
    }

    var isEmpty: Bool { self.members.withLock { $0.isEmpty } }

    var count: Int { self.members.withLock { $0.count } }

    /// A snapshot of the members, taken under the lock and used outside it.
    var sessions: [ClientSession] { self.members.withLock { Array($0.values) } }

    func contains(_ id: ClientID) -> Bool { self.members.withLock { $0[id] != nil } }
}
