import DequeModule

/// Keeps a connection's messages in the order they were sent while async work for an earlier
/// one (authentication, a plugin that awaits) runs: later messages wait here, and the socket is
/// not read meanwhile, so a client cannot pile up more than one read's worth.
struct InboundSequencer {
    /// Async work for a message is running.
    private(set) var busy = false
    /// A `read` the pipeline asked for while busy, to pass on once idle.
    var readHeld = false
    /// Work is being started synchronously (its end, if it does not suspend, is not a resumption).
    private var starting = false
    private var waiting = Deque<WebSocketMessage>()

    /// Whether `message` must wait (queued) rather than be handled now.
    mutating func mustWait(_ message: WebSocketMessage) -> Bool {
        guard self.busy || !self.waiting.isEmpty else { return false }
        self.waiting.append(message)
        return true
    }

    /// Async work starts; `start` begins it (and may finish it) synchronously.
    mutating func begin() {
        self.busy = true
        self.starting = true
    }

    /// The synchronous start of the work returned.
    mutating func started() {
        self.starting = false
    }

    /// The work finished; `true` when it had suspended, so whoever finishes it must resume the
    /// waiting messages (otherwise the caller that started it carries on).
    mutating func finished() -> Bool {
        self.busy = false
        return !self.starting
    }

    /// The next waiting message, while no work runs.
    mutating func next() -> WebSocketMessage? {
        guard !self.busy else { return nil }
        return self.waiting.popFirst()
    }

    /// Forgets what waits (the connection is closing).
    mutating func discard() {
        self.waiting.removeAll()
    }
}
