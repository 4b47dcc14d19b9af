import NIOCore
import NIOHTTP1

/// First look at every HTTP request on a new connection, before the WebSocket upgrader:
/// drops clients that do not send a complete request head in time, answers 404 for unknown
/// WebSocket paths and 403 for refused origins, and shapes the permessage-deflate offer to the
/// endpoint's settings (removing it where compression is off).
final class UpgradeGate: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let table: RouteTable
    private let handshakeTimeout: TimeAmount
    private var timeout: Scheduled<Void>?
    private var rejecting = false

    init(table: RouteTable, handshakeTimeout: TimeAmount) {
        self.table = table
        self.handshakeTimeout = handshakeTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        guard self.handshakeTimeout > .zero else { return }
        let channel = context.channel
        self.timeout = context.eventLoop.scheduleTask(in: self.handshakeTimeout) {
            channel.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.timeout?.cancel()
        self.timeout = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = self.unwrapInboundIn(data)
        guard case .head(var head) = part else {
            if !self.rejecting { context.fireChannelRead(data) }
            return
        }
        self.timeout?.cancel()
        self.timeout = nil
        self.rejecting = false
        guard Self.isWebSocketUpgrade(head) else {
            context.fireChannelRead(self.wrapInboundOut(.head(head)))
            return
        }
        let path = String(head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
        guard let (endpoint, _) = self.table.endpoint(forPath: path) else {
            self.reject(context: context, status: .notFound)
            return
        }
        if let origin = head.headers["origin"].first,
            !endpoint.settings.limits.allowedOrigins.compactMap(OriginPattern.init).contains(where: { $0.matches(origin) })
        {
            self.reject(context: context, status: .forbidden)
            return
        }
        Self.shapeCompressionOffer(&head.headers, settings: endpoint.settings.compression)
        context.fireChannelRead(self.wrapInboundOut(.head(head)))
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    private func reject(context: ChannelHandlerContext, status: HTTPResponseStatus) {
        self.rejecting = true
        let headers = HTTPHeaders([("content-length", "0"), ("connection", "close")])
        context.write(self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(self.wrapOutboundOut(.end(nil))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    static func isWebSocketUpgrade(_ head: HTTPRequestHead) -> Bool {
        head.headers["upgrade"].contains { $0.lowercased() == "websocket" }
    }

    /// Removes the client's permessage-deflate offer when the endpoint has compression off, and
    /// adds the endpoint's limits (no context takeover, window size) to it otherwise.
    static func shapeCompressionOffer(_ headers: inout HTTPHeaders, settings: CompressionSettings) {
        let offers = headers["sec-websocket-extensions"]
        guard !offers.isEmpty else { return }
        headers.remove(name: "sec-websocket-extensions")
        guard settings.enabled else { return }
        let shaped = offers.flatMap { $0.split(separator: ",") }.map { offer -> String in
            let trimmed = offer.trimmingCharacters(in: " ")
            guard trimmed.hasPrefix("permessage-deflate") else { return trimmed }
            var parameters = trimmed.split(separator: ";").map { $0.trimmingCharacters(in: " ") }
            if settings.noContextTakeover {
                for parameter in ["server_no_context_takeover", "client_no_context_takeover"] where !parameters.contains(parameter) {
                    parameters.append(parameter)
                }
            }
            if settings.maxWindowBits < 15, !parameters.contains(where: { $0.hasPrefix("server_max_window_bits") }) {
                parameters.append("server_max_window_bits=\(settings.maxWindowBits)")
            }
            return parameters.joined(separator: "; ")
        }
        headers.add(name: "sec-websocket-extensions", value: shaped.joined(separator: ", "))
    }
}

extension Substring {
    func trimmingCharacters(in character: Character) -> String {
        var text = self
        while text.first == character { text.removeFirst() }
        while text.last == character { text.removeLast() }
        return String(text)
    }
}
