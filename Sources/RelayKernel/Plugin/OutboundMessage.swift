public import NIOCore
import Synchronization

/// A message ready to send: encoded once per wire form (`json`, Socket.IO per namespace) and
/// shared by every recipient of that form without copying.
public struct OutboundMessage: Sendable {
    /// What the message is made of; every wire form is derived from it by splicing bytes.
    enum Content: Sendable {
        /// A JSON object text that includes `"type"` (the `json` codec's form).
        case object(ByteBuffer)
        /// An event with raw JSON arguments and binary attachments (what Socket.IO clients send).
        case event(arguments: [ByteBuffer], attachments: [ByteBuffer])
        /// The answer to a Socket.IO acknowledgement request.
        case ack(id: Int, arguments: [ByteBuffer], attachments: [ByteBuffer])
        /// A binary frame: header length, JSON header, payload.
        case binary(ByteBuffer)
        /// A protocol frame sent as is on one connection (Engine.IO packets).
        case raw(ByteBuffer)
    }

    /// Everything about the message in one shared object, so that a copy (one per recipient's
    /// queue and replay log) is one reference.
    let forms: WireForms

    init(type: String, content: Content) {
        self.forms = WireForms(type: type, content: content)
    }

    /// The message type.
    public var type: String { self.forms.type }

    var content: Content { self.forms.content }

    /// Bytes counted against queue bounds.
    var size: Int { self.forms.size }

    /// Wraps an already encoded JSON object text (with `"type"`) or a binary frame.
    public init(kind: RelayMessage.Kind, bytes: ByteBuffer, type: String) {
        self.init(type: type, content: kind == .text ? .object(bytes) : .binary(bytes))
    }

    /// The received message, forwarded byte for byte to clients of the same codec.
    public init(forwarding message: RelayMessage) {
        switch message.kind {
        case .binary:
            self.init(type: message.type, content: .binary(message.raw))
        case .text where message.isEvent:
            self.init(type: message.type, content: .event(arguments: message.arguments, attachments: message.attachments))
        case .text:
            self.init(type: message.type, content: .object(message.raw))
        }
    }

    /// Text or binary, in the `json` codec's form.
    public var kind: RelayMessage.Kind {
        if case .binary = self.content { return .binary }
        return .text
    }

    /// The bytes of the `json` codec's form.
    public var bytes: ByteBuffer { self.forms.json(of: self) }


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
        return OutboundMessage(type: type, content: .object(buffer))
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
        return OutboundMessage(type: type, content: .object(buffer))
    }

    /// An event with several arguments (raw JSON texts) and binary attachments.
    ///
    /// Socket.IO clients get `type` as the event name with every argument and attachment; `json`
    /// clients get `{"type":…, …fields of the first argument}` when it is the only argument and
    /// an object, else `{"type":…,"args":[…]}` (attachments are not part of the `json` form).
    public static func event(type: String, arguments: [ByteBuffer], attachments: [ByteBuffer] = []) -> OutboundMessage {
        OutboundMessage(type: type, content: .event(arguments: arguments, attachments: attachments))
    }

    /// An event whose arguments are JSON values (encoded once).
    public static func event(type: String, values: [JSONValue]) -> OutboundMessage {
        .event(type: type, arguments: values.map(\.encoded))
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
        return OutboundMessage(type: header["type"]?.stringValue ?? "binary", content: .binary(buffer))
    }

    /// A protocol frame sent as is.
    static func raw(_ text: String) -> OutboundMessage {
        OutboundMessage(type: "raw", content: .raw(ByteBuffer(string: text)))
    }

    /// The kernel's error message (fields in key order: `code`, `message`, `ref`, `retryAfter`).
    static func error(_ error: RelayError, ref: String?) -> OutboundMessage {
        var fields: [String: JSONValue] = ["code": .string(error.code.rawValue), "message": .string(error.message)]
        if let ref { fields["ref"] = .string(ref) }
        if let retry = error.retryAfterSeconds { fields["retryAfter"] = .int(retry) }
        return .json(type: "error", fields: fields)
    }
}

extension JSONValue {
    /// The compact JSON text of this value in a buffer.
    var encoded: ByteBuffer {
        var buffer = ByteBuffer()
        self.write(into: &buffer)
        return buffer
    }
}
