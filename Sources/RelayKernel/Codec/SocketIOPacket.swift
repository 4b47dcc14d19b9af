import NIOCore

/// Engine.IO v4 / Socket.IO v5 packets over the WebSocket transport: parsing what clients send
/// and building what they receive.
struct SocketIOPacket: Equatable {
    /// Socket.IO packet types.
    enum Kind: UInt8 {
        case connect = 0
        case disconnect = 1
        case event = 2
        case ack = 3
        case connectError = 4
        case binaryEvent = 5
        case binaryAck = 6
    }

    /// What one text frame from a client is.
    enum Inbound: Equatable {
        case close
        case ping(String)
        case pong(String)
        case upgrade
        case noop
        case message(SocketIOPacket)
    }

    /// A packet that breaks the protocol; the connection is closed.
    struct Malformed: Error, Equatable {
        let reason: String
    }

    var kind: Kind
    var namespace: String
    var attachments: Int
    var id: Int?
    var payload: ByteBuffer?

    // MARK: Parsing

    static func parse(_ buffer: ByteBuffer) throws(Malformed) -> Inbound {
        var reader = buffer
        guard let engineType = reader.readInteger(as: UInt8.self) else { throw Malformed(reason: "empty packet") }
        let rest = String(buffer: reader)
        switch engineType {
        case UInt8(ascii: "1"): return .close
        case UInt8(ascii: "2"): return .ping(rest)
        case UInt8(ascii: "3"): return .pong(rest)
        case UInt8(ascii: "5"): return .upgrade
        case UInt8(ascii: "6"): return .noop
        case UInt8(ascii: "4"): return .message(try Self.parseSocketIO(reader))
        default: throw Malformed(reason: "unknown Engine.IO packet type")
        }
    }

    private static func parseSocketIO(_ buffer: ByteBuffer) throws(Malformed) -> SocketIOPacket {
        let bytes = Array(buffer.readableBytesView)
        var index = 0
        guard index < bytes.count, let kind = Kind(rawValue: bytes[index] &- UInt8(ascii: "0")) else {
            throw Malformed(reason: "unknown Socket.IO packet type")
        }
        index += 1
        var attachments = 0
        if kind == .binaryEvent || kind == .binaryAck {
            let start = index
            while index < bytes.count, Self.isDigit(bytes[index]) { index += 1 }
            guard index > start, index < bytes.count, bytes[index] == UInt8(ascii: "-"),
                let count = Int(String(decoding: bytes[start..<index], as: UTF8.self)), count <= 64
            else { throw Malformed(reason: "invalid attachment count") }
            attachments = count
            index += 1
        }
        var namespace = "/"
        if index < bytes.count, bytes[index] == UInt8(ascii: "/") {
            let start = index
            while index < bytes.count, bytes[index] != UInt8(ascii: ",") { index += 1 }
            namespace = String(decoding: bytes[start..<index], as: UTF8.self)
            if index < bytes.count { index += 1 }
        }
        var id: Int?
        let idStart = index
        while index < bytes.count, Self.isDigit(bytes[index]) { index += 1 }
        if index > idStart {
            guard let value = Int(String(decoding: bytes[idStart..<index], as: UTF8.self)) else { throw Malformed(reason: "invalid ack id") }
            id = value
        }
        let payload = index < bytes.count ? buffer.getSlice(at: buffer.readerIndex + index, length: bytes.count - index) : nil
        let packet = SocketIOPacket(kind: kind, namespace: namespace, attachments: attachments, id: id, payload: payload)
        try packet.validate()
        return packet
    }

    private func validate() throws(Malformed) {
        let value: JSONValue?
        if let payload = self.payload {
            guard let parsed = try? JSONParser.parse(payload.readableBytesView) else { throw Malformed(reason: "payload is not JSON") }
            value = parsed
        } else {
            value = nil
        }
        switch self.kind {
        case .connect:
            guard value == nil || value?.objectValue != nil else { throw Malformed(reason: "connect payload must be an object") }
        case .event, .binaryEvent:
            guard let elements = value?.arrayValue, elements.first?.stringValue != nil else {
                throw Malformed(reason: "event payload must be an array starting with the event name")
            }
        case .ack, .binaryAck:
            guard self.id != nil, value?.arrayValue != nil else { throw Malformed(reason: "ack needs an id and an array") }
        case .disconnect:
            break
        case .connectError:
            throw Malformed(reason: "clients do not send CONNECT_ERROR")
        }
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    // MARK: Building

    /// `<nsp>,` for a namespace other than `/`.
    static func namespacePrefix(_ namespace: String) -> String {
        namespace == "/" ? "" : namespace + ","
    }

    /// `{"message":…}` as a JSON text (CONNECT_ERROR's payload).
    static func errorPayload(_ message: String) -> String {
        JSONValue.object(["message": .string(message)]).jsonText
    }

    /// A text packet `4<type><nsp,><payload>` (the Engine.IO message wrapper included).
    static func text(_ kind: Kind, namespace: String, payload: String) -> OutboundMessage {
        .raw("4\(kind.rawValue)\(Self.namespacePrefix(namespace))\(payload)")
    }

    /// The CONNECT answer for `session`: its `sid`, and with connection-state recovery its `pid`
    /// (the session's resume token, the same for as long as the session lives).
    static func connected(_ session: ClientSession, namespace: String, recovery: Bool) -> OutboundMessage {
        var payload = "{\"sid\":" + JSONValue.string(session.id.rawValue).jsonText
        if recovery { payload += ",\"pid\":" + JSONValue.string(session.resumeToken).jsonText }
        return Self.text(.connect, namespace: namespace, payload: payload + "}")
    }

    /// `packet` with `offset` as its last argument, as connection-state recovery numbers the
    /// events a client receives (`42["type",…,"17"]`); `nil` for a packet that is not an EVENT or
    /// BINARY_EVENT. A copy of the bytes, no JSON work.
    static func withOffset(_ packet: ByteBuffer, _ offset: Int) -> ByteBuffer? {
        let view = packet.readableBytesView
        guard view.count >= 4, view.first == UInt8(ascii: "4"), view.last == UInt8(ascii: "]") else { return nil }
        let kind = view[view.startIndex + 1]
        guard kind == UInt8(ascii: "2") || kind == UInt8(ascii: "5") else { return nil }
        let suffix = ",\"\(offset)\"]"
        var copy = ByteBuffer()
        copy.reserveCapacity(view.count + suffix.utf8.count)
        copy.writeBytes(view.dropLast())
        copy.writeString(suffix)
        return copy
    }

    /// The frames a client in `namespace` receives for `message`.
    static func frames(of message: OutboundMessage, namespace: String) -> [WireForms.Frame] {
        let prefix = Self.namespacePrefix(namespace)
        switch message.content {
        case .object(let object):
            return [Self.eventFrame(prefix: prefix, type: message.type, arguments: [object], attachments: 0, id: nil)]
        case .event(let arguments, let attachments):
            return [Self.eventFrame(prefix: prefix, type: message.type, arguments: arguments, attachments: attachments.count, id: nil)]
                + attachments.map { WireForms.Frame(isText: false, bytes: $0) }
        case .ack(let id, let arguments, let attachments):
            return [Self.eventFrame(prefix: prefix, type: nil, arguments: arguments, attachments: attachments.count, id: id)]
                + attachments.map { WireForms.Frame(isText: false, bytes: $0) }
        case .binary(let frame):
            var reader = frame
            guard let length = reader.readInteger(as: UInt32.self), let header = reader.readSlice(length: Int(length)) else { return [] }
            let placeholder = ByteBuffer(string: "{\"_placeholder\":true,\"num\":0}")
            return [
                Self.eventFrame(prefix: prefix, type: message.type, arguments: [header, placeholder], attachments: 1, id: nil),
                WireForms.Frame(isText: false, bytes: reader),
            ]
        case .raw(let buffer):
            return [WireForms.Frame(isText: true, bytes: buffer)]
        }
    }

    private static func eventFrame(prefix: String, type: String?, arguments: [ByteBuffer], attachments: Int, id: Int?) -> WireForms.Frame {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt8(ascii: "4"))
        let kind: Kind = type == nil ? (attachments > 0 ? .binaryAck : .ack) : (attachments > 0 ? .binaryEvent : .event)
        buffer.writeString(String(kind.rawValue))
        if attachments > 0 { buffer.writeString("\(attachments)-") }
        buffer.writeString(prefix)
        if let id { buffer.writeString(String(id)) }
        buffer.writeInteger(UInt8(ascii: "["))
        var first = true
        if let type {
            JSONValue.writeString(type, into: &buffer)
            first = false
        }
        for argument in arguments {
            if !first { buffer.writeInteger(UInt8(ascii: ",")) }
            first = false
            buffer.writeImmutableBuffer(argument)
        }
        buffer.writeInteger(UInt8(ascii: "]"))
        return WireForms.Frame(isText: true, bytes: buffer)
    }
}
