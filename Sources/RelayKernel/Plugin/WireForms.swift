import NIOCore
import Synchronization

/// One ``OutboundMessage``: its type and content, and its wire forms, each built once on first
/// use and then shared by every recipient that speaks it.
final class WireForms: Sendable {
    /// One WebSocket frame of a form.
    struct Frame: Sendable {
        let isText: Bool
        let bytes: ByteBuffer
    }

    /// The message type.
    let type: String
    /// What the message is made of.
    let content: OutboundMessage.Content
    /// Bytes counted against queue bounds.
    let size: Int
    private let cache = Mutex<(json: ByteBuffer?, socketIO: [String: [Frame]])>((nil, [:]))

    init(type: String, content: OutboundMessage.Content) {
        self.type = type
        self.content = content
        switch content {
        case .object(let buffer), .binary(let buffer), .raw(let buffer):
            self.size = buffer.readableBytes
        case .event(let arguments, let attachments), .ack(_, let arguments, let attachments):
            self.size = arguments.reduce(type.utf8.count + 16) { $0 + $1.readableBytes + 1 } + attachments.reduce(0) { $0 + $1.readableBytes }
        }
    }

    /// The `json` codec's form.
    func json(of message: OutboundMessage) -> ByteBuffer {
        switch message.content {
        case .object(let buffer), .binary(let buffer), .raw(let buffer):
            return buffer
        case .event, .ack:
            if let cached = self.cache.withLock({ $0.json }) { return cached }
            let built = Self.buildJSON(message)
            self.cache.withLock { $0.json = built }
            return built
        }
    }

    /// The frames a Socket.IO client in `namespace` receives.
    func socketIO(of message: OutboundMessage, namespace: String) -> [Frame] {
        if case .raw(let buffer) = message.content { return [Frame(isText: true, bytes: buffer)] }
        if let cached = self.cache.withLock({ $0.socketIO[namespace] }) { return cached }
        let built = SocketIOPacket.frames(of: message, namespace: namespace)
        self.cache.withLock { $0.socketIO[namespace] = built }
        return built
    }

    private static func buildJSON(_ message: OutboundMessage) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeStaticString("{\"type\":")
        JSONValue.writeString(message.type, into: &buffer)
        switch message.content {
        case .event(let arguments, _):
            if arguments.count == 1, var object = arguments.first, Self.isObject(object) {
                Self.trimLeadingWhitespace(&object)
                object.moveReaderIndex(forwardBy: 1)
                Self.trimLeadingWhitespace(&object)
                if object.readableBytesView.first != UInt8(ascii: "}") { buffer.writeInteger(UInt8(ascii: ",")) }
                buffer.writeBuffer(&object)
                return buffer
            }
            Self.writeArguments(arguments, into: &buffer)
        case .ack(let id, let arguments, _):
            buffer.writeString(",\"id\":\(id)")
            Self.writeArguments(arguments, into: &buffer)
        case .object, .binary, .raw:
            break
        }
        buffer.writeInteger(UInt8(ascii: "}"))
        return buffer
    }

    private static func writeArguments(_ arguments: [ByteBuffer], into buffer: inout ByteBuffer) {
        buffer.writeStaticString(",\"args\":[")
        for (index, argument) in arguments.enumerated() {
            if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            buffer.writeImmutableBuffer(argument)
        }
        buffer.writeInteger(UInt8(ascii: "]"))
    }

    static func isObject(_ buffer: ByteBuffer) -> Bool {
        buffer.readableBytesView.first(where: { !Self.isWhitespace($0) }) == UInt8(ascii: "{")
    }

    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    static func trimLeadingWhitespace(_ buffer: inout ByteBuffer) {
        while let byte = buffer.readableBytesView.first, Self.isWhitespace(byte) { buffer.moveReaderIndex(forwardBy: 1) }
    }
}
