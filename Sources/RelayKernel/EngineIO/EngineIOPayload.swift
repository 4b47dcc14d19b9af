import ExtrasBase64
import NIOCore
import NIOWebSocket

/// The body of an Engine.IO v4 long-polling request or response: packets joined by the record
/// separator (0x1E); a binary packet is `b` followed by its base64.
enum EngineIOPayload {
    static let separator = UInt8(0x1E)

    /// Why a body is not a payload.
    enum Malformed: Error, Equatable {
        case emptyPacket
        case badBase64
        case notUTF8
    }

    /// The packets of a POST body, as the messages a WebSocket would have carried.
    static func decode(_ body: ByteBuffer) throws(Malformed) -> [WebSocketMessage] {
        var validator = UTF8Validator()
        let valid = body.withUnsafeReadableBytes { validator.feed($0) }
        guard valid, validator.isComplete else { throw .notUTF8 }
        var messages: [WebSocketMessage] = []
        var rest = body
        while true {
            let length = rest.readableBytesView.firstIndex(of: Self.separator).map { $0 - rest.readerIndex } ?? rest.readableBytes
            guard length > 0, var packet = rest.readSlice(length: length) else { throw .emptyPacket }
            if packet.getInteger(at: packet.readerIndex, as: UInt8.self) == UInt8(ascii: "b") {
                packet.moveReaderIndex(forwardBy: 1)
                guard let bytes = try? Base64.decode(bytes: packet.readableBytesView) else { throw .badBase64 }
                messages.append(WebSocketMessage(kind: .binary, data: ByteBuffer(bytes: bytes)))
            } else {
                messages.append(WebSocketMessage(kind: .text, data: packet))
            }
            guard rest.readInteger(as: UInt8.self) != nil else { return messages }
        }
    }

    /// Appends `frame` to a response body (a separator first unless the body is empty).
    static func append(_ frame: WebSocketFrame, to body: inout ByteBuffer) {
        if body.readableBytes > 0 { body.writeInteger(Self.separator) }
        if frame.opcode == .binary {
            body.writeInteger(UInt8(ascii: "b"))
            body.writeBytes(Base64.encodeToBytes(bytes: frame.data.readableBytesView))
        } else {
            body.writeImmutableBuffer(frame.data)
        }
    }

    /// How many bytes `frame` takes in a response body.
    static func encodedSize(of frame: WebSocketFrame) -> Int {
        1 + (frame.opcode == .binary ? 1 + Base64.encodedLength(bytesCount: frame.data.readableBytes) : frame.data.readableBytes)
    }
}
