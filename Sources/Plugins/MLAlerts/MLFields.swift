import RelayKernel

/// Validation of the fields shared by the socket messages and the REST API.
enum MLFields {
    /// An optional short string (device name or type, stream id); `nil` when absent or `null`.
    static func name(_ value: JSONValue?, field: String, maxLength: Int) throws(RelayError) -> String? {
        guard let value, value != .null else { return nil }
        guard let text = value.stringValue, !text.isEmpty, text.count <= maxLength else {
            throw RelayError.invalidField(field, expected: "a string of 1 to \(maxLength) characters")
        }
        return text
    }

    /// `metadata`: an object, `{}` when absent or `null`.
    static func metadata(_ value: JSONValue?) throws(RelayError) -> JSONValue {
        guard let value, value != .null else { return .object([:]) }
        guard value.objectValue != nil else { throw RelayError.invalidField("metadata", expected: "an object") }
        return value
    }
}
