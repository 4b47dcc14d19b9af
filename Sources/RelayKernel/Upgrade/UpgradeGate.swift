import ExtrasBase64
import NIOCore
import NIOHTTP1

/// First look at the HTTP requests of a new connection, before NIO's upgrade handler: drops a
/// client that does not send a complete request head in time, and answers a WebSocket upgrade
/// that RFC 6455 §4.2.1 or the route file refuses before anything is upgraded: 400 for a method,
/// HTTP version, `Connection` or `Sec-WebSocket-Key` that is wrong, 426 for a version other
/// than 13, 404 for a path no endpoint serves, 403 for an origin not on the endpoint's list;
/// each a ``Refusal``: logged and counted, and the body says which check failed.
///
/// After a plain request it stays to send a later upgrade attempt on the same connection to a
/// fresh one (307 to the same target; NIO upgrades only a connection's first request).
final class UpgradeGate: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let state: RelayState
    private let loop: EventLoopContext
    private var deadline: NIODeadline?
    private var sweepSlot: Int?
    private var context: ChannelHandlerContext?
    private var firstRequest = true
    private var refusing = false

    init(state: RelayState, loop: EventLoopContext) {
        self.state = state
        self.loop = loop
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let timeout = self.state.currentTable.configuration.server.handshakeTimeout
        guard timeout > 0 else { return }
        self.deadline = .now() + TimeAmount(seconds: timeout)
        self.sweepSlot = self.loop.register(self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.stopTimer()
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = self.unwrapInboundIn(data)
        guard case .head(let head) = part else {
            if !self.refusing { context.fireChannelRead(data) }
            return
        }
        self.stopTimer()
        self.refusing = false
        let first = self.firstRequest
        self.firstRequest = false
        guard Self.isWebSocketUpgrade(head) else {
            context.fireChannelRead(data)
            return
        }
        guard first else {
            return self.answer(.temporaryRedirect, "upgrade on a fresh connection", headers: [("location", head.uri)], context: context)
        }
        if let (status, why, reason, headers) = self.refusal(of: head) {
            return self.refuse(status, why, reason, head: head, headers: headers, context: context)
        }
        context.fireChannelRead(data)
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is HTTPParserError else { return context.fireErrorCaught(error) }
        self.stopTimer()
        self.refuse(.badRequest, .malformedUpgrade, "malformed HTTP request", head: nil, headers: [], context: context)
    }

    /// Why `head` may not be upgraded, if it may not.
    private func refusal(of head: HTTPRequestHead) -> (HTTPResponseStatus, Refusal.Reason, String, [(String, String)])? {
        guard head.method == .GET else { return (.badRequest, .malformedUpgrade, "a WebSocket upgrade must be a GET", []) }
        guard Self.header(head.headers, "upgrade", hasToken: "websocket") else {
            return (.badRequest, .malformedUpgrade, "a WebSocket upgrade needs 'Upgrade: websocket'", [])
        }
        guard head.version.major > 1 || (head.version.major == 1 && head.version.minor >= 1) else {
            return (.badRequest, .malformedUpgrade, "a WebSocket upgrade needs HTTP/1.1", [])
        }
        guard Self.header(head.headers, "connection", hasToken: "upgrade") else {
            return (.badRequest, .malformedUpgrade, "a WebSocket upgrade needs 'Connection: Upgrade'", [])
        }
        let versions = head.headers["sec-websocket-version"]
        guard versions.count == 1, Self.trimmed(versions[0][...].utf8).elementsEqual("13".utf8) else {
            return (.upgradeRequired, .unsupportedVersion, "only WebSocket version 13 is supported", [("sec-websocket-version", "13")])
        }
        let keys = head.headers["sec-websocket-key"]
        guard keys.count == 1, (try? Base64.decode(bytes: Self.trimmed(keys[0][...].utf8)))?.count == 16 else {
            return (.badRequest, .malformedUpgrade, "Sec-WebSocket-Key must be the base64 of 16 bytes", [])
        }
        let table = self.state.currentTable
        guard let (endpoint, _) = table.endpoint(forPath: UpgradeRequest.path(of: head.uri)) else {
            return (.notFound, .unknownPath, "no WebSocket endpoint at this path", [])
        }
        if let refusal = endpoint.originRefusal(head.headers["origin"]) {
            return (.forbidden, .origin, refusal, [])
        }
        return nil
    }

    private func refuse(
        _ status: HTTPResponseStatus,
        _ why: Refusal.Reason,
        _ reason: String,
        head: HTTPRequestHead?,
        headers extra: [(String, String)],
        context: ChannelHandlerContext
    ) {
        let peer = context.channel.remoteAddress?.ipAddress
        let client = head.map { head in self.state.currentTable.trustedProxies.client(peer: peer, values: { head.headers[$0] }) }
        Refusal(
            reason: why,
            detail: reason,
            path: head.map { String(UpgradeRequest.path(of: $0.uri)) },
            origin: head?.headers.first(name: "origin"),
            clientAddress: client?.address ?? peer,
            forwardedScheme: client?.forwardedScheme
        ).record(metrics: self.state.metrics, logger: self.state.logger)
        self.answer(status, reason, headers: extra, context: context)
    }

    private func answer(_ status: HTTPResponseStatus, _ reason: String, headers extra: [(String, String)], context: ChannelHandlerContext) {
        self.refusing = true
        let body = context.channel.allocator.buffer(string: reason + "\n")
        var headers = HTTPHeaders([("content-type", "text/plain; charset=utf-8"), ("content-length", "\(body.readableBytes)"), ("connection", "close")])
        headers.add(contentsOf: extra)
        context.write(self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(self.wrapOutboundOut(.end(nil))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    private func stopTimer() {
        if let slot = self.sweepSlot { self.loop.unregister(slot) }
        self.sweepSlot = nil
        self.deadline = nil
    }

    /// Whether `head` asks for a WebSocket: `Upgrade: websocket` (any case), or a
    /// `Sec-WebSocket-Key` (a handshake missing its `Upgrade` header is refused, not served).
    static func isWebSocketUpgrade(_ head: HTTPRequestHead) -> Bool {
        Self.header(head.headers, "upgrade", hasToken: "websocket") || head.headers.contains(name: "sec-websocket-key")
    }

    /// Whether a comma-separated header (`Connection`, `Upgrade`) lists `token` (lowercase ASCII),
    /// in any case.
    private static func header(_ headers: HTTPHeaders, _ name: String, hasToken token: String) -> Bool {
        headers[name].contains { value in
            value.utf8.split(separator: UInt8(ascii: ",")).contains { Self.trimmed($0).elementsEqual(token.utf8) { $0 | 0x20 == $1 } }
        }
    }

    /// `bytes` without the spaces and tabs around them.
    private static func trimmed(_ bytes: Substring.UTF8View) -> Substring.UTF8View {
        let isBlank = { (byte: UInt8) in byte == 0x20 || byte == 0x09 }
        guard let first = bytes.firstIndex(where: { !isBlank($0) }), let last = bytes.lastIndex(where: { !isBlank($0) }) else { return bytes[bytes.endIndex...] }
        return bytes[first...last]
    }
}

extension UpgradeGate: LoopSweepable {
    /// Drops a client that has not sent a complete request head by the handshake deadline.
    func sweep(at time: SweepTime) {
        guard let deadline, time.now >= deadline else { return }
        self.stopTimer()
        self.context?.close(promise: nil)
    }
}

@available(*, unavailable)
extension UpgradeGate: Sendable {}
