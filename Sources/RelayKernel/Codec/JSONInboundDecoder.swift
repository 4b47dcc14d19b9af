import NIOCore

/// The `json` codec's reading side: a frame becomes a typed message or the error the protocol names.
enum JSONInboundDecoder {
    enum Result {
        case message(type: String, body: [String: JSONValue], payload: ByteBuffer?)
        case error(RelayError, ref: String?)
    }

    static func decode(_ kind: RelayMessage.Kind, _ buffer: ByteBuffer) -> Result {
        switch kind {
        case .text:
            return Self.decodeObject(buffer.readableBytesView, payload: nil)
        case .binary:
            var reader = buffer
            guard let length = reader.readInteger(as: UInt32.self), Int(length) <= reader.readableBytes,
                let header = reader.readSlice(length: Int(length))
            else {
                return .error(RelayError(.invalidMessage, "binary frames start with a 4-byte header length and a JSON header"), ref: nil)
            }
            return Self.decodeObject(header.readableBytesView, payload: reader)
        }
    }

    private static func decodeObject(_ bytes: ByteBufferView, payload: ByteBuffer?) -> Result {
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes)
        } catch {
            return .error(RelayError(.badJSON, "not JSON: \(error.reason) at byte \(error.offset)"), ref: nil)
        }
        guard case .object(let body) = value else { return .error(RelayError(.invalidMessage, "a message is a JSON object"), ref: nil) }
        guard let type = body["type"]?.stringValue, !type.isEmpty else {
            return .error(RelayError(.invalidMessage, "a message needs a string 'type'"), ref: nil)
        }
        return .message(type: type, body: body, payload: payload)
    }
}
