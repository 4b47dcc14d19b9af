import HTTPTypes
import Hummingbird
import NIOCore

/// Engine.IO v4 HTTP long-polling on a `socketio` endpoint's path: the handshake (a `GET`
/// without `sid`) opens a ``PollingTransport`` and its ``ClientConnection`` on the request's
/// event loop; the session's later `GET`s and `POST`s reach it on that loop, whichever HTTP
/// connection carries them.
///
/// Refusals are Engine.IO's: HTTP 400 with `{"code":…,"message":…}` for a bad `EIO` (5), a
/// `transport` other than `polling` (0), an unknown `sid` (1), a handshake that is not a `GET` (2),
/// another bad request (3); 403 (4) for an origin the endpoint does not allow; 413 for a body
/// over `maxPayload`. Browsers on allowed origins get CORS headers.
enum EngineIOPolling {
    static func serve(
        _ request: Request,
        context: RelayRequestContext,
        endpoint: CompiledEndpoint,
        parameters: [String: String],
        state: RelayState
    ) async -> Response {
        let origin = request.headers[.origin]
        if let refusal = endpoint.originRefusal(request.headers[values: .origin]) {
            let client = state.currentTable.trustedProxies.client(peer: context.remoteAddress, fields: request.headers)
            state.metrics.error(.forbidden)
            Refusal(
                reason: .origin,
                detail: refusal,
                path: request.uri.path,
                origin: origin,
                clientAddress: client.address,
                forwardedScheme: client.forwardedScheme
            ).record(metrics: state.metrics, logger: state.logger)
            return Self.response(.error(.forbidden, code: 4, "Forbidden"), origin: nil)
        }
        if request.method == .options {
            return Self.preflight(request, origin: origin)
        }
        let query = request.uri.query.map { UpgradeRequest.parseQuery($0[...]) } ?? [:]
        let answer: PollingTransport.Response
        if query["EIO"] != "4" {
            answer = .error(.badRequest, code: 5, "Unsupported protocol version")
        } else if query["transport"] != "polling" || !endpoint.settings.socketio.transports.contains(.polling) {
            answer = .error(.badRequest, code: 0, "Transport unknown")
        } else if let sid = query["sid"] {
            answer = await Self.serve(request, sid: sid, endpoint: endpoint, state: state)
        } else if request.method == .get {
            let client = state.currentTable.trustedProxies.client(peer: context.remoteAddress, fields: request.headers)
            answer = await Self.handshake(request, query: query, context: context, client: client.address, endpoint: endpoint, parameters: parameters, state: state)
        } else {
            answer = .error(.badRequest, code: 2, "Bad handshake method")
        }
        if answer.status != .ok { state.metrics.error(.invalidMessage) }
        return Self.response(answer, origin: origin)
    }

    /// Opens a session: its connection is admitted like a WebSocket's; the answer is the open
    /// packet, or the HTTP error its refusal maps to.
    private static func handshake(
        _ request: Request,
        query: [String: String],
        context: RelayRequestContext,
        client: String?,
        endpoint: CompiledEndpoint,
        parameters: [String: String],
        state: RelayState
    ) async -> PollingTransport.Response {
        guard !state.isDraining else { return .error(.serviceUnavailable, code: 3, "server shutting down") }
        let upgrade = UpgradeRequest(
            parameters: parameters,
            query: query,
            bearerToken: request.headers[.authorization].flatMap(UpgradeRequest.bearerToken),
            remoteAddress: client,
            origin: request.headers[.origin]
        )
        let loop = state.loops.context(for: context.eventLoop)
        let opened = loop.eventLoop.flatSubmit {
            let table = state.currentTable
            let endpoint = table.endpoint(named: endpoint.settings.path) ?? endpoint
            let connection = ClientConnection(state: state, loop: loop, table: table, endpoint: endpoint, request: upgrade)
            let transport = PollingTransport(sid: Self.newSID(state), connection: connection, registry: state.polling)
            state.polling.add(transport)
            let first = transport.poll()
            connection.open(on: transport)
            return first
        }
        return (try? await opened.get()) ?? .unknownSession
    }

    /// A new session's id; in a cluster it starts with this node's id, so that any node can
    /// tell where the session lives.
    private static func newSID(_ state: RelayState) -> String {
        let random = RandomToken.make(length: 20)
        guard let cluster = state.runtime.hub.cluster else { return random }
        return cluster.nodeName + "." + random
    }

    /// A `GET` or `POST` of an open session, here or on the node that holds it.
    private static func serve(_ request: Request, sid: String, endpoint: CompiledEndpoint, state: RelayState) async -> PollingTransport.Response {
        var post: ByteBuffer?
        switch request.method {
        case .get:
            break
        case .post:
            let limit = endpoint.settings.limits.maxMessageBytes
            var request = request
            guard let body = try? await request.collectBody(upTo: limit) else {
                if let session = state.polling[sid] {
                    session.eventLoop.execute { session.value.connection.close(CloseReason(.messageTooBig, "payload over \(limit) bytes")) }
                }
                return .error(.contentTooLarge, code: 3, "payload over maxPayload")
            }
            post = body
        default:
            return .error(.badRequest, code: 3, "Bad request")
        }
        if let session = state.polling[sid] {
            let answer = session.eventLoop.flatSubmit { [post] in post.map { session.value.push($0) } ?? session.value.poll() }
            return (try? await answer.get()) ?? .unknownSession
        }
        guard let cluster = state.runtime.hub.cluster, let node = ClusterPollingRelay.node(of: sid), node != cluster.nodeName,
            let relay = state.clusterNode?.polling
        else { return .unknownSession }
        let settings = endpoint.settings.socketio
        let timeout = Duration.milliseconds(settings.pingInterval + settings.pingTimeout) + .seconds(5)
        return await relay.forward(sid: sid, post: post, to: node, timeout: timeout, cluster: cluster) ?? .unknownSession
    }

    private static func response(_ answer: PollingTransport.Response, origin: String?) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = answer.contentType
        headers[.cacheControl] = "no-store"
        if let origin {
            headers[.accessControlAllowOrigin] = origin
            headers[.accessControlAllowCredentials] = "true"
            headers[.vary] = "Origin"
        }
        return Response(status: answer.status, headers: headers, body: .init(byteBuffer: answer.body))
    }

    /// A browser's preflight for a cross-origin `POST` (or custom headers).
    private static func preflight(_ request: Request, origin: String?) -> Response {
        var headers = HTTPFields()
        if let origin {
            headers[.accessControlAllowOrigin] = origin
            headers[.accessControlAllowCredentials] = "true"
            headers[.accessControlAllowMethods] = "GET, POST"
            headers[.accessControlAllowHeaders] = request.headers[.accessControlRequestHeaders] ?? "content-type"
            headers[.accessControlMaxAge] = "600"
            headers[.vary] = "Origin"
        }
        return Response(status: .noContent, headers: headers)
    }
}
