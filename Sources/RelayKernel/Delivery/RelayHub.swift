import Metrics
import Synchronization

/// Where every client identity and room lives: delivery by client id and by room, never by
/// socket. Sharded; no lock spans the whole process.
final class RelayHub: Sendable {
    /// What a delivery did.
    struct Report: Sendable, Equatable {
        var delivered = 0
        var dropped = 0
    }

    let metrics: RelayMetrics
    private let sessions = ShardedMap<ClientID, ClientSession>()
    private let resumeTokens = ShardedMap<String, ClientID>()
    private let rooms = ShardedMap<RoomKey, Room>()
    private let sessionCount = Atomic<Int>(0)
    private let roomCount = Atomic<Int>(0)

    init(metrics: RelayMetrics) {
        self.metrics = metrics
    }

    // MARK: Sessions

    func register(_ session: ClientSession) {
        self.sessions.update(session.id) { $0 = session }
        self.resumeTokens.update(session.resumeToken) { $0 = session.id }
        self.metrics.sessionsActive.set(self.sessionCount.wrappingAdd(1, ordering: .relaxed).newValue)
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
    }

    /// Removes a departed session from the directory and every room; returns its rooms.
    func remove(_ session: ClientSession) -> Set<RoomKey>? {
        guard let rooms = session.markGone() else { return nil }
        self.sessions.update(session.id) { current in
            if current === session { current = nil }
        }
        self.resumeTokens.removeValue(forKey: session.resumeToken)
        for room in rooms { self.leave(room, client: session.id) }
        self.metrics.sessionsActive.set(self.sessionCount.wrappingSubtract(1, ordering: .relaxed).newValue)
        return rooms
    }

    var allSessions: [ClientSession] { self.sessions.values }

    // MARK: Delivery

    /// Queues `message` for one client.
    @discardableResult
    func send(_ message: OutboundMessage, to id: ClientID, policy: RouteSettings.OverflowPolicy, counter: Counter?) -> Report {
        guard let session = self.sessions[id] else {
            self.metrics.drops(.recipientGone).increment()
            return Report(delivered: 0, dropped: 1)
        }
        return self.deliver(message, to: session, policy: policy, counter: counter)
    }

    /// Queues `message` for every member of `room` except `excluded`: one shared buffer.
    @discardableResult
    func publish(
        _ message: OutboundMessage,
        to room: RoomKey,
        except excluded: ClientID?,
        policy: RouteSettings.OverflowPolicy,
        counter: Counter?
    ) -> Report {
        guard let members = self.rooms[room]?.sessions else { return Report() }
        var report = Report()
        let now = ContinuousClock.now  // one clock read for the whole fan-out
        for session in members where session.id != excluded {
            let one = self.deliver(message, to: session, policy: policy, counter: counter, at: now)
            report.delivered += one.delivered
            report.dropped += one.dropped
        }
        return report
    }

    func deliver(
        _ message: OutboundMessage,
        to session: ClientSession,
        policy: RouteSettings.OverflowPolicy,
        counter: Counter?,
        at instant: ContinuousClock.Instant = .now
    ) -> Report {
        switch session.enqueue(message, policy: policy, counter: counter, at: instant) {
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
        }
    }

    // MARK: Rooms

    /// Adds a client to a room; `false` if the client is unknown or gone.
    @discardableResult
    func join(_ room: RoomKey, client id: ClientID) -> Bool {
        guard let session = self.sessions[id], session.addRoom(room) else { return false }
        let created = self.rooms.update(room) { existing -> Bool in
            let target = existing ?? Room()
            target.insert(session)
            defer { existing = target }
            return existing == nil
        }
        if created { self.metrics.roomsActive.set(self.roomCount.wrappingAdd(1, ordering: .relaxed).newValue) }
        return true
    }

    /// Removes a client from a room.
    func leave(_ room: RoomKey, client id: ClientID) {
        self.sessions[id]?.removeRoom(room)
        let removed = self.rooms.update(room) { existing -> Bool in
            guard let target = existing, target.remove(id) else { return false }
            existing = nil
            return true
        }
        if removed { self.metrics.roomsActive.set(self.roomCount.wrappingSubtract(1, ordering: .relaxed).newValue) }
    }

    /// The members of a room.
    func members(of room: RoomKey) -> [ClientSession] {
        self.rooms[room]?.sessions ?? []
    }

    /// How many clients are in a room.
    func memberCount(of room: RoomKey) -> Int {
        self.rooms[room]?.count ?? 0
    }

    /// Whether a client is in a room.
    func isMember(_ id: ClientID, of room: RoomKey) -> Bool {
        self.rooms[room]?.contains(id) ?? false
    }
}
