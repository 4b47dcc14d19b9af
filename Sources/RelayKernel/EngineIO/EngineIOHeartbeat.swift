import NIOCore

/// Engine.IO's heartbeat, as its reference server keeps it: a ping `interval` after the last
/// pong (or the open packet); a client that has not answered `timeout` after a ping was due is
/// dropped. Deadlines count from when a ping was due, not from when the loop's sweep sent it.
struct EngineIOHeartbeat {
    /// What the connection must do now.
    enum Action: Equatable {
        case none
        case ping
        case timedOut
    }

    let interval: TimeAmount
    let timeout: TimeAmount
    private var nextPing: NIODeadline
    private var pongDeadline: NIODeadline?

    init(interval: TimeAmount, timeout: TimeAmount, from start: NIODeadline) {
        self.interval = interval
        self.timeout = timeout
        self.nextPing = start + interval
    }

    /// What is due at `now`.
    mutating func check(at now: NIODeadline) -> Action {
        if let deadline = self.pongDeadline { return now >= deadline ? .timedOut : .none }
        guard now >= self.nextPing else { return .none }
        self.pongDeadline = self.nextPing + self.timeout
        return .ping
    }

    /// The relay is not reading the client now: a pong awaited gets a whole `timeout` from `now`.
    mutating func holdDeadline(at now: NIODeadline) {
        guard let deadline = self.pongDeadline, deadline < now + self.timeout else { return }
        self.pongDeadline = now + self.timeout
    }

    /// The client answered: the next ping is due an interval from now.
    mutating func ponged(at now: NIODeadline) {
        self.pongDeadline = nil
        self.nextPing = now + self.interval
    }
}
