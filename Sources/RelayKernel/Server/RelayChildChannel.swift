import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// The child channel of the relay's one listener: NIO's upgradable HTTP/1 pipeline with the
/// ``UpgradeGate`` in front of the upgrader. A plain request goes on to Hummingbird's responder
/// (REST, plugin routes, static files); a WebSocket upgrade becomes the relay's channel handlers
/// (``WebSocketUpgrader``) and leaves no task behind.
struct RelayChildChannel: ServerChildChannel, HTTPChannelHandler {
    /// What the first request of a connection turned it into.
    enum Upgrade: Sendable {
        /// A WebSocket, served by channel handlers on its event loop.
        case webSocket
        /// Plain HTTP, served by Hummingbird.
        case http(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
    }

    struct Value: ServerChildChannelValue {
        let upgrade: EventLoopFuture<Upgrade>
        let channel: any Channel
    }

    let responder: HTTPChannelHandler.Responder
    let state: RelayState
    let upgrader: WebSocketUpgrader
    /// How long a plain HTTP connection may stay idle.
    let idleTimeout: Duration

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let idleTimeout = self.idleTimeout
            let upgradeConfiguration = NIOTypedHTTPServerUpgradeConfiguration<Upgrade>(
                upgraders: [self.upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        try channel.pipeline.syncOperations.addHandler(HTTPConnectionStateHandler(idleTimeout: idleTimeout, logger: logger))
                        let http = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel,
                            configuration: .init(isOutboundHalfClosureEnabled: true)
                        )
                        return Upgrade.http(http)
                    }
                }
            )
            var configuration = NIOUpgradableHTTPServerPipelineConfiguration(upgradeConfiguration: upgradeConfiguration)
            configuration.enablePipelining = false  // NIOAsyncChannel pipelines HTTP
            configuration.enableErrorHandling = false  // the gate and Hummingbird answer errors
            configuration.enableResponseHeaderValidation = false  // HTTPTypes validates
            let upgrade = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: configuration)
            let decoder = try channel.pipeline.syncOperations.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            let gate = UpgradeGate(state: self.state, loop: self.state.loops.context(for: channel.eventLoop))
            try channel.pipeline.syncOperations.addHandler(gate, position: .after(decoder))
            return Value(upgrade: upgrade, channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        switch try? await value.upgrade.get() {
        case .webSocket:
            return
        case .http(let http):
            await self.handleHTTP(asyncChannel: http, logger: logger)
        case nil:
            // The upgrade failed (the gate answered, or the peer left): nothing more to serve.
            try? await value.channel.close()
        }
    }
}
