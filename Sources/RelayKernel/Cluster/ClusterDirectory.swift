import Synchronization

/// This node's replica of where the other nodes' clients are and which rooms they are in.
///
/// Kept current from the events every node broadcasts, and reloaded from the database whenever
/// the node reconnects; lookups are local and never wait. Entries of this node are not kept
/// (the hub knows its own clients).
package final class ClusterDirectory: Sendable {
    /// Where a client is.
    package enum Location: Sendable, Equatable {
        /// Connected to (or waiting for a resume on) a live node.
        case node(String)
        /// Its node died; messages wait for it until it resumes somewhere or its grace ends.
        case orphaned
    }

    /// A change every node applies to its replica.
    package enum Event: Sendable, Equatable {
        case clientUp(ClientInfo, node: String)
        case clientDown(ClientID)
        case joined(room: String, ClientID, node: String)
        case left(room: String, ClientID)
        /// A client's identity was taken over by `node`, with its rooms.
        case moved(ClientInfo, node: String, rooms: [String])
        /// A node stopped heartbeating; its clients are orphaned.
        case nodeDied(String)
    }

    /// A full copy of the cluster's clients and memberships.
    package struct Snapshot: Sendable {
        package var clients: [(info: ClientInfo, node: String?)]
        package var memberships: [(room: String, client: ClientID, node: String?)]

        /// Creates a snapshot.
        package init(clients: [(info: ClientInfo, node: String?)], memberships: [(room: String, client: ClientID, node: String?)]) {
            self.clients = clients
            self.memberships = memberships
        }
    }

    private struct Entry {
        var info: ClientInfo
        var node: String?
    }

    private struct State {
        var clients: [ClientID: Entry] = [:]
        var rooms: [String: [ClientID: String?]] = [:]
    }

    /// The node this replica belongs to.
    package let localNode: String
    private let state = Mutex(State())

    /// Creates an empty replica for `localNode`.
    package init(localNode: String) {
        self.localNode = localNode
    }

    // MARK: Lookups

    /// Where a client of another node is, or `nil` if no other node has it.
    package func location(of id: ClientID) -> Location? {
        self.state.withLock { state in
            state.clients[id].map { $0.node.map(Location.node) ?? .orphaned }
        }
    }

    /// What is known of a client of another node.
    package func info(of id: ClientID) -> ClientInfo? {
        self.state.withLock { $0.clients[id]?.info }
    }

    /// The other nodes' members of `room`.
    package func members(of room: String) -> [ClientInfo] {
        self.state.withLock { state in
            (state.rooms[room] ?? [:]).keys.compactMap { state.clients[$0]?.info }
        }
    }

    /// How many members `room` has on other nodes.
    package func memberCount(of room: String) -> Int {
        self.state.withLock { $0.rooms[room]?.count ?? 0 }
    }

    /// Whether a client of another node is in `room`.
    package func isMember(_ id: ClientID, of room: String) -> Bool {
        self.state.withLock { $0.rooms[room]?[id] != nil }
    }

    /// Who must get a message for `room` outside this node.
    package struct Recipients: Sendable {
        /// Live nodes with members, and how many members each has.
        package var nodes: [String: Int] = [:]
        /// Members whose node died (sent to one by one, so they find it when they resume).
        package var orphans: [ClientID] = []
    }

    /// The other nodes' members of `room`, except `excluded`, grouped by node.
    package func recipients(of room: String, except excluded: ClientID?) -> Recipients {
        self.state.withLock { state in
            var recipients = Recipients()
            for (client, node) in state.rooms[room] ?? [:] where client != excluded {
                if let node { recipients.nodes[node, default: 0] += 1 } else { recipients.orphans.append(client) }
            }
            return recipients
        }
    }

    /// How many clients of other nodes are known (for metrics and tests).
    package var clientCount: Int { self.state.withLock { $0.clients.count } }

    // MARK: Changes

    /// Replaces everything with `snapshot`.
    package func load(_ snapshot: Snapshot) {
        var fresh = State()
        for (info, node) in snapshot.clients where node != self.localNode {
            fresh.clients[info.id] = Entry(info: info, node: node)
        }
        for (room, client, node) in snapshot.memberships where node != self.localNode && fresh.clients[client] != nil {
            fresh.rooms[room, default: [:]][client] = node
        }
        self.state.withLock { $0 = fresh }
    }

    /// Applies one event.
    package func apply(_ event: Event) {
        self.state.withLock { state in
            switch event {
            case .clientUp(let info, let node):
                if node == self.localNode {
                    Self.remove(info.id, from: &state)
                } else {
                    state.clients[info.id] = Entry(info: info, node: node)
                }
            case .clientDown(let id):
                Self.remove(id, from: &state)
            case .joined(let room, let id, let node):
                guard node != self.localNode, state.clients[id] != nil else { return }
                state.rooms[room, default: [:]][id] = node
            case .left(let room, let id):
                state.rooms[room]?.removeValue(forKey: id)
                if state.rooms[room]?.isEmpty == true { state.rooms.removeValue(forKey: room) }
            case .moved(let info, let node, let rooms):
                Self.remove(info.id, from: &state)
                guard node != self.localNode else { return }
                state.clients[info.id] = Entry(info: info, node: node)
                for room in rooms { state.rooms[room, default: [:]][info.id] = node }
            case .nodeDied(let node):
                for (id, entry) in state.clients where entry.node == node {
                    state.clients[id]?.node = nil
                }
                for (room, members) in state.rooms {
                    for (id, member) in members where member == node {
                        state.rooms[room]?[id] = .some(nil)
                    }
                }
            }
        }
    }

    private static func remove(_ id: ClientID, from state: inout State) {
        guard state.clients.removeValue(forKey: id) != nil else { return }
        for (room, var members) in state.rooms where members[id] != nil {
            members.removeValue(forKey: id)
            state.rooms[room] = members.isEmpty ? nil : members
        }
    }
}
