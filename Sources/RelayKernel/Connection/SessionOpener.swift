/// Opens a client's session on a connection: a fresh identity (the endpoint's plugins hear it
/// joined), or the one a resume token names, held here or taken over from another node.
enum SessionOpener {
    /// Opens a fresh session, or resumes the one `resume` names (falling back to a fresh one).
    static func open(_ connection: ClientConnection, identity: VerifiedIdentity, resume: ResumeRequest?) async {
        if let resume {
            if let resumed = await Self.resume(connection, resume, identity: identity) {
                return Self.attach(resumed, to: connection, greeting: Self.connected(resumed))
            }
            await Self.openFresh(connection, identity: identity, resumeAttempted: true)
        } else {
            await Self.openFresh(connection, identity: identity, resumeAttempted: false)
        }
    }

    /// Opens a new client identity; for Socket.IO in `namespace` with its CONNECT payload.
    /// Returns the session, or `nil` when a plugin refused it (the connection then closes).
    @discardableResult
    static func openFresh(
        _ connection: ClientConnection,
        identity: VerifiedIdentity,
        resumeAttempted: Bool,
        namespace: String? = nil,
        handshake: [String: JSONValue] = [:]
    ) async -> ClientSession? {
        guard let handle = connection.handle else { return nil }
        let state = connection.state
        let endpoint = connection.endpoint
        let info = ClientInfo(
            id: .random(),
            userId: identity.userId,
            claims: identity.claims,
            endpoint: endpoint.settings.path,
            parameters: connection.parameters,
            codec: endpoint.settings.codec,
            remoteAddress: connection.remoteAddress,
            namespace: namespace,
            handshake: handshake
        )
        let hub = state.runtime.hub
        let session = ClientSession(
            info: info, bounds: Self.bounds(connection), connection: handle, resumeToken: RandomToken.make(length: 32), cluster: hub.journal, journal: hub.freshJournal()
        )
        hub.register(session)
        let key = namespace ?? ""
        connection.register(session, namespace: key)
        let fields: [String: JSONValue]
        do {
            fields = try await ClientLifecycle.join(info, endpoint: endpoint, state: state)
        } catch {
            _ = state.runtime.hub.remove(session)
            connection.unregister(namespace: key)
            let reason = error.joinRefusal
            if let namespace {
                connection.sendDirect(SocketIOPacket.text(.connectError, namespace: namespace, payload: SocketIOPacket.errorPayload(reason.reason)))
            }
            if reason.code == .policyViolation {
                connection.refuse(.joinRefused, reason)
            } else {
                connection.close(reason)
            }
            return nil
        }
        if let cluster = state.runtime.hub.cluster {
            // Peers told this client id must find it on every node.
            await cluster.flush()
        }
        if let namespace {
            connection.sendDirect(SocketIOPacket.connected(session, namespace: namespace, recovery: endpoint.settings.socketio.connectionStateRecovery), namespace: namespace)
        } else {
            var connected = fields
            connected["clientId"] = .string(info.id.rawValue)
            connected["resumeToken"] = .string(session.resumeToken)
            connected["resumed"] = .bool(false)
            if resumeAttempted { connected["replayed"] = .int(0) }
            connection.sendDirect(.json(type: "connected", fields: connected))
        }
        connection.attach(session, generation: session.generation, namespace: key)
        return session
    }

    /// A session taken up again by a new connection, not yet attached to it.
    struct Resumed {
        let session: ClientSession
        /// The resume token from now on.
        let token: String
        /// Messages the client missed, about to be written.
        let replayed: Int
        let generation: Int
    }

    /// Resumes the session holding `resume.token` (in `namespace` for Socket.IO), here or taken
    /// over from another node; `nil` when the client must start afresh. The token is replaced
    /// unless `keepToken` (Socket.IO's recovery keeps its `pid`). The caller greets the client
    /// and attaches the session (``attach(_:to:namespace:greeting:)``).
    static func resume(
        _ connection: ClientConnection,
        _ resume: ResumeRequest,
        identity: VerifiedIdentity,
        namespace: String? = nil,
        keepToken: Bool = false
    ) async -> Resumed? {
        guard let handle = connection.handle else { return nil }
        let hub = connection.state.runtime.hub
        let endpoint = connection.endpoint.settings.path
        let newToken = keepToken ? resume.token : RandomToken.make(length: 32)
        let accept = { (session: ClientSession) in
            session.info.userId == identity.userId && session.info.endpoint == endpoint && session.info.namespace == namespace
        }
        guard let session = hub.redeem(resumeToken: resume.token, accept: accept) else {
            return await Self.resumeFromCluster(connection, resume, identity: identity, namespace: namespace, newToken: newToken)
        }
        guard let resumed = session.resume(on: handle, lastSeen: resume.lastSeen, newToken: newToken) else { return nil }
        hub.issue(resumeToken: newToken, for: session)
        resumed.previous?.requestClose(CloseReason(.normal, "resumed on another connection"))
        return Resumed(session: session, token: newToken, replayed: resumed.replayed, generation: resumed.generation)
    }

    /// `{"type":"resume"}` after `connected`: swaps the connection's fresh identity for the
    /// resumed one, or tells the client it keeps the fresh one.
    static func resumeInPlace(_ connection: ClientConnection, _ resume: ResumeRequest, fresh: ClientSession) async {
        let identity = VerifiedIdentity(userId: fresh.info.userId, claims: fresh.info.claims, expiresAt: nil)
        if let resumed = await Self.resume(connection, resume, identity: identity) {
            Self.attach(resumed, to: connection, greeting: Self.connected(resumed))
            await ClientLifecycle.leaveForGood(fresh, state: connection.state)
            return
        }
        guard let handle = connection.handle else { return }
        let newToken = RandomToken.make(length: 32)
        guard let resumed = fresh.resume(on: handle, lastSeen: 0, newToken: newToken) else { return }
        connection.state.runtime.hub.issue(resumeToken: newToken, for: fresh)
        connection.sendDirect(
            .json(type: "connected", ["clientId": .string(fresh.id.rawValue), "resumeToken": .string(newToken), "resumed": false, "replayed": 0])
        )
        connection.attach(fresh, generation: resumed.generation)
    }

    /// Takes over an identity another node holds (its queue handed over) or held before it died
    /// (what it missed, read back from the database): see ``ClusterTakeover``.
    private static func resumeFromCluster(
        _ connection: ClientConnection,
        _ resume: ResumeRequest,
        identity: VerifiedIdentity,
        namespace: String?,
        newToken: String
    ) async -> Resumed? {
        guard let handle = connection.handle else { return nil }
        let request = ClusterClaim.Request(resumeToken: resume.token, userId: identity.userId, endpoint: connection.endpoint.settings.path, namespace: namespace)
        guard
            let taken = await ClusterTakeover.resume(
                request, lastSeen: resume.lastSeen, newToken: newToken, bounds: Self.bounds(connection), connection: handle, state: connection.state
            )
        else { return nil }
        return Resumed(session: taken.session, token: taken.token, replayed: taken.replayed, generation: taken.session.generation)
    }

    /// Greets the client of a resumed session with `greeting`, then writes its queue (the
    /// missed messages first).
    static func attach(_ resumed: Resumed, to connection: ClientConnection, namespace: String = "", greeting: OutboundMessage) {
        connection.register(resumed.session, namespace: namespace)
        connection.sendDirect(greeting, namespace: namespace)
        connection.attach(resumed.session, generation: resumed.generation, namespace: namespace)
    }

    /// The `json` codec's `connected` for a resumed identity.
    private static func connected(_ resumed: Resumed) -> OutboundMessage {
        .json(
            type: "connected",
            ["clientId": .string(resumed.session.id.rawValue), "resumeToken": .string(resumed.token), "resumed": true, "replayed": .int(resumed.replayed)]
        )
    }

    private static func bounds(_ connection: ClientConnection) -> ClientSession.Bounds {
        ClientSession.Bounds(
            queueMessages: connection.limits.queueMessages,
            queueBytes: connection.limits.queueBytes,
            replayMessages: connection.settings.server.resumeBufferMessages
        )
    }
}

/// A client's request to resume: its resume token and how many messages it had received.
struct ResumeRequest: Sendable {
    var token: String
    var lastSeen: Int

    /// From the upgrade's `?resume=<token>&lastSeen=<n>`, if any.
    init?(query: [String: String]) {
        guard let token = query["resume"], !token.isEmpty else { return nil }
        self.init(token: token, lastSeen: query["lastSeen"].flatMap { Int($0) } ?? 0)
    }

    init(token: String, lastSeen: Int) {
        self.token = token
        self.lastSeen = lastSeen
    }
}
