import HTTPTypes
import Hummingbird
import NIOCore

/// The server API for the product's backend (server API key; any node; effective on every
/// node of a cluster):
///
/// - `POST /api/server/disconnect` with `{"userId"}` or `{"clientId"}`, optional `code` and
///   `reason` (default 1008 `revoked`): closes every matching connection and ends the
///   identities (their resume tokens are void) → `{"disconnected": n}`.
/// - `GET /api/server/clients?userId=…` → `{"clients": [{clientId, node, endpoint, connectedAt,
///   connected, codec}]}`.
/// - `GET /api/server/info` → `{"node", "nodes": [{node, connections, sessions}], "connections",
///   "sessions"}`.
///
/// In a cluster, nodes that did not answer in time are listed in `unreachableNodes`.
struct ServerAPI {
    /// Close codes a disconnect may ask for.
    static let closeCodes: [CloseCode] = [.normal, .goingAway, .policyViolation, .internalError, .tryAgainLater]
    /// Largest request body.
    static let maximumBodyBytes = 16 << 10
    private static let apiKeyField = HTTPField.Name("x-api-key")!

    let state: RelayState

    /// Serves the three routes on `router`.
    func register(on router: Router<RelayRequestContext>) {
        router.post("/api/server/disconnect") { request, context in
            await self.serve(request, context) { request in
                var request = request
                let body: ByteBuffer
                do {
                    body = try await request.collectBody(upTo: Self.maximumBodyBytes)
                } catch {
                    throw RelayError(.tooLarge, "body over \(Self.maximumBodyBytes) bytes")
                }
                let (selector, close) = try Self.disconnectRequest(body)
                return try await self.disconnect(selector, close: close)
            }
        }
        router.get("/api/server/clients") { request, context in
            await self.serve(request, context) { request in
                guard let user = request.uri.queryParameters["userId"].map(String.init), !user.isEmpty else {
                    throw RelayError.invalidField("userId", expected: "a user id (?userId=…)")
                }
                return try await self.clients(of: user)
            }
        }
        router.get("/api/server/info") { request, context in
            await self.serve(request, context) { _ in try await self.info() }
        }
    }

    /// Checks the API key, runs `body`, and turns what it throws into the REST error shape.
    private func serve(_ request: Request, _ context: RelayRequestContext, _ body: (Request) async throws -> JSONValue) async -> Response {
        do {
            try self.requireAPIKey(request, context)
            return RelayServer.jsonResponse(try await body(request))
        } catch let error as RelayError {
            self.state.metrics.error(error.code)
            return PluginHTTPDispatcher.response(.error(error))
        } catch is StoreUnavailableError {
            self.state.metrics.error(.unavailable)
            return PluginHTTPDispatcher.response(.error(RelayError(.unavailable, "the cluster database is unreachable; try again")))
        } catch {
            self.state.logger.warning("server API failed", metadata: ["url.path": "\(request.uri.path)", "error.type": "\(error)"])
            self.state.metrics.error(.unavailable)
            return PluginHTTPDispatcher.response(.error(RelayError(.unavailable, "the cluster could not be asked; try again")))
        }
    }

    private func requireAPIKey(_ request: Request, _ context: RelayRequestContext) throws(RelayError) {
        try APIKeyCheck.require(
            given: request.headers[Self.apiKeyField] ?? request.headers[.authorization].flatMap(UpgradeRequest.bearerToken),
            expected: self.state.runtime.apiKey(),
            path: request.uri.path,
            origin: request.headers[.origin],
            clientAddress: self.state.currentTable.trustedProxies.client(peer: context.remoteAddress, fields: request.headers).address,
            metrics: self.state.metrics,
            logger: self.state.logger
        )
    }

    // MARK: Calls

    /// What every node answered: this node's answer first, then the others' in node order;
    /// `unreachable` lists live nodes that did not answer in time.
    private struct Gathered {
        var answers: [JSONValue]
        var unreachable: [String]

        /// `fields`, with `unreachableNodes` when some node did not answer.
        func result(_ fields: [String: JSONValue]) -> JSONValue {
            var object = fields
            if !self.unreachable.isEmpty { object["unreachableNodes"] = .array(self.unreachable.map(JSONValue.string)) }
            return .object(object)
        }
    }

    private func disconnect(_ selector: ClientSelector, close: CloseReason) async throws -> JSONValue {
        let gathered = try await self.everyNode(.disconnect(selector, close: close))
        var count = gathered.answers.reduce(0) { $0 + ($1["disconnected"]?.intValue ?? 0) }
        if let cluster = self.state.runtime.hub.cluster, let node = self.state.clusterNode {
            // Clients of dead nodes could still resume elsewhere: their identities end too.
            for orphan in try await cluster.endOrphans(selector) {
                await node.expire(orphan.info, rooms: orphan.rooms)
                count += 1
            }
        }
        return gathered.result(["disconnected": .int(count)])
    }

    private func clients(of user: String) async throws -> JSONValue {
        let gathered = try await self.everyNode(.clients(userId: user))
        return gathered.result(["clients": .array(gathered.answers.flatMap { $0["clients"]?.arrayValue ?? [] })])
    }

    private func info() async throws -> JSONValue {
        let gathered = try await self.everyNode(.info)
        return gathered.result([
            "node": self.state.runtime.hub.cluster.map { JSONValue.string($0.nodeName) } ?? .null,
            "nodes": .array(gathered.answers),
            "connections": .int(gathered.answers.reduce(0) { $0 + ($1["connections"]?.intValue ?? 0) }),
            "sessions": .int(gathered.answers.reduce(0) { $0 + ($1["sessions"]?.intValue ?? 0) }),
        ])
    }

    /// This node's answer to `request` and, in a cluster, every other live node's.
    private func everyNode(_ request: ControlRequest) async throws -> Gathered {
        guard let cluster = self.state.runtime.hub.cluster, let node = self.state.clusterNode else {
            return Gathered(answers: [await ClientControl.answer(request, node: nil, state: self.state)], unreachable: [])
        }
        guard cluster.isReady else { throw StoreUnavailableError("the cluster backplane is not connected") }
        let timeout = Duration.seconds(self.state.currentTable.configuration.cluster.nodeTimeout)
        async let others = node.control.ask(request, cluster: cluster, timeout: timeout)
        let local = await ClientControl.answer(request, node: cluster.nodeName, state: self.state)
        let remote = try await others
        return Gathered(answers: [local] + remote.answers.sorted { $0.key < $1.key }.map(\.value), unreachable: remote.silent)
    }

    // MARK: Requests

    /// Reads a disconnect body: exactly one of `userId` and `clientId`, and optional `code` (one
    /// of ``closeCodes``) and `reason` (at most 123 bytes, what a close frame carries).
    static func disconnectRequest(_ body: ByteBuffer) throws(RelayError) -> (ClientSelector, CloseReason) {
        let value: JSONValue
        do {
            value = try JSONParser.parse(body.readableBytesView)
        } catch {
            throw RelayError(.badJSON, "body is not JSON")
        }
        guard let object = value.objectValue else { throw RelayError(.invalidMessage, "body must be a JSON object") }
        let selector: ClientSelector
        switch (object["userId"], object["clientId"]) {
        case (let user?, nil):
            guard let user = user.stringValue, !user.isEmpty else { throw RelayError.invalidField("userId", expected: "a non-empty string") }
            selector = .user(user)
        case (nil, let id?):
            guard let id = id.stringValue, !id.isEmpty else { throw RelayError.invalidField("clientId", expected: "a non-empty string") }
            selector = .client(ClientID(id))
        default:
            throw RelayError(.invalidMessage, "give exactly one of 'userId' and 'clientId'")
        }
        var close = CloseReason(.policyViolation, "revoked")
        if let value = object["code"] {
            guard let number = value.intValue, let code = Self.closeCodes.first(where: { Int($0.rawValue) == number }) else {
                throw RelayError.invalidField("code", expected: "one of \(Self.closeCodes.map { String($0.rawValue) }.joined(separator: ", "))")
            }
            close = CloseReason(code, close.reason)
        }
        if let value = object["reason"] {
            guard let reason = value.stringValue, reason.utf8.count <= 123 else { throw RelayError.invalidField("reason", expected: "a string of at most 123 bytes") }
            close = CloseReason(close.code, reason)
        }
        return (selector, close)
    }
}
