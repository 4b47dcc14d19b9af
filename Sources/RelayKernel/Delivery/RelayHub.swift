import Metrics
import NIOCore
import Synchronization

/// Where every client identity and room lives: delivery by client id and by room, never by
/// socket. Sharded; no lock spans the whole process. In a cluster, what is not here goes to
/// the backplane: one envelope per client elsewhere, one per other node with room members.
final class RelayHub: Sendable {
    /// What a delivery did.
    struct Report: Sendable, Equatable {
        var delivered = 0
        var dropped = 0
        /// Of the dropped, those that could not cross to another node.
        var unavailable = 0

        static func + (lhs: Report, rhs: Report) -> Report {
            Report(delivered: lhs.delivered + rhs.delivered, dropped: lhs.dropped + rhs.dropped, unavailable: lhs.unavailable + rhs.unavailable)
        }
    }

    let metrics: RelayMetrics
    /// The other nodes, in cluster mode.
    let cluster: (any ClusterBackplane)?
    /// The journals of this node's clients, in cluster mode (see ``ClusterSettings/exactResume``).
    let journal: ClusterJournal?
    /// Whether clients here are journaled (`cluster.exactResume`).
    private let journals: Bool
    private let sessions = ShardedMap<ClientID, ClientSession>()
    private let resumeTokens = ShardedMap<String, ClientID>()
    private let rooms = ShardedMap<RoomKey, Room>()
    private let sessionCount = Atomic<Int>(0)
    private let roomCount = Atomic<Int>(0)
    private let changes = Atomic<Int>(0)
    /// The last row of this node's inbox delivered here.
    private let frontier = Atomic<Int64>(0)
    /// Room joins of clients taken over from another node, counted (see ``publish``).
    private let arrivals = Atomic<Int64>(0)

    init(metrics: RelayMetrics, cluster: (any ClusterBackplane)? = nil, journals: Bool = true) {
        self.metrics = metrics
        self.cluster = cluster
        self.journal = cluster.map { ClusterJournal(inbox: $0.nodeID) }
        self.journals = journals
    }

    // MARK: Sessions

    /// The journal a client that starts here begins with (`nil` outside a cluster): no row of
    /// this node's inbox received so far can be for it.
    func freshJournal() -> ClientJournal? {
        guard self.journals else { return nil }
        return self.journal.map { ClientJournal(inbox: $0.inbox, start: self.inboxFrontier) }
    }

    /// The journal a client taken over from another node keeps here (`nil` when this node does
    /// not journal: a later crash of this node then ends it).
    func takenOverJournal(_ journal: ClientJournal?) -> ClientJournal? {
        self.journals ? journal : nil
    }

    /// The last row of this node's inbox delivered here: every row up to it has been queued for
    /// each of its recipients on this node.
    var inboxFrontier: Int64 { self.frontier.load(ordering: .acquiring) }

    /// Adds a session; `announce` tells the other nodes (not for an identity taken over from
    /// another node, which the takeover already moved).
    func register(_ session: ClientSession, announce: Bool = true) {
        self.sessions.update(session.id) { $0 = session }
        self.resumeTokens.update(session.resumeToken) { $0 = session.id }
        self.metrics.sessionsActive.set(self.sessionCount.wrappingAdd(1, ordering: .relaxed).newValue)
        if announce { self.announce(.clientUp(session)) }
    }

    func session(_ id: ClientID) -> ClientSession? { self.sessions[id] }

    /// Takes a resume token out of circulation and returns its session, if `accept` admits the
    /// session (tokens are single-use; a refused attempt leaves the token to its owner).
    func redeem(resumeToken: String, accept: (ClientSession) -> Bool) -> ClientSession? {
        guard let id = self.resumeTokens[resumeToken], let session = self.sessions[id], accept(session) else { return nil }
        let removed = self.resumeTokens.update(resumeToken) { current -> Bool in
            guard current == id else { return false }
            current = nil
            return true
        }
        return removed ? session : nil
    }

    /// Issues `token` for `session` (after a resume).
    func issue(resumeToken token: String, for session: ClientSession) {
        self.resumeTokens.update(token) { $0 = session.id }
        self.announce(.resumeToken(session.id, token))
    }

    /// Removes a departed session from the directory and every room; returns its rooms.
    /// `announce: false` when the identity moved to another node rather than leaving.
    func remove(_ session: ClientSession, announce: Bool = true) -> Set<RoomKey>? {
        guard let rooms = session.markGone() else { return nil }
        self.forget(session, rooms: rooms)
        if announce { self.announce(.clientDown(session.id)) }
        return rooms
    }

    /// Drops a session that was already marked gone from the local directory and rooms.
    func forget(_ session: ClientSession, rooms: Set<RoomKey>) {
        self.sessions.update(session.id) { current in
            if current === session { current = nil }
        }
        self.resumeTokens.removeValue(forKey: session.resumeToken)
        for room in rooms { self.leave(room, client: session.id, announce: false) }
        self.metrics.sessionsActive.set(self.sessionCount.wrappingSubtract(1, ordering: .relaxed).newValue)
    }

    /// Tells the other nodes that `session`'s info changed (its claims, after a token refresh).
    func announceUpdate(of session: ClientSession) {
        self.announce(.clientUp(session))
    }

    /// Tells the other nodes about a change here (best effort: a backplane that is down
    /// re-registers everything when it reconnects).
    private func announce(_ change: ClusterChange) {
        guard let cluster else { return }
        self.changes.add(1, ordering: .relaxed)
        _ = cluster.submit(.change(change))
    }

    /// How many changes this node has announced (to tell whether a step made any).
    var changeCount: Int { self.changes.load(ordering: .relaxed) }

    /// Runs `body` for `session`; if it changed memberships in a cluster, holds the session's
    /// outbound frames until every node can see the change, so a client that hears "joined"
    /// can count on it cluster-wide.
    func makingVisible<T>(_ session: ClientSession?, _ body: () async throws -> T) async rethrows -> T {
        guard let cluster else { return try await body() }
        let before = self.changeCount
        session?.hold()
        defer { session?.release() }
        let result = try await body()
        if self.changeCount != before, cluster.isReady { await cluster.flush() }
        return result
    }

    var allSessions: [ClientSession] { self.sessions.values }

    /// How many client identities this node holds.
    var sessionTotal: Int { self.sessionCount.load(ordering: .relaxed) }

    // MARK: Delivery

    /// Queues `message` for one client, here or on another node; `durable` sends it through the
    /// database even to a client of this node (when the backplane is up), so it survives this node.
    @discardableResult
    func send(
        _ message: OutboundMessage,
        to id: ClientID,
        policy: RouteSettings.OverflowPolicy,
        counter: Counter?,
        origin: ClusterOrigin? = nil,
        durable: Bool = false
    ) -> Report {
        if let session = self.sessions[id], !(durable && policy == .close && self.cluster?.isReady == true) {
            return self.deliver(message, to: session, policy: policy, counter: counter)
        }
        guard let cluster else {
            self.metrics.drops(.recipientGone).increment()
            return Report(delivered: 0, dropped: 1)
        }
        let envelope = ClusterEnvelope.client(id, message, policy: policy, hops: 0).encoded
        // A client this node has not heard of may have connected elsewhere a moment ago: the
        // database knows where it is (and drops the message if nobody has it).
        let location = cluster.directory.location(of: id)
        if policy == .dropOldest {
            // Media goes straight to the node; a client whose node died does not get it later.
            guard case .node(let node) = location else {
                self.metrics.drops(.recipientGone).increment()
                return Report(delivered: 0, dropped: 1)
            }
            return self.forward(.media(node: node, envelope), recipients: 1)
        }
        return self.forward(.toClient(id, envelope, origin: origin), recipients: 1)
    }

    /// Hands an envelope to the backplane; counts it as `recipients` deliveries or drops.
    func forward(_ item: ClusterOutgoing, recipients: Int) -> Report {
        guard let cluster else { return Report() }
        if case .media = item {
            // Media is dropped, never reported, when its way is busy (the backplane counts it).
            return cluster.submit(item) ? Report(delivered: recipients, dropped: 0) : Report(delivered: 0, dropped: recipients)
        }
        if cluster.submit(item) {
            self.metrics.clusterOut.increment()
            return Report(delivered: recipients, dropped: 0)
        }
        self.metrics.drops(.clusterUnavailable).increment(by: Int64(recipients))
        return Report(delivered: 0, dropped: recipients, unavailable: recipients)
    }

    /// Queues `message` for every member of `room` except `excluded`: one shared buffer.
    /// `durable` sends it through the database to this node's members too (when the backplane
    /// is up), so it survives this node.
    @discardableResult
    func publish(
        _ message: OutboundMessage,
        to room: RoomKey,
        except excluded: ClientID?,
        policy: RouteSettings.OverflowPolicy,
        counter: Counter?,
        origin: ClusterOrigin? = nil,
        durable: Bool = false
    ) -> Report {
        let name = room.clusterName
        if durable, policy == .close, let cluster, cluster.isReady {
            let remote = cluster.directory.recipients(of: name, except: excluded)
            let local = (self.rooms[room]?.sessions ?? []).filter { $0.id != excluded }.count
            let count = remote.nodes.values.reduce(remote.orphans.count + local, +)
            guard count > 0 else { return Report() }
            let envelope = ClusterEnvelope.room(room, message, except: excluded, policy: policy).encoded
            return self.forward(.toRoom(name, envelope, origin: origin, includingThisNode: true), recipients: count)
        }
        // The arrival count at the fan-out: a member taken over from another node later (while
        // this message's row is still unwritten) gets a copy from this node's writer.
        let (members, stamp) = self.rooms[room]?.publishing(as: self.arrivals) ?? ([], self.arrivals.load(ordering: .sequentiallyConsistent))
        var report = self.fanOut(message, to: members, except: excluded, policy: policy, counter: counter)
        guard let cluster else { return report }
        let remote = cluster.directory.recipients(of: name, except: excluded)
        guard !remote.nodes.isEmpty || !remote.orphans.isEmpty else { return report }
        let envelope = ClusterEnvelope.room(room, message, except: excluded, policy: policy).encoded  // once for every node
        if policy == .dropOldest {
            // Media goes straight to each node with members; members whose node died miss it.
            for (node, count) in remote.nodes { report = report + self.forward(.media(node: node, envelope), recipients: count) }
            return report
        }
        // One item: the database writes one row per node with members (including the inbox of
        // a node that died, where the members' rows wait for them to resume).
        let count = remote.nodes.values.reduce(remote.orphans.count, +)
        return report + self.forward(.toRoom(name, envelope, origin: origin, arrivals: stamp), recipients: count)
    }

    /// Room joins of clients taken over from another node so far.
    var arrivalCount: Int64 { self.arrivals.load(ordering: .sequentiallyConsistent) }

    /// Members of `room` taken over from another node after arrival count `stamp`: a message
    /// published here before they arrived reached neither them (they were not here yet) nor
    /// their previous node (its row was written after the takeover).
    func arrived(in room: RoomKey, after stamp: Int64) -> [ClientSession] {
        self.rooms[room]?.arrived(after: stamp) ?? []
    }

    /// Queues `message` for this node's members of `room` except `excluded`: one shared buffer.
    /// `ref` is the inbox row it came in, for a message from another node.
    func publishLocally(
        _ message: OutboundMessage,
        to room: RoomKey,
        except excluded: ClientID?,
        policy: RouteSettings.OverflowPolicy,
        counter: Counter?,
        ref: ClusterFrameRef? = nil
    ) -> Report {
        guard let target = self.rooms[room] else { return Report() }
        let members = ref.map { target.fanOut(row: $0.seq) } ?? target.sessions
        return self.fanOut(message, to: members, except: excluded, policy: policy, counter: counter, ref: ref)
    }

    private func fanOut(
        _ message: OutboundMessage,
        to members: [ClientSession],
        except excluded: ClientID?,
        policy: RouteSettings.OverflowPolicy,
        counter: Counter?,
        ref: ClusterFrameRef? = nil
    ) -> Report {
        var report = Report()
        let now = NIODeadline.now()  // one clock read for the whole fan-out
        for session in members where session.id != excluded {
            let one = self.deliver(message, to: session, policy: policy, counter: counter, at: now, ref: ref)
            report.delivered += one.delivered
            report.dropped += one.dropped
        }
        return report
    }

    /// A row of this node's inbox was delivered (rows arrive in inbox order).
    func received(row seq: Int64) {
        self.frontier.store(seq, ordering: .releasing)
    }

    func deliver(
        _ message: OutboundMessage,
        to session: ClientSession,
        policy: RouteSettings.OverflowPolicy,
        counter: Counter?,
        at instant: NIODeadline = .now(),
        divertible: Bool = true,
        ref: ClusterFrameRef? = nil
    ) -> Report {
        switch session.enqueue(message, policy: policy, counter: counter, at: instant, divertible: divertible, ref: ref) {
        case .queued:
            return Report(delivered: 1, dropped: 0)
        case .dropped:
            self.metrics.drops(.queueFull).increment()
            return Report(delivered: 0, dropped: 1)
        case .overflowClose:
            return Report(delivered: 1, dropped: 0)
        case .gone:
            self.metrics.drops(.recipientGone).increment()
            return Report(delivered: 0, dropped: 1)
        case .diverted:
            let report = self.forward(.toClient(session.id, ClusterEnvelope.client(session.id, message, policy: policy, hops: ClusterEnvelope.divertedHops).encoded), recipients: 1)
            if report.delivered == 0 { session.divertedArrived() }
            return report
        }
    }

    // MARK: Rooms

    /// Adds a client to a room; `false` if the client is unknown or gone. `arrival`: the client
    /// was just taken over from another node.
    @discardableResult
    func join(_ room: RoomKey, client id: ClientID, announce: Bool = true, arrival: Bool = false) -> Bool {
        guard let session = self.sessions[id], session.addRoom(room) else { return false }
        let (created, frontier) = self.rooms.update(room) { existing -> (Bool, Int64) in
            let target = existing ?? Room(frontier: self.inboxFrontier)
            let frontier = arrival ? target.insertArrival(session, counting: self.arrivals) : target.insert(session)
            defer { existing = target }
            return (existing == nil, frontier)
        }
        if let journal { session.journalJoined(room, inbox: journal.inbox, after: frontier) }
        if created { self.metrics.roomsActive.set(self.roomCount.wrappingAdd(1, ordering: .relaxed).newValue) }
        if announce { self.announce(.joined(room: room.clusterName, id)) }
        return true
    }

    /// Removes a client from a room.
    func leave(_ room: RoomKey, client id: ClientID, announce: Bool = true) {
        let session = self.sessions[id]
        if announce, session?.rooms.contains(room) == true { self.announce(.left(room: room.clusterName, id)) }
        session?.removeRoom(room)
        let (removed, frontier) = self.rooms.update(room) { existing -> (Bool, Int64) in
            guard let target = existing else { return (false, self.inboxFrontier) }
            let (empty, frontier) = target.remove(id)
            if empty { existing = nil }
            return (empty, frontier)
        }
        if let journal { session?.journalLeft(room, inbox: journal.inbox, until: frontier) }
        if removed { self.metrics.roomsActive.set(self.roomCount.wrappingSubtract(1, ordering: .relaxed).newValue) }
    }

    /// The members of a room, on every node.
    func members(of room: RoomKey) -> [ClientInfo] {
        let local = (self.rooms[room]?.sessions ?? []).map(\.info)
        guard let cluster else { return local }
        return local + cluster.directory.members(of: room.clusterName)
    }

    /// How many clients are in a room, on every node.
    func memberCount(of room: RoomKey) -> Int {
        (self.rooms[room]?.count ?? 0) + (self.cluster?.directory.memberCount(of: room.clusterName) ?? 0)
    }

    /// Whether a client is in a room, on any node.
    func isMember(_ id: ClientID, of room: RoomKey) -> Bool {
        if self.rooms[room]?.contains(id) == true { return true }
        return self.cluster?.directory.isMember(id, of: room.clusterName) ?? false
    }

    /// A client here, or what the cluster knows of one elsewhere.
    func clientInfo(_ id: ClientID) -> ClientInfo? {
        self.sessions[id]?.info ?? self.cluster?.directory.info(of: id)
    }
}
