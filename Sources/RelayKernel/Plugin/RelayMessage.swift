public import NIOCore

/// A message routed to a plugin: its type, its parsed body and the exact bytes that arrived.
public struct RelayMessage: Sendable {
    /// The frame kind it arrived as.
    public enum Kind: Sendable, Equatable {
        /// A text frame holding one JSON object.
        case text
        /// A binary frame: header length, JSON header, payload.
        case binary
    }

    /// The message type.
    public let type: String
    /// The parsed JSON object (for binary frames: the header).
    public let body: [String: JSONValue]
    /// The whole frame as received; forward it to relay the message unchanged.
    public let raw: ByteBuffer
    /// Text or binary.
    public let kind: Kind
    /// For binary frames, the payload after the header.
    public let payload: ByteBuffer?
    /// The sender.
    public let sender: ClientInfo
    /// Every argument as the JSON text that arrived (Socket.IO events may carry several; a
    /// `json` message has one: the whole object).
    public let arguments: [ByteBuffer]
    /// Binary attachments (Socket.IO binary events).
    public let attachments: [ByteBuffer]
    /// The acknowledgement id when the sender asked for one (Socket.IO); answer with
    /// ``PluginContext/acknowledge(_:arguments:attachments:)`` or ``PluginContext/respond(to:with:)``.
    public let ackID: Int?
    /// Whether the message arrived as an event with arguments (Socket.IO) rather than one object.
    let isEvent: Bool

    /// Creates a message (kernel and test harnesses).
    public init(
        type: String,
        body: [String: JSONValue],
        raw: ByteBuffer,
        kind: Kind,
        payload: ByteBuffer? = nil,
        sender: ClientInfo,
        arguments: [ByteBuffer]? = nil,
        attachments: [ByteBuffer] = [],
        ackID: Int? = nil
    ) {
        self.type = type
        self.body = body
        self.raw = raw
        self.kind = kind
        self.payload = payload
        self.sender = sender
        self.isEvent = arguments != nil
        self.arguments = arguments ?? [raw]
        self.attachments = attachments
        self.ackID = ackID
    }

    /// The body member `field`, or `nil`.
    public subscript(field: String) -> JSONValue? { self.body[field] }

    /// The string member `field`; throws `invalid_message` when missing or not a string.
    public func string(_ field: String) throws(RelayError) -> String {
        guard let value = self.body[field]?.stringValue else { throw RelayError.invalidField(field, expected: "a string") }
        return value
    }

    /// The integer member `field`; throws `invalid_message` when missing or not an integer.
    public func int(_ field: String) throws(RelayError) -> Int {
        guard let value = self.body[field]?.intValue else { throw RelayError.invalidField(field, expected: "an integer") }
        return value
    }

    /// The number member `field`; throws `invalid_message` when missing or not a number.
    public func double(_ field: String) throws(RelayError) -> Double {
        guard let value = self.body[field]?.doubleValue else { throw RelayError.invalidField(field, expected: "a number") }
        return value
    }

    /// The member `field` whatever its type; throws `invalid_message` when missing.
    public func value(_ field: String) throws(RelayError) -> JSONValue {
        guard let value = self.body[field] else { throw RelayError.invalidField(field, expected: "present") }
        return value
    }
}
