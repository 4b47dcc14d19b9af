import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A TCP forwarder on 127.0.0.1 between a client and the relay that can cut every connection
/// through it at once with a TCP reset (no close frame, no FIN): what a client sees when the
/// relay's side of the connection goes away mid-stream. Bytes in flight are lost, as in a real
/// cut; the relay keeps the client's identity for its resume grace.
final class TCPCutter: Sendable {
    /// The port clients connect to.
    let port: Int
    private let server: any Channel
    private let connections: NIOLockedValueBox<[any Channel]>

    /// Listens on a free port and forwards every connection to `127.0.0.1:target`.
    init(target: Int) async throws {
        let connections = NIOLockedValueBox<[any Channel]>([])
        self.connections = connections
        self.server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { inbound in
                // Both sides on one event loop, so the handlers are added synchronously.
                ClientBootstrap(group: inbound.eventLoop).connect(host: "127.0.0.1", port: target).flatMapThrowing { outbound in
                    connections.withLockedValue { $0.append(contentsOf: [inbound, outbound]) }
                    try inbound.pipeline.syncOperations.addHandler(Forwarder(to: outbound))
                    try outbound.pipeline.syncOperations.addHandler(Forwarder(to: inbound))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        self.port = self.server.localAddress?.port ?? 0
    }

    /// `ws://127.0.0.1:<port><path>`.
    func url(_ path: String) -> URL {
        URL(string: "ws://127.0.0.1:\(self.port)\(path)")!
    }

    /// Resets every connection made through the forwarder so far (both sides).
    func cut() async throws {
        let channels = self.connections.withLockedValue { channels in
            defer { channels.removeAll() }
            return channels
        }
        for channel in channels {
            if let provider = channel as? any SocketOptionProvider {
                try? await provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).get()
            }
            try? await channel.close()
        }
    }

    /// Closes the listener and every connection.
    func shutdown() async throws {
        try await self.cut()
        try await self.server.close()
    }

    /// Writes what one side reads to the other; closes the other when one side closes.
    private final class Forwarder: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        private let peer: any Channel

        init(to peer: any Channel) {
            self.peer = peer
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            self.peer.writeAndFlush(self.unwrapInboundIn(data), promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            self.peer.close(promise: nil)
            context.fireChannelInactive()
        }
    }
}
