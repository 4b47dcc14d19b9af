public import NIOCore

/// A message ready to send: encoded once, shared by every recipient without copying.
public struct OutboundMessage: Sendable {
    /// Text or binary frame.
    public let kind: RelayMessage.Kind
    /// The frame's bytes.
    public let bytes: ByteBuffer
    /// The message type (for metrics and drop reports).
    public let type: String

    /// Wraps already encoded bytes.
    public init(kind: RelayMessage.Kind, bytes: ByteBuffer, type: String) {
        self.kind = kind
        self.bytes = bytes
        self.type = type
    }

    /// The received message, forwarded byte for byte.
    public init(forwarding message: RelayMessage) {
        self.init(kind: message.kind, bytes: message.raw, type: message.type)
    }

    /// A JSON text message `{"type":…, fields…}` with the fields in the order given.
    public static func json(type: String, _ fields: KeyValuePairs<String, JSONValue> = [:]) -> OutboundMessage {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(64)
        buffer.writeStaticString("{\"type\":")
        JSONValue.writeString(type, into: &buffer)
        for (key, value) in fields {
            buffer.writeInteger(UInt8(ascii: ","))
            JSONValue.writeString(key, into: &buffer)
            buffer.writeInteger(UInt8(ascii: ":"))
            value.write(into: &buffer)
        }
        buffer.writeInteger(UInt8(ascii: "}"))
        return OutboundMessage(kind: .text, bytes: buffer, type: type)
    }

    /// A JSON text message `{"type":…, fields…}` from a dictionary (keys sorted after `type`).
    public static func json(type: String, fields: [String: JSONValue]) -> OutboundMessage {
        var buffer = ByteBuffer()
        buffer.writeStaticString("{\"type\":")
        JSONValue.writeString(type, into: &buffer)
        for key in fields.keys.sorted() where key != "type" {
            buffer.writeInteger(UInt8(ascii: ","))
            JSONValue.writeString(key, into: &buffer)
            buffer.writeInteger(UInt8(ascii: ":"))
            fields[key]!.write(into: &buffer)
        }
        buffer.writeInteger(UInt8(ascii: "}"))
        return OutboundMessage(kind: .text, bytes: buffer, type: type)
    }

    /// A binary message: big-endian header length, the JSON header, then `payload`.
    public static func binary(header: JSONValue, payload: ByteBuffer) -> OutboundMessage {
        var headerBuffer = ByteBuffer()
        header.write(into: &headerBuffer)
        var buffer = ByteBuffer()
        buffer.reserveCapacity(4 + headerBuffer.readableBytes + payload.readableBytes)
        buffer.writeInteger(UInt32(headerBuffer.readableBytes))
        buffer.writeImmutableBuffer(headerBuffer)
        buffer.writeImmutableBuffer(payload)
        return OutboundMessage(kind: .binary, bytes: buffer, type: header["type"]?.stringValue ?? "binary")
    }

    /// The kernel's error message.
    static func error(_ error: RelayError, ref: String?) -> OutboundMessage {
        if let ref {
            return .json(type: "error", ["code": .string(error.code.rawValue), "message": .string(error.message), "ref": .string(ref)])
        }
        return .json(type: "error", ["code": .string(error.code.rawValue), "message": .string(error.message)])
    }
}
