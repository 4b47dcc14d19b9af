import RelayKernel

/// Reads and changes sessions in the instance's store.
///
/// Every change of a session runs under that session's lock (one change at a time, in arrival
/// order, inside one process, so broadcasts leave in the order the changes were made) and is
/// written with compare-and-set (so nodes sharing a store never overwrite each other).
/// Which session a client joined is kept under `client:<clientId>`.
final class RecordingSessionStore: Sendable {
    private let lock = KeyedLock()
    private let ttl: Duration
    private let minDevices: Int

    init(configuration: RecordingRoomsConfiguration) {
        self.ttl = configuration.sessionTTLDuration
        self.minDevices = configuration.minDevices
    }

    /// Runs `body` holding the lock of session `id`.
    func withLock<T: Sendable>(_ id: String, _ body: () async throws -> T) async rethrows -> T {
        try await self.lock.withLock(Self.sessionKey(id), body)
    }

    /// The session `id`, or `nil`.
    func session(_ id: String, context: PluginContext) async throws -> RecordingSession? {
        try await context.store.get(Self.sessionKey(id)).flatMap { RecordingSession(json: $0.value) }
    }

    /// Applies `transition` to session `id` (`nil` when it does not exist yet) and writes the
    /// result; retried when another node changed the session in between. Call it holding the
    /// session's lock. Returns what the transition returned and the session as written.
    func update<T>(
        _ id: String,
        context: PluginContext,
        _ transition: (inout RecordingSession?) throws -> T
    ) async throws -> (T, RecordingSession?) {
        let key = Self.sessionKey(id)
        for _ in 0..<16 {
            let stored = try await context.store.get(key)
            var session = stored.flatMap { RecordingSession(json: $0.value) }
            let before = session
            let result = try transition(&session)
            if session == before { return (result, session) }
            let written: Bool
            switch (stored, session) {
            case (let stored?, let session?):
                written = try await context.store.compareAndSet(key, expected: stored.version, session.json(minDevices: self.minDevices), ttl: self.ttl) != nil
            case (nil, let session?):
                written = try await context.store.insert(key, session.json(minDevices: self.minDevices), ttl: self.ttl) != nil
            case (let stored?, nil):
                written = try await context.store.delete(key, expected: stored.version)
            case (nil, nil):
                written = true
            }
            if written { return (result, session) }
        }
        throw RelayError(.conflict, "session '\(id)' is changing too fast; try again")
    }

    /// The session a client joined, if any.
    func sessionID(of client: ClientID, context: PluginContext) async throws -> String? {
        try await context.store.get(Self.clientKey(client))?.value["sessionId"]?.stringValue
    }

    /// Records which session a client joined.
    func setSessionID(_ id: String, of client: ClientID, context: PluginContext) async throws {
        try await context.store.set(Self.clientKey(client), ["sessionId": .string(id)], ttl: self.ttl)
    }

    /// Forgets which session a client joined.
    func clearSessionID(of client: ClientID, context: PluginContext) async {
        _ = try? await context.store.delete(Self.clientKey(client))
    }

    static func sessionKey(_ id: String) -> String { "session:\(id)" }
    static func clientKey(_ id: ClientID) -> String { "client:\(id.rawValue)" }
}
