import Synchronization

/// The members of one room: an index by client id, and the member list a fan-out iterates
/// (handed out without copying; a change copies it only while a fan-out still holds it).
///
/// In a cluster the room also remembers the last row of this node's inbox it fanned out, so
/// that a member's journal can say from which row on the room's rows were its own, and when each
/// member taken over from another node arrived (see ``RelayHub/publish``).
final class Room: Sendable {
    private struct Members {
        var index: [ClientID: Int] = [:]
        var sessions: [ClientSession] = []
        var frontier: Int64 = 0
        /// Members taken over from another node, by the node's arrival count when they joined.
        var arrivals: [ClientID: Int64] = [:]
    }

    private let members: Mutex<Members>

    /// A room with no members yet; `frontier` is the last inbox row this node has received.
    init(frontier: Int64 = 0) {
        self.members = Mutex(Members(frontier: frontier))
    }

    /// Adds (or replaces) a member; returns the last inbox row fanned out before it joined.
    @discardableResult
    func insert(_ session: ClientSession) -> Int64 {
        self.members.withLock { Self.insert(session, into: &$0) }
    }

    private static func insert(_ session: ClientSession, into members: inout Members) -> Int64 {
        if let position = members.index[session.id] {
            members.sessions[position] = session
        } else {
            members.index[session.id] = members.sessions.count
            members.sessions.append(session)
        }
        return members.frontier
    }

    /// Adds a member taken over from another node, numbering its arrival with `arrivals`;
    /// returns the last inbox row fanned out before it joined.
    func insertArrival(_ session: ClientSession, counting arrivals: borrowing Atomic<Int64>) -> Int64 {
        self.members.withLock { members in
            members.arrivals[session.id] = arrivals.add(1, ordering: .sequentiallyConsistent).newValue
            return Self.insert(session, into: &members)
        }
    }

    /// The members a message published here goes to, and the arrival count they correspond to
    /// (members that arrive later did not get it).
    func publishing(as arrivals: borrowing Atomic<Int64>) -> (sessions: [ClientSession], stamp: Int64) {
        self.members.withLock { members in (members.sessions, arrivals.load(ordering: .sequentiallyConsistent)) }
    }

    /// The members that get inbox row `seq` (the room's frontier moves to it).
    func fanOut(row seq: Int64) -> [ClientSession] {
        self.members.withLock { members in
            members.frontier = max(members.frontier, seq)
            return members.sessions
        }
    }

    /// The members taken over from another node after arrival count `stamp`.
    func arrived(after stamp: Int64) -> [ClientSession] {
        self.members.withLock { members in
            members.sessions.filter { (members.arrivals[$0.id] ?? 0) > stamp }
        }
    }

    /// Removes a member; returns whether the room is now empty, and the last inbox row fanned
    /// out to it.
    func remove(_ id: ClientID) -> (empty: Bool, frontier: Int64) {
        self.members.withLock { members in
            members.arrivals.removeValue(forKey: id)
            if let position = members.index.removeValue(forKey: id) {
                let last = members.sessions.count - 1
                if position != last {
                    members.sessions[position] = members.sessions[last]
                    members.index[members.sessions[position].id] = position
                }
                members.sessions.removeLast()
            }
            return (members.sessions.isEmpty, members.frontier)
        }
    }

    var isEmpty: Bool { self.members.withLock { $0.sessions.isEmpty } }

    var count: Int { self.members.withLock { $0.sessions.count } }

    /// The members, as of now.
    var sessions: [ClientSession] { self.members.withLock { $0.sessions } }

    func contains(_ id: ClientID) -> Bool { self.members.withLock { $0.index[id] != nil } }
}
