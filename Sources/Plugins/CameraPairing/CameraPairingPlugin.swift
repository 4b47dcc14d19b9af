public import RelayKernel

/// Desktop/phone pairing by short code and a WebRTC signaling relay between the two, with a
/// REST long-poll fallback for phones that cannot hold a WebSocket (seeds 000 and 001).
///
/// WebSocket: `cam-create`, `cam-join`, and the signaling types `cam-offer`, `cam-answer`,
/// `cam-ice`, `cam-data` (`{type, code, payload}`). REST under `restPrefix` (default `/cam`):
/// `POST /create`, `POST /join/:code`, `POST /signal/:code`, `GET /signal/:code` (long-poll),
/// `POST /leave/:code`. Either side may be WebSocket or REST. See `docs/plugins/camera-pairing.md`.
///
/// Sides are addressed by client id (or REST token), never by socket: a WebSocket side that
/// drops and resumes within the grace keeps receiving everything sent to it, in order, once.
public struct CameraPairingPlugin: RelayPlugin {
    public static let name = "camera-pairing"
    public static let messageTypes: [String]? = ["cam-create", "cam-join"] + PairingDirectory.signalTypes.sorted()

    let directory: PairingDirectory
    let joinLimit: FailedAttemptLimit

    public init(configuration: CameraPairingConfiguration, setup: inout PluginSetup) throws {
        let directory = PairingDirectory(configuration: configuration)
        let joinLimit = configuration.joinLimit
        self.directory = directory
        self.joinLimit = joinLimit
        let prefix = configuration.restPrefix
        let maxSignalBytes = configuration.maxSignalBytes
        let maxPollWait = configuration.maxPollWait

        // A REST desktop: creates a code and gets the token that names its side.
        setup.http("POST", "\(prefix)/create") { _, context in
            let token = PairingCode.token()
            let pairing = try await directory.create(desktop: .rest(token: token), context: context)
            return .json([
                "code": .string(pairing.code), "token": .string(token), "expiresAt": .int(Int(pairing.expiresAt)), "side": "desktop",
            ])
        }

        // A REST phone joins; the token it gets is the only way to read or send as that side.
        // Wrong codes are limited per client address (with WebSocket joins), so codes cannot be
        // guessed at speed.
        setup.http("POST", "\(prefix)/join/:code") { request, context in
            try await context.limitingFailedAttempts("join", from: request.remoteAddress, limit: joinLimit) {
                let code = try PairingDirectory.code(request.parameters["code"] ?? "")
                let token = PairingCode.token()
                let identity = request.bearerToken.map { Pairing.Peer.rest(token: $0) }
                try await directory.join(code: code, joiner: .rest(token: token), identity: identity, context: context)
                return PluginHTTPResponse.json(["code": .string(code), "token": .string(token), "side": "phone"])
            }
        }

        // A REST side sends `{source, type, payload}` to the other side.
        setup.http("POST", "\(prefix)/signal/:code") { request, context in
            let token = try Self.token(of: request)
            if let length = request.headers["content-length"].flatMap({ Int($0) }), length > maxSignalBytes {
                throw RelayError(.tooLarge, "body over \(maxSignalBytes) bytes")
            }
            let object = try request.jsonObject()
            guard JSONValue.object(object).estimatedSize <= maxSignalBytes else {
                throw RelayError(.tooLarge, "body over \(maxSignalBytes) bytes")
            }
            guard let type = object["type"]?.stringValue else { throw RelayError.invalidField("type", expected: "a string") }
            guard PairingDirectory.signalTypes.contains(type) else {
                throw RelayError.invalidField("type", expected: "one of \(PairingDirectory.signalTypes.sorted().joined(separator: ", "))")
            }
            let source = try Self.side(object["source"], field: "source")
            let code = try PairingDirectory.code(request.parameters["code"] ?? "")
            let body: [String: JSONValue] = ["type": .string(type), "code": .string(code), "payload": object["payload"] ?? .null]
            try await directory.relay(code: code, from: .rest(token: token), claimedSide: source, body: body, context: context)
            return .json(["ok": true])
        }

        // A REST side long-polls its mailbox: `?source=…&after=<seq>&wait=<seconds>`.
        setup.http("GET", "\(prefix)/signal/:code") { request, context in
            let token = try Self.token(of: request)
            let source = try Self.side(request.query["source"].map(JSONValue.string), field: "source")
            let after = try request.query["after"].map { text throws(RelayError) in
                guard let value = Int(text), value >= 0 else { throw RelayError.invalidField("after", expected: "a sequence number (0 or more)") }
                return value
            } ?? 0
            let wait = try request.query["wait"].map { text throws(RelayError) in
                guard let value = Double(text), value >= 0, value.isFinite else { throw RelayError.invalidField("wait", expected: "seconds (0 or more)") }
                return min(value, maxPollWait)
            } ?? 0
            let code = try PairingDirectory.code(request.parameters["code"] ?? "")
            let messages = try await directory.poll(
                code: code,
                token: token,
                source: source,
                after: after,
                wait: .milliseconds(CameraPairingConfiguration.milliseconds(wait)),
                context: context
            )
            return .json(["messages": .array(messages)])
        }

        // A REST side leaves: the other side gets `cam-peer-left` at once.
        setup.http("POST", "\(prefix)/leave/:code") { request, context in
            let token = try Self.token(of: request)
            let code = try PairingDirectory.code(request.parameters["code"] ?? "")
            try await directory.leave(code: code, token: token, context: context)
            return .json(["ok": true])
        }
    }

    public func handle(_ message: RelayMessage, context: PluginContext) async throws {
        let sender = message.sender.id
        switch message.type {
        case "cam-create":
            let pairing = try await self.directory.create(desktop: .socket(sender), context: context)
            context.reply(.json(type: "cam-code", ["code": .string(pairing.code), "expiresAt": .int(Int(pairing.expiresAt))]))
        case "cam-join":
            let text = try message.string("code")
            try await context.limitingFailedAttempts("join", from: message.sender.remoteAddress, limit: self.joinLimit) {
                let code = try PairingDirectory.code(text)
                try await self.directory.join(code: code, joiner: .socket(sender), context: context)
            }
        case let type where PairingDirectory.signalTypes.contains(type):
            let code = try PairingDirectory.code(try message.string("code"))
            try await self.directory.relay(
                code: code,
                from: .socket(sender),
                body: message.body,
                forwarding: OutboundMessage(forwarding: message),
                context: context
            )
        default:
            throw RelayError(.unknownType, "camera-pairing does not handle '\(message.type)'")
        }
    }

    public func clientLeft(_ client: ClientInfo, context: PluginContext) async {
        await self.directory.clientLeft(client.id, context: context)
    }

    /// The REST side's pairing token (`Authorization: Bearer` or `?token=`); `unauthenticated`
    /// without one.
    private static func token(of request: PluginHTTPRequest) throws(RelayError) -> String {
        guard let token = request.bearerToken, !token.isEmpty else {
            throw RelayError(.unauthenticated, "the pairing token from create/join is required (Authorization: Bearer or ?token=)")
        }
        return token
    }

    private static func side(_ value: JSONValue?, field: String) throws(RelayError) -> Pairing.Side? {
        guard let value else { return nil }
        guard let text = value.stringValue, let side = Pairing.Side(rawValue: text) else {
            throw RelayError.invalidField(field, expected: "\"desktop\" or \"phone\"")
        }
        return side
    }
}
