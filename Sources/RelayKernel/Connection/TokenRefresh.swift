/// Token lifetime on an open connection: `token_expiring` ahead of `exp`, `refresh` with a new
/// token of the same user (answered `refreshed`), and the close at `exp` plus leeway. Checked by
/// the event loop's sweep (no timer per connection).
enum TokenRefresh {
    /// How a `refresh` is answered.
    enum Answer {
        /// As a message to the session (`refreshed`, or an `error` with `ref` `refresh`).
        case message
        /// As the acknowledgement a Socket.IO client asked for (with the same object).
        case acknowledgement(id: Int)
    }

    /// The sweep's step for `connection`'s token: warns every session once within
    /// `auth.refreshWindow` of `exp`, closes with 1008 `token expired` after `exp` plus leeway.
    static func sweep(_ connection: ClientConnection, at time: SweepTime) {
        guard var lifetime = connection.tokenLifetime else { return }
        let step = lifetime.step(at: time.wallClock, settings: connection.settings.auth)
        switch step {
        case .nothing:
            return
        case .warn(let expiresAt):
            // Not yet a session to tell (a Socket.IO namespace to come): warn at a later sweep.
            guard !connection.sessions.isEmpty else { return }
            connection.tokenLifetime = lifetime
            let warning = OutboundMessage.json(type: "token_expiring", ["expiresAt": .int(expiresAt)])
            for (_, session) in connection.sessions { connection.reply(session, warning) }
        case .expire:
            connection.tokenLifetime = nil
            connection.close(CloseReason(.policyViolation, "token expired"))
        }
    }

    /// `refresh` from `session`'s client with `token` (`nil` when the message had none, which is
    /// `invalid_message`): verified like a connect token; a valid token of the same user replaces
    /// the connection's claims and expiry.
    static func refresh(_ connection: ClientConnection, token: String?, session: ClientSession, answer: Answer) {
        connection.metrics.kernelMessageIn()
        guard let token else {
            return Self.deliver(.failure(.invalidField("token", expected: "a string")), answer, to: session, on: connection)
        }
        connection.perform { connection in
            Self.deliver(await Self.replaceToken(with: token, on: connection), answer, to: session, on: connection)
        }
    }

    private static func deliver(_ result: Result<OutboundMessage, RelayError>, _ answer: Answer, to session: ClientSession, on connection: ClientConnection) {
        let reply: OutboundMessage
        switch result {
        case .success(let refreshed):
            reply = refreshed
        case .failure(let error):
            connection.metrics.error(error.code)
            reply = .error(error, ref: "refresh")
        }
        switch answer {
        case .message:
            connection.reply(session, reply)
        case .acknowledgement(let id):
            connection.reply(session, OutboundMessage(type: "ack", content: .ack(id: id, arguments: [reply.bytes], attachments: [])))
        }
    }

    /// Verifies `token` and, if it names the connection's user, makes it the connection's token;
    /// returns the `refreshed` answer, or `unauthenticated` (the token does not verify) or
    /// `forbidden` (another user, or a connection that had no token). A refused refresh changes
    /// nothing: the old token still expires when it did.
    private static func replaceToken(with token: String, on connection: ClientConnection) async -> Result<OutboundMessage, RelayError> {
        guard let current = connection.identity, current != .anonymous else {
            return .failure(RelayError(.forbidden, "this connection did not authenticate with a token"))
        }
        let identity: VerifiedIdentity
        do {
            identity = try await connection.state.runtime.verify(token)
        } catch {
            return .failure(error)
        }
        guard identity.userId == current.userId else {
            return .failure(RelayError(.forbidden, "the new token names another user"))
        }
        connection.identity = identity
        connection.tokenLifetime = TokenLifetime(identity)
        for (_, session) in connection.sessions {
            session.replaceClaims(identity.claims)
            connection.state.runtime.hub.announceUpdate(of: session)
        }
        let expiresAt = connection.tokenLifetime.map { JSONValue.int($0.expiresAtMilliseconds) } ?? .null
        return .success(.json(type: "refreshed", ["expiresAt": expiresAt]))
    }
}
