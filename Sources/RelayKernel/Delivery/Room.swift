import Synchronization

/// The members of one room: an index by client id, and the member list a fan-out iterates
/// (handed out without copying; a change copies it only while a fan-out still holds it).
final class Room: Sendable {
    private struct Members {
        var index: [ClientID: Int] = [:]
        var sessions: [ClientSession] = []
    }

    private let members = Mutex(Members())

    func insert(_ session: ClientSession) {
        self.members.withLock { members in
            if let position = members.index[session.id] {
                members.sessions[position] = session
            } else {
                members.index[session.id] = members.sessions.count
                members.sessions.append(session)
            }
        }
    }

    /// Removes a member; returns whether the room is now empty.
    func remove(_ id: ClientID) -> Bool {
        self.members.withLock { members in
            if let position = members.index.removeValue(forKey: id) {
                let last = members.sessions.count - 1
                if position != last {
                    members.sessions[position] = members.sessions[last]
                    members.index[members.sessions[position].id] = position
                }
                members.sessions.removeLast()
            }
            return members.sessions.isEmpty
        }
    }

    var isEmpty: Bool { self.members.withLock { $0.sessions.isEmpty } }

    var count: Int { self.members.withLock { $0.sessions.count } }

    /// The members, as of now.
    var sessions: [ClientSession] { self.members.withLock { $0.sessions } }

    func contains(_ id: ClientID) -> Bool { self.members.withLock { $0.index[id] != nil } }
}
