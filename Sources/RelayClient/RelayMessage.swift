public import Foundation

/// One message from the relay: a JSON text frame, or a binary frame (its JSON header plus the
/// raw payload bytes, docs/protocol.md "Binary frames").
public struct RelayMessage: Sendable, Hashable {
    /// The message's `type` (empty when the relay sent something without one).
    public let type: String
    /// The message's fields, `type` included (for a binary frame: its header's fields).
    public let fields: [String: JSONValue]
    /// The JSON text as it arrived (for a binary frame: its header).
    public let json: Data
    /// The raw bytes after the header of a binary frame; `nil` for a text frame.
    public let payload: Data?

    /// A message from its JSON text; `nil` when the text is not a JSON object.
    public init?(json: Data, payload: Data? = nil) {
        guard let fields = (try? JSONDecoder().decode(JSONValue.self, from: json))?.objectValue else { return nil }
        self.type = fields["type"]?.stringValue ?? ""
        self.fields = fields
        self.json = json
        self.payload = payload
    }

    /// The field `key`.
    public subscript(key: String) -> JSONValue? {
        self.fields[key]
    }

    /// Decodes the message (for a binary frame: its header) into an app type.
    ///
    /// ```swift
    /// struct Chat: Decodable { let type: String; let topic: String; let data: String }
    /// let chat = try message.decode(Chat.self)
    /// ```
    public func decode<T: Decodable>(_ type: T.Type, using decoder: JSONDecoder = JSONDecoder()) throws -> T {
        try decoder.decode(T.self, from: self.json)
    }
}
