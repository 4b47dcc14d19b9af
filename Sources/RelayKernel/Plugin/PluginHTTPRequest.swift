public import NIOCore

/// An HTTP request routed to a plugin's REST handler.
public struct PluginHTTPRequest: Sendable {
    /// Method, upper case (`GET`, `POST`, …).
    public let method: String
    /// The request path without the query.
    public let path: String
    /// Values of the route's `:name` segments.
    public let parameters: [String: String]
    /// Query parameters (the last value wins for repeated names).
    public let query: [String: String]
    /// Header fields, names lower-cased.
    public let headers: [String: String]
    /// The body.
    public let body: ByteBuffer
    /// The client's IP address, when known: the TCP peer's, or the one a trusted proxy
    /// (`server.trustedProxies`) forwarded.
    public let remoteAddress: String?

    /// Creates a request (kernel and test harnesses).
    public init(
        method: String,
        path: String,
        parameters: [String: String],
        query: [String: String],
        headers: [String: String],
        body: ByteBuffer,
        remoteAddress: String? = nil
    ) {
        self.method = method
        self.path = path
        self.parameters = parameters
        self.query = query
        self.headers = headers
        self.body = body
        self.remoteAddress = remoteAddress
    }

    /// The body as a JSON object; throws `bad_json` or `invalid_message`.
    public func jsonObject() throws(RelayError) -> [String: JSONValue] {
        let value: JSONValue
        do {
            value = try JSONParser.parse(self.body.readableBytesView)
        } catch {
            throw RelayError(.badJSON, "body is not JSON")
        }
        guard let object = value.objectValue else { throw RelayError(.invalidMessage, "body must be a JSON object") }
        return object
    }

    /// The bearer token from `Authorization: Bearer …`, `?token=`, or nil.
    public var bearerToken: String? {
        self.headers["authorization"].flatMap(UpgradeRequest.bearerToken) ?? self.query["token"]
    }
}
