public import RelayKernel

/// A plugin's answer to a ``TestRelay/request(_:_:headers:json:)``.
public struct TestHTTPResponse: Sendable {
    /// The HTTP status.
    public let status: Int
    /// `Content-Type`.
    public let contentType: String
    /// The body as text.
    public let body: String
    /// Header fields (names lower-cased when live).
    public let headers: [String: String]

    /// The body parsed as JSON, or `nil` when it is not JSON.
    public var json: JSONValue? { try? JSONParser.parse(Array(self.body.utf8)) }
}
