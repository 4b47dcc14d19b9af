import CompressNIO
import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing
@testable import RelayKernel

/// RFC 6455 / 7692 rules of ``WebSocketProtocolHandler``, pushed through an `EmbeddedChannel`:
/// masked client frames go in with `writeInbound`, whole messages and user events come out,
/// and what the handler answers is read back with `readOutbound`. Time is driven by
/// `sweep(at:)` (the handler has no loop here).
@Suite("WebSocketProtocolHandler")
struct WebSocketProtocolHandlerTests {
    // MARK: Messages

    @Test func singleFrameTextAndBinaryMessagesAreHandedOn() throws {
        let peer = try Peer()
        try peer.send(.text, Array("hello".utf8))
        try peer.send(.binary, [0, 1, 2, 0xFF])
        #expect(try peer.messages() == [Received(.text, Array("hello".utf8)), Received(.binary, [0, 1, 2, 0xFF])])
        #expect(try peer.outbound().isEmpty)
        #expect(peer.events.isEmpty)
    }

    @Test func fragmentsAreJoinedAndAPingBetweenThemIsAnsweredWithItsPayload() throws {
        let peer = try Peer()
        try peer.send(.text, Array("Hel".utf8), fin: false)
        try peer.send(.ping, [7, 8, 9])
        // The pong goes out (flushed at the end of the read) before the message is complete.
        let pong = try #require(try peer.outbound().first)
        #expect(pong.opcode == .pong && pong.fin)
        #expect(pong.maskKey == nil)
        #expect(Array(pong.data.readableBytesView) == [7, 8, 9])
        #expect(try peer.messages().isEmpty)
        try peer.send(.continuation, Array("lo, ".utf8), fin: false)
        try peer.send(.continuation, Array("world".utf8))
        #expect(try peer.messages() == [Received(.text, Array("Hello, world".utf8))])
        #expect(peer.events.isEmpty)
    }

    @Test func aPongFromThePeerIsIgnored() throws {
        let peer = try Peer()
        try peer.send(.pong, [1, 2])
        #expect(try peer.outbound().isEmpty)
        #expect(try peer.messages().isEmpty)
        #expect(peer.channel.isActive)
    }

    @Test func aContinuationWithoutAStartedMessageFailsWith1002() throws {
        let peer = try Peer()
        try peer.send(.continuation, Array("orphan".utf8))
        try peer.expectFailure(.protocolError)
        #expect(try peer.messages().isEmpty)
    }

    @Test func aNewMessageInsideAFragmentedOneFailsWith1002() throws {
        let peer = try Peer()
        try peer.send(.text, Array("first".utf8), fin: false)
        try peer.send(.binary, [1])
        try peer.expectFailure(.protocolError)
        #expect(try peer.messages().isEmpty)
    }

    @Test(arguments: [UInt8(3), 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
    func reservedOpcodesFailWith1002(_ encoded: UInt8) throws {
        let peer = try Peer()
        try peer.send(try #require(WebSocketOpcode(encodedWebSocketOpcode: encoded)), [1])
        try peer.expectFailure(.protocolError)
    }

    @Test func unmaskedClientFramesFailWith1002() throws {
        let peer = try Peer()
        try peer.send(.text, Array("plain".utf8), masked: false)
        try peer.expectFailure(.protocolError)
        #expect(try peer.messages().isEmpty)
    }

    // MARK: Reserved bits

    @Test(arguments: [WebSocketFrame.ReservedBits.rsv1, .rsv2, .rsv3, [.rsv1, .rsv2]])
    func reservedBitsWithoutAnExtensionFailWith1002(_ bits: WebSocketFrame.ReservedBits) throws {
        let peer = try Peer()
        try peer.send(.text, Array("x".utf8), rsv: bits)
        try peer.expectFailure(.protocolError)
        #expect(try peer.messages().isEmpty)
    }

    @Test(arguments: [WebSocketFrame.ReservedBits.rsv2, .rsv3, [.rsv1, .rsv2]])
    func reservedBitsOtherThanRSV1FailWith1002EvenWithDeflate(_ bits: WebSocketFrame.ReservedBits) throws {
        let peer = try Peer(deflate: PerMessageDeflate())
        try peer.send(.text, Array("x".utf8), rsv: bits)
        try peer.expectFailure(.protocolError)
    }

    @Test func rsv1OnAContinuationFrameFailsWith1002() throws {
        let peer = try Peer(deflate: PerMessageDeflate())
        let compressed = try rawDeflate(Array(repeating: UInt8(ascii: "a"), count: 100))
        try peer.send(.text, Array(compressed.prefix(2)), fin: false, rsv: .rsv1)
        try peer.send(.continuation, Array(compressed.dropFirst(2)), rsv: .rsv1)
        try peer.expectFailure(.protocolError)
        #expect(try peer.messages().isEmpty)
    }

    @Test func rsv1OnAControlFrameFailsWith1002() throws {
        let peer = try Peer(deflate: PerMessageDeflate())
        try peer.send(.ping, [1], rsv: .rsv1)
        try peer.expectFailure(.protocolError)
    }

    @Test func anUncompressedMessageIsTakenAsIsWhenDeflateWasNegotiated() throws {
        let peer = try Peer(deflate: PerMessageDeflate())
        try peer.send(.text, Array("plain".utf8))
        #expect(try peer.messages() == [Received(.text, Array("plain".utf8))])
    }

    // MARK: UTF-8

    @Test func invalidUTF8FailsWith1007AtTheFirstBadFragment() throws {
        let peer = try Peer()
        try peer.send(.text, Array("ok ".utf8), fin: false)
        #expect(peer.events.isEmpty)
        // 0xC0 can never start a character: refused before the message is complete.
        try peer.send(.continuation, [0x61, 0xC0, 0x80], fin: false)
        try peer.expectFailure(.invalidPayload)
        #expect(try peer.messages().isEmpty)
    }

    @Test func aCharacterSplitBetweenFragmentsIsAccepted() throws {
        let peer = try Peer()
        // "€" is E2 82 AC.
        try peer.send(.text, [0x41, 0xE2, 0x82], fin: false)
        try peer.send(.continuation, [0xAC])
        #expect(try peer.messages() == [Received(.text, Array("A€".utf8))])
    }

    @Test func aTextMessageEndingInsideACharacterFailsWith1007() throws {
        let peer = try Peer()
        try peer.send(.text, [0x41, 0xE2, 0x82])
        try peer.expectFailure(.invalidPayload)
        #expect(try peer.messages().isEmpty)
    }

    @Test func binaryMessagesAreNotCheckedForUTF8() throws {
        let peer = try Peer()
        try peer.send(.binary, [0xC0, 0xFF])
        #expect(try peer.messages() == [Received(.binary, [0xC0, 0xFF])])
    }

    // MARK: Size limit

    @Test func aMessageAtTheLimitPassesAndOneByteMoreFailsWith1009() throws {
        let peer = try Peer(maxMessageBytes: 10)
        try peer.send(.binary, Array(repeating: 1, count: 10))
        #expect(try peer.messages().count == 1)
        try peer.send(.binary, Array(repeating: 1, count: 11))
        try peer.expectFailure(.messageTooBig)
        #expect(try peer.messages().isEmpty)
    }

    @Test func fragmentsAddingUpOverTheLimitFailWith1009() throws {
        let peer = try Peer(maxMessageBytes: 10)
        try peer.send(.text, Array("123456".utf8), fin: false)
        try peer.send(.continuation, Array("12345".utf8))
        try peer.expectFailure(.messageTooBig)
        #expect(try peer.messages().isEmpty)
    }

    @Test func theFrameBoundNarrowsWhileFragmentsArriveAndResetsAfter() throws {
        let peer = try Peer(maxMessageBytes: 1000)
        #expect(peer.bound.maxFrameSize == 1000)
        try peer.send(.binary, Array(repeating: 0, count: 400), fin: false)
        #expect(peer.bound.maxFrameSize == 600)
        // A control frame between fragments changes nothing.
        try peer.send(.ping, [])
        #expect(peer.bound.maxFrameSize == 600)
        try peer.send(.continuation, Array(repeating: 0, count: 500), fin: false)
        // Control frames (up to 125 bytes) must still fit.
        #expect(peer.bound.maxFrameSize == 125)
        try peer.send(.continuation, Array(repeating: 0, count: 100))
        #expect(peer.bound.maxFrameSize == 1000)
        #expect(try peer.messages().map(\.bytes.count) == [1000])
    }

    @Test func theFrameBoundResetsWhenTheConnectionFails() throws {
        let peer = try Peer(maxMessageBytes: 1000)
        try peer.send(.text, Array(repeating: 0x61, count: 900), fin: false)
        #expect(peer.bound.maxFrameSize == 125)
        try peer.send(.continuation, [0xFF])
        try peer.expectFailure(.invalidPayload)
        #expect(peer.bound.maxFrameSize == 1000)
    }

    // MARK: Close handshake

    @Test func aPeerCloseIsAnsweredWithTheSameCodeAndTheChannelCloses() throws {
        let peer = try Peer()
        try peer.send(.connectionClose, closePayload(1000, "bye"))
        let echo = try #require(try peer.outbound().first)
        #expect(echo.opcode == .connectionClose && echo.fin)
        #expect(Array(echo.data.readableBytesView) == [0x03, 0xE8])
        #expect(peer.events == [.peerClosed(1000)])
        #expect(!peer.channel.isActive)
    }

    @Test func anEmptyPeerCloseIsAnsweredWithAnEmptyClose() throws {
        let peer = try Peer()
        try peer.send(.connectionClose, [])
        let echo = try #require(try peer.outbound().first)
        #expect(echo.opcode == .connectionClose)
        #expect(echo.data.readableBytes == 0)
        #expect(peer.events == [.peerClosed(nil)])
        #expect(!peer.channel.isActive)
    }

    @Test func aPrivateUseCloseCodeIsEchoed() throws {
        let peer = try Peer()
        try peer.send(.connectionClose, closePayload(4321, ""))
        let echo = try #require(try peer.outbound().first)
        #expect(Array(echo.data.readableBytesView) == [0x10, 0xE1])
        #expect(peer.events == [.peerClosed(4321)])
    }

    @Test(arguments: [UInt16(0), 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000])
    func closeCodesAPeerMayNotSendFailWith1002(_ code: UInt16) throws {
        let peer = try Peer()
        try peer.send(.connectionClose, closePayload(code, ""))
        try peer.expectFailure(.protocolError)
    }

    @Test func aOneByteClosePayloadFailsWith1002() throws {
        let peer = try Peer()
        try peer.send(.connectionClose, [0x03])
        try peer.expectFailure(.protocolError)
    }

    @Test func aCloseReasonThatIsNotUTF8FailsWith1007() throws {
        let peer = try Peer()
        try peer.send(.connectionClose, [0x03, 0xE8, 0xCE, 0xBA, 0xE1, 0xBD])
        try peer.expectFailure(.invalidPayload)
    }

    @Test func afterOurCloseNothingElseIsWrittenAndInputIsDiscarded() throws {
        let peer = try Peer(heartbeat: .seconds(1))
        peer.handler.close(CloseReason(.normal, "bye"))
        // The first close wins: a second one writes nothing.
        peer.handler.close(CloseReason(.goingAway, "again"))
        let closes = try peer.outbound()
        #expect(closes.map(\.opcode) == [.connectionClose])
        var payload = try #require(closes.first).data
        #expect(payload.readInteger(as: UInt16.self) == 1000)
        #expect(payload.readString(length: payload.readableBytes) == "bye")
        // Neither pongs nor heartbeat pings follow a close frame.
        try peer.send(.ping, [1])
        peer.handler.sweep(at: SweepTime(now: .now() + .seconds(2), wallClock: 0))
        // Data is discarded while we wait for the peer's close.
        try peer.send(.text, Array("ignored".utf8))
        #expect(try peer.outbound().isEmpty)
        #expect(try peer.messages().isEmpty)
        #expect(peer.channel.isActive)
    }

    @Test func thePeersCloseAfterOursClosesTheChannelWithoutAnotherFrameOrEvent() throws {
        let peer = try Peer()
        peer.handler.close(CloseReason(.goingAway, ""))
        _ = try peer.outbound()
        try peer.send(.connectionClose, closePayload(1001, ""))
        // The answer to our close is not a close the client started.
        #expect(peer.events.isEmpty)
        #expect(try peer.outbound().isEmpty)
        #expect(!peer.channel.isActive)
    }

    @Test func theChannelClosesWhenThePeerDoesNotAnswerOurCloseInTime() throws {
        let peer = try Peer(closeTimeout: .seconds(5))
        let beforeClose = NIODeadline.now()
        peer.handler.close(CloseReason(.normal, ""))
        peer.handler.sweep(at: SweepTime(now: beforeClose + .seconds(5) - .nanoseconds(1), wallClock: 0))
        #expect(peer.channel.isActive)
        peer.handler.sweep(at: SweepTime(now: .now() + .seconds(5), wallClock: 0))
        #expect(!peer.channel.isActive)
    }

    @Test func theTCPInputClosingEndsTheConnection() throws {
        let peer = try Peer()
        peer.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(!peer.channel.isActive)
        #expect(try peer.outbound().isEmpty)
    }

    // MARK: Decoder errors

    @Test(arguments: [
        (NIOWebSocketError.invalidFrameLength, CloseCode.messageTooBig),
        (.fragmentedControlFrame, .protocolError),
        (.multiByteControlFrameLength, .protocolError),
    ])
    func frameDecoderErrorsFailWithTheirCloseCodes(_ error: NIOWebSocketError, _ code: CloseCode) throws {
        let peer = try Peer()
        peer.channel.pipeline.fireErrorCaught(error)
        try peer.expectFailure(code)
    }

    @Test func anIOErrorClosesTheChannelWithoutACloseFrame() throws {
        let peer = try Peer()
        peer.channel.pipeline.fireErrorCaught(ChannelError.ioOnClosedChannel)
        #expect(!peer.channel.isActive)
        #expect(try peer.outbound().isEmpty)
        #expect(peer.events.isEmpty)
    }

    // MARK: Heartbeat

    @Test func aPingGoesOutWhenTheHeartbeatIsDue() throws {
        let beforeAdded = NIODeadline.now()
        let peer = try Peer(heartbeat: .seconds(30))
        peer.handler.sweep(at: SweepTime(now: beforeAdded + .seconds(30) - .nanoseconds(1), wallClock: 0))
        #expect(try peer.outbound().isEmpty)
        peer.handler.sweep(at: SweepTime(now: .now() + .seconds(30), wallClock: 0))
        let ping = try #require(try peer.outbound().first)
        #expect(ping.opcode == .ping && ping.fin)
        #expect(ping.data.readableBytes == 0)
        #expect(peer.channel.isActive)
    }

    @Test func aPeerSilentForAWholeIntervalAfterAPingIsClosed() throws {
        let peer = try Peer(heartbeat: .seconds(30))
        let due = NIODeadline.now() + .seconds(30)
        peer.handler.sweep(at: SweepTime(now: due, wallClock: 0))
        #expect(try peer.outbound().map(\.opcode) == [.ping])
        // Half an interval later: not due yet.
        peer.handler.sweep(at: SweepTime(now: due + .seconds(15), wallClock: 0))
        #expect(peer.channel.isActive)
        peer.handler.sweep(at: SweepTime(now: due + .seconds(30), wallClock: 0))
        #expect(!peer.channel.isActive)
        #expect(try peer.outbound().isEmpty)
    }

    @Test func anyFrameFromThePeerCountsAsAnAnswerToThePing() throws {
        let peer = try Peer(heartbeat: .seconds(30))
        let due = NIODeadline.now() + .seconds(30)
        peer.handler.sweep(at: SweepTime(now: due, wallClock: 0))
        try peer.send(.text, Array("still here".utf8))
        peer.handler.sweep(at: SweepTime(now: due + .seconds(30), wallClock: 0))
        #expect(peer.channel.isActive)
        #expect(try peer.outbound().map(\.opcode) == [.ping, .ping])
    }

    @Test func noHeartbeatWithoutAnInterval() throws {
        let peer = try Peer(heartbeat: nil)
        peer.handler.sweep(at: SweepTime(now: .now() + .hours(1), wallClock: 0))
        peer.handler.sweep(at: SweepTime(now: .now() + .hours(2), wallClock: 0))
        #expect(try peer.outbound().isEmpty)
        #expect(peer.channel.isActive)
    }

    // MARK: permessage-deflate

    @Test func compressedMessagesRoundTrip() throws {
        let peer = try Peer(deflate: PerMessageDeflate())
        let text = Array(String(repeating: "compressible text ", count: 20).utf8)
        try peer.send(.text, try rawDeflate(text), rsv: .rsv1)
        #expect(try peer.messages() == [Received(.text, text)])

        // What the relay sends is compressed (RSV1) and inflates back.
        let reply = ByteBuffer(bytes: text)
        try peer.channel.writeOutbound(WebSocketFrame(fin: true, opcode: .text, data: reply))
        let frame = try #require(try peer.outbound().first)
        #expect(frame.rsv1 && frame.fin && frame.opcode == .text)
        #expect(frame.data.readableBytes < text.count)
        #expect(Array(frame.data.readableBytesView.suffix(4)) != [0x00, 0x00, 0xFF, 0xFF])
        #expect(try rawInflate(frame.data) == text)
    }

    @Test func shortOutboundMessagesAreSentUncompressed() throws {
        let peer = try Peer(deflate: PerMessageDeflate())
        let short = Array(repeating: UInt8(ascii: "s"), count: MessageDeflater.minimumSize - 1)
        try peer.channel.writeOutbound(WebSocketFrame(fin: true, opcode: .binary, data: ByteBuffer(bytes: short)))
        let frame = try #require(try peer.outbound().first)
        #expect(!frame.rsv1)
        #expect(Array(frame.data.readableBytesView) == short)
    }

    @Test func outboundMessagesAreNotCompressedWithoutDeflate() throws {
        let peer = try Peer()
        let long = Array(repeating: UInt8(ascii: "l"), count: 1000)
        try peer.channel.writeOutbound(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(bytes: long)))
        let frame = try #require(try peer.outbound().first)
        #expect(!frame.rsv1)
        #expect(frame.data.readableBytes == 1000)
    }

    @Test func aCompressedMessageSplitOverFragmentsIsInflatedWhole() throws {
        let peer = try Peer(deflate: PerMessageDeflate())
        let text = Array((0..<300).map { "line \($0)\n" }.joined().utf8)
        let compressed = try rawDeflate(text)
        let half = compressed.count / 2
        try peer.send(.text, Array(compressed[..<half]), fin: false, rsv: .rsv1)
        try peer.send(.continuation, Array(compressed[half...]))
        #expect(try peer.messages() == [Received(.text, text)])
    }

    @Test func compressedMessagesShareTheWindowWithoutClientNoContextTakeover() throws {
        // clientNoContextTakeover is off: the second message refers back to the first.
        let peer = try Peer(deflate: PerMessageDeflate())
        let client = try ClientDeflater()
        let text = Array(String(repeating: "shared window ", count: 10).utf8)
        try peer.send(.text, try client.deflate(text), rsv: .rsv1)
        let second = try client.deflate(text)
        try peer.send(.text, second, rsv: .rsv1)
        #expect(try peer.messages() == [Received(.text, text), Received(.text, text)])
        #expect(second.count < text.count / 4)
    }

    @Test func aDecompressionBombStopsAtTheLimitWith1009() throws {
        let peer = try Peer(maxMessageBytes: 1000, deflate: PerMessageDeflate())
        let bomb = try rawDeflate(Array(repeating: 0, count: 1 << 20))
        #expect(bomb.count < 2000)
        try peer.send(.binary, bomb, rsv: .rsv1)
        try peer.expectFailure(.messageTooBig)
        #expect(try peer.messages().isEmpty)
    }

    @Test func aCompressedMessageAtTheLimitPasses() throws {
        let peer = try Peer(maxMessageBytes: 1000, deflate: PerMessageDeflate())
        try peer.send(.binary, try rawDeflate(Array(repeating: 7, count: 1000)), rsv: .rsv1)
        #expect(try peer.messages().map(\.bytes.count) == [1000])
    }

    @Test func compressedFragmentsOverTheLimitFailWith1009() throws {
        let peer = try Peer(maxMessageBytes: 1000, deflate: PerMessageDeflate())
        let client = try ClientDeflater()
        try peer.send(.binary, try client.flush(Array(repeating: 1, count: 600)), fin: false, rsv: .rsv1)
        try peer.send(.continuation, try client.flush(Array(repeating: 2, count: 600)))
        try peer.expectFailure(.messageTooBig)
        #expect(try peer.messages().isEmpty)
    }

    @Test func corruptCompressedDataFailsWith1007() throws {
        let peer = try Peer(deflate: PerMessageDeflate())
        // BTYPE 11 is reserved in DEFLATE.
        try peer.send(.binary, [0xFF, 0xFF, 0xFF, 0xFF], rsv: .rsv1)
        try peer.expectFailure(.invalidPayload)
    }

    @Test func compressedTextThatInflatesToInvalidUTF8FailsWith1007() throws {
        let peer = try Peer(deflate: PerMessageDeflate())
        try peer.send(.text, try rawDeflate([0x61, 0xFF, 0x62]), rsv: .rsv1)
        try peer.expectFailure(.invalidPayload)
    }
}

// MARK: - Harness

/// A user event of the handler, comparable.
private enum Recorded: Equatable {
    case peerClosed(UInt16?)
    case failed(CloseCode)
}

/// A message the handler handed on.
private struct Received: Equatable {
    let kind: RelayMessage.Kind
    let bytes: [UInt8]
    init(_ kind: RelayMessage.Kind, _ bytes: [UInt8]) {
        self.kind = kind
        self.bytes = bytes
    }
}

/// Records the handler's user events and passes messages on to the channel's inbound buffer.
private final class EventRecorder: ChannelInboundHandler {
    typealias InboundIn = WebSocketMessage
    var events: [Recorded] = []

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event as? WebSocketProtocolHandler.Event {
        case .peerClosed(let code)?: self.events.append(.peerClosed(code))
        case .failed(let reason)?: self.events.append(.failed(reason.code))
        case nil: break
        }
        context.fireUserInboundEventTriggered(event)
    }
}

/// The handler on an active embedded channel, with a client's view of it.
private struct Peer {
    static let maskKey: WebSocketMaskingKey = [0x12, 0x34, 0x56, 0x78]

    let channel = EmbeddedChannel()
    let handler: WebSocketProtocolHandler
    let bound: FrameBound
    private let recorder = EventRecorder()

    init(maxMessageBytes: Int = 1 << 16, deflate: PerMessageDeflate? = nil, heartbeat: TimeAmount? = nil, closeTimeout: TimeAmount = .seconds(5)) throws {
        self.bound = FrameBound(messageStart: maxMessageBytes)
        self.handler = WebSocketProtocolHandler(
            configuration: .init(maxMessageBytes: maxMessageBytes, deflate: deflate, heartbeatInterval: heartbeat, closeTimeout: closeTimeout),
            frameBound: self.bound,
            loop: nil
        )
        try self.channel.pipeline.syncOperations.addHandler(self.handler)
        // As in a connection's pipeline: what the relay sends passes the compressor only.
        if let deflate { try self.channel.pipeline.syncOperations.addHandler(MessageCompressor(parameters: deflate)) }
        try self.channel.pipeline.syncOperations.addHandler(self.recorder)
        try self.channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
    }

    var events: [Recorded] { self.recorder.events }

    /// Sends one client frame (masked unless `masked` is false).
    func send(_ opcode: WebSocketOpcode, _ payload: [UInt8], fin: Bool = true, rsv: WebSocketFrame.ReservedBits = [], masked: Bool = true) throws {
        var data = ByteBuffer(bytes: payload)
        if masked { data.webSocketMask(Self.maskKey) }
        let frame = WebSocketFrame(
            fin: fin,
            rsv1: rsv.contains(.rsv1),
            rsv2: rsv.contains(.rsv2),
            rsv3: rsv.contains(.rsv3),
            opcode: opcode, maskKey: masked ? Self.maskKey : nil, data: data)
        try self.channel.writeInbound(frame)
    }

    /// The messages handed on so far.
    func messages() throws -> [Received] {
        var messages: [Received] = []
        while let message = try self.channel.readInbound(as: WebSocketMessage.self) {
            messages.append(Received(message.kind, Array(message.data.readableBytesView)))
        }
        return messages
    }

    /// The frames written so far.
    func outbound() throws -> [WebSocketFrame] {
        var frames: [WebSocketFrame] = []
        while let frame = try self.channel.readOutbound(as: WebSocketFrame.self) { frames.append(frame) }
        return frames
    }

    /// The connection failed with `code`: one close frame carrying it, the `failed` event, and
    /// the output shut (which closes an embedded channel).
    func expectFailure(_ code: CloseCode, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let frames = try self.outbound()
        #expect(frames.map(\.opcode) == [.connectionClose], sourceLocation: sourceLocation)
        if let close = frames.first {
            var payload = close.data
            #expect(close.fin, sourceLocation: sourceLocation)
            #expect(close.maskKey == nil, sourceLocation: sourceLocation)
            #expect(payload.readInteger(as: UInt16.self) == code.rawValue, sourceLocation: sourceLocation)
        }
        #expect(self.events == [.failed(code)], sourceLocation: sourceLocation)
        #expect(!self.channel.isActive, sourceLocation: sourceLocation)
    }
}

/// A close frame's payload.
private func closePayload(_ code: UInt16, _ reason: String) -> [UInt8] {
    [UInt8(code >> 8), UInt8(code & 0xFF)] + Array(reason.utf8)
}

/// One message compressed as a permessage-deflate client does: raw deflate, sync flush, the
/// trailing `00 00 FF FF` removed.
private func rawDeflate(_ bytes: [UInt8]) throws -> [UInt8] {
    try ClientDeflater().deflate(bytes)
}

/// A client's compressor, keeping its window across messages.
private final class ClientDeflater {
    private let compressor: ZlibCompressor

    init() throws {
        self.compressor = try ZlibCompressor(algorithm: .deflate)
    }

    /// A whole message, without its trailing `00 00 FF FF`.
    func deflate(_ bytes: [UInt8]) throws -> [UInt8] {
        var output = try self.flush(bytes)
        #expect(Array(output.suffix(4)) == [0x00, 0x00, 0xFF, 0xFF])
        output.removeLast(4)
        return output
    }

    /// Sync-flushed output, tail included (a fragment that does not end the message).
    func flush(_ bytes: [UInt8]) throws -> [UInt8] {
        var input = ByteBuffer(bytes: bytes)
        var output = ByteBufferAllocator().buffer(capacity: self.compressor.maxSize(from: input))
        try self.compressor.deflate(from: &input, to: &output, flush: .sync)
        return Array(output.readableBytesView)
    }
}

/// Inflates a server message (its tail put back).
private func rawInflate(_ data: ByteBuffer) throws -> [UInt8] {
    let decompressor = try ZlibDecompressor(algorithm: .deflate)
    var input = data
    input.writeBytes([0x00, 0x00, 0xFF, 0xFF])
    var output = ByteBufferAllocator().buffer(capacity: 1 << 16)
    do {
        try decompressor.inflate(from: &input, to: &output)
    } catch let error as CompressNIOError where error == .inputBufferOverflow {
        // Everything was consumed.
    }
    return Array(output.readableBytesView)
}
