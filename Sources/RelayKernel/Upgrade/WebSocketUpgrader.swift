import NIOCore
import NIOHTTP1
import NIOWebSocket

/// Upgrades a request the ``UpgradeGate`` let through to a WebSocket on its endpoint: NIO's
/// server upgrader checks the key and builds the 101 answer (with the negotiated
/// permessage-deflate parameters), then this installs the endpoint's pipeline: NIO's frame
/// decoder (limited to the endpoint's message size, see ``BoundedFrameDecoder``) and encoder, the
/// ``WebSocketProtocolHandler``, a ``MessageCompressor`` if permessage-deflate was negotiated, and
/// the ``WebSocketConnectionHandler`` with its ``ClientConnection``. No task is left behind.
///
/// Stateless: one instance serves every connection.
final class WebSocketUpgrader: NIOTypedHTTPServerProtocolUpgrader, Sendable {
    typealias UpgradeResult = RelayChildChannel.Upgrade

    let supportedProtocol = "websocket"
    /// `Connection` and `Upgrade` are checked by the gate (RFC 6455 does not list them here).
    let requiredUpgradeHeaders: [String] = []

    private let state: RelayState
    private let handshake: NIOTypedWebSocketServerUpgrader<UpgradeResult>

    init(state: RelayState) {
        self.state = state
        self.handshake = NIOTypedWebSocketServerUpgrader(
            shouldUpgrade: { channel, head in
                guard let plan = Plan(head: head, table: state.currentTable) else {
                    return channel.eventLoop.makeSucceededFuture(nil)
                }
                var headers = HTTPHeaders()
                if let deflate = plan.deflate { headers.add(name: "sec-websocket-extensions", value: deflate.responseHeader) }
                return channel.eventLoop.makeSucceededFuture(headers)
            },
            upgradePipelineHandler: { channel, _ in
                // Never called: `upgrade(channel:upgradeRequest:)` below builds the pipeline.
                channel.eventLoop.makeFailedFuture(ChannelError.inappropriateOperationForState)
            }
        )
    }

    func buildUpgradeResponse(channel: any Channel, upgradeRequest: HTTPRequestHead, initialResponseHeaders: HTTPHeaders) -> EventLoopFuture<HTTPHeaders> {
        self.handshake.buildUpgradeResponse(channel: channel, upgradeRequest: upgradeRequest, initialResponseHeaders: initialResponseHeaders)
    }

    func upgrade(channel: any Channel, upgradeRequest: HTTPRequestHead) -> EventLoopFuture<UpgradeResult> {
        channel.eventLoop.makeCompletedFuture {
            let table = self.state.currentTable
            guard let plan = Plan(head: upgradeRequest, table: table) else { throw NIOWebSocketUpgradeError.unsupportedWebSocketTarget }
            let server = table.configuration.server
            let loop = self.state.loops.context(for: channel.eventLoop)
            let limit = plan.endpoint.settings.limits.maxMessageBytes
            // A compressed frame may be a little larger than the message it carries.
            let frameBound = FrameBound(messageStart: min(plan.deflate == nil ? limit : limit + limit / 1000 + 1024, Int(UInt32.max)))
            let protocolHandler = WebSocketProtocolHandler(
                configuration: .init(
                    maxMessageBytes: limit,
                    deflate: plan.deflate,
                    heartbeatInterval: server.heartbeatInterval > 0 ? TimeAmount(seconds: server.heartbeatInterval) : nil,
                    closeTimeout: TimeAmount(seconds: server.closeTimeout)
                ),
                frameBound: frameBound,
                loop: loop
            )
            let client = table.trustedProxies.client(peer: channel.remoteAddress?.ipAddress, values: { upgradeRequest.headers[$0] })
            let request = UpgradeRequest(head: upgradeRequest, parameters: plan.parameters, remoteAddress: client.address)
            let connection = ClientConnection(
                state: self.state,
                loop: loop,
                table: table,
                endpoint: plan.endpoint,
                request: request
            )
            let pipeline = channel.pipeline.syncOperations
            try pipeline.addHandler(WebSocketFrameEncoder())
            try pipeline.addHandler(ByteToMessageHandler(BoundedFrameDecoder(bound: frameBound)))
            try pipeline.addHandler(protocolHandler)
            if let deflate = plan.deflate { try pipeline.addHandler(MessageCompressor(parameters: deflate)) }
            try pipeline.addHandler(WebSocketConnectionHandler(connection: connection, protocolHandler: protocolHandler))
            return .webSocket
        }
    }

    /// The endpoint a request is for and the compression it negotiates.
    private struct Plan {
        let endpoint: CompiledEndpoint
        let parameters: [String: String]
        let deflate: PerMessageDeflate?

        init?(head: HTTPRequestHead, table: RouteTable) {
            guard let (endpoint, parameters) = table.endpoint(forPath: UpgradeRequest.path(of: head.uri)) else { return nil }
            self.endpoint = endpoint
            self.parameters = parameters
            self.deflate = PerMessageDeflate.negotiate(offers: head.headers["sec-websocket-extensions"], settings: endpoint.settings.compression)
        }
    }
}
