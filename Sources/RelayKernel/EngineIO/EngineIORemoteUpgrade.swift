import HTTPTypes
import NIOCore
import NIOWebSocket

/// Engine.IO's upgrade from long-polling to a WebSocket when the WebSocket reached another
/// cluster node than the one holding the long-polling session (no sticky sessions).
///
/// The WebSocket's node asks the session's node, through the backplane: on `2probe`, whether the
/// session is there (its polls then get noops, so the client's pending one returns); on `5`, to
/// give the client up. The session's node hands over who the client is, the packets written but
/// not polled yet and, per namespace, the session's resume token and the last position written;
/// it keeps the sessions for the resume grace. The WebSocket's node then takes each session over
/// as a resume does (``ClusterTakeover``: the rest of its queue is handed over), so nothing is
/// lost or repeated, and the client carries on over the WebSocket without noticing.
enum EngineIORemoteUpgrade {
    /// What the WebSocket's node asks of the session's node.
    enum Step: Sendable, Equatable {
        /// `2probe` arrived: is the session there? (Its polls get noops from then on.)
        case probe
        /// `5` arrived: give the client up.
        case takeOver
    }

    /// A namespace session to take over: its resume token and the last position written to the
    /// client (the packets not polled yet travel in the hand-over).
    struct Moved: Equatable {
        var namespace: String
        var token: String
        var written: Int
    }

    // MARK: On the session's node

    /// Answers `step` for `session` (on its event loop).
    static func serve(_ step: Step, of session: NIOLoopBound<PollingTransport>, state: RelayState) -> EventLoopFuture<PollingTransport.Response> {
        let polling = session.value
        switch step {
        case .probe:
            return session.eventLoop.makeSucceededFuture(polling.upgradeProbed() ? .taken : .unknownSession)
        case .takeOver:
            let promise = session.eventLoop.makePromise(of: PollingTransport.Response.self)
            let handle = polling.connection.handle
            polling.connection.whenIdle {
                guard let handle, let handover = polling.handOver() else { return promise.succeed(.unknownSession) }
                for (_, client) in handover.sessions {
                    ClientLifecycle.keepForResume(client, detachedFrom: handle, state: state)
                }
                promise.succeed(PollingTransport.Response(status: .ok, body: Self.encode(handover), contentType: "application/json"))
            }
            return promise.futureResult
        }
    }

    /// The hand-over as JSON: `identity`, `authDeadline` (milliseconds left and the close reason),
    /// `sessions` (``Moved``) and `unsent` (an Engine.IO payload).
    static func encode(_ handover: ClientConnection.Handover) -> ByteBuffer {
        var unsent = ByteBuffer()
        for frame in handover.unsent { EngineIOPayload.append(frame, to: &unsent) }
        var json: [String: JSONValue] = [
            "sessions": .array(
                handover.sessions.map { namespace, session in
                    ["namespace": .string(namespace), "token": .string(session.resumeToken), "written": .int(session.writtenPosition)]
                }
            ),
            "unsent": .string(String(buffer: unsent)),
        ]
        if let identity = handover.identity {
            json["identity"] = [
                "userId": identity.userId.map(JSONValue.string) ?? .null,
                "claims": .object(identity.claims),
                "expiresAt": identity.expiresAt.map(JSONValue.double) ?? .null,
            ]
        }
        if let deadline = handover.authDeadline {
            let left = max(0, (deadline.at - .now()).nanoseconds / 1_000_000)
            json["authDeadline"] = ["milliseconds": .int(Int(left)), "reason": .string(deadline.reason.reason)]
        }
        return JSONValue.object(json).encoded
    }

    /// Reads what ``encode(_:)`` wrote: the connection's part (without sessions) and the
    /// sessions to take over; `nil` for anything else.
    static func decode(_ body: ByteBuffer) -> (handover: ClientConnection.Handover, moved: [Moved])? {
        guard let json = try? JSONParser.parse(body.readableBytesView).objectValue, let sessions = json["sessions"]?.arrayValue,
            let unsentText = json["unsent"]?.stringValue,
            let unsent = unsentText.isEmpty ? [] : try? EngineIOPayload.decode(ByteBuffer(string: unsentText))
        else { return nil }
        var moved: [Moved] = []
        for session in sessions {
            guard let namespace = session["namespace"]?.stringValue, let token = session["token"]?.stringValue, let written = session["written"]?.intValue else { return nil }
            moved.append(Moved(namespace: namespace, token: token, written: written))
        }
        let identity = json["identity"]?.objectValue.map { identity in
            VerifiedIdentity(userId: identity["userId"]?.stringValue, claims: identity["claims"]?.objectValue ?? [:], expiresAt: identity["expiresAt"]?.doubleValue)
        }
        let authDeadline = json["authDeadline"].flatMap { deadline -> (at: NIODeadline, reason: CloseReason)? in
            guard let milliseconds = deadline["milliseconds"]?.intValue, let reason = deadline["reason"]?.stringValue else { return nil }
            return (.now() + .milliseconds(Int64(milliseconds)), CloseReason(.policyViolation, reason))
        }
        let frames = unsent.map { WebSocketFrame(fin: true, opcode: $0.kind == .binary ? .binary : .text, data: $0.data) }
        let handover = ClientConnection.Handover(
            identity: identity,
            tokenLifetime: identity.flatMap(TokenLifetime.init),
            authDeadline: authDeadline,
            sessions: [],
            unsent: frames
        )
        return (handover, moved)
    }

    // MARK: On the WebSocket's node

    /// How long the WebSocket's node waits for an answer: as long as the whole upgrade may take
    /// (``SocketIOCodec`` closes a WebSocket that has not upgraded in that time).
    static let answerTimeout = Duration.seconds(10)

    /// Asks `node` step `step` for session `sid`; `nil` when it did not answer in time.
    static func ask(_ step: Step, sid: String, node: String, connection: ClientConnection) async -> PollingTransport.Response? {
        let state = connection.state
        guard let cluster = state.runtime.hub.cluster, let relay = state.clusterNode?.polling else { return nil }
        return await relay.forwardUpgrade(sid: sid, step: step, to: node, timeout: Self.answerTimeout, cluster: cluster)
    }

    /// Takes the client over from `node`: its connection's part, and the sessions to resume
    /// (``resume(_:on:)``); `nil` when the session ended or the node did not answer.
    static func takeOver(_ sid: String, from node: String, connection: ClientConnection) async -> (handover: ClientConnection.Handover, moved: [Moved])? {
        guard let answer = await Self.ask(.takeOver, sid: sid, node: node, connection: connection), answer.status == .ok else { return nil }
        return Self.decode(answer.body)
    }

    /// Takes over each namespace session another node handed over and writes what follows the
    /// position written there; `false` when one cannot be (the client must reconnect).
    static func resume(_ moved: [Moved], on connection: ClientConnection) async -> Bool {
        let identity = connection.identity ?? .anonymous
        for session in moved {
            let request = ResumeRequest(token: session.token, lastSeen: session.written)
            guard let resumed = await SessionOpener.resume(connection, request, identity: identity, namespace: session.namespace, keepToken: true) else {
                return false
            }
            connection.register(resumed.session, namespace: session.namespace)
            connection.attach(resumed.session, generation: resumed.generation, namespace: session.namespace)
        }
        return true
    }
}
