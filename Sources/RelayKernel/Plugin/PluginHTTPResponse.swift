public import NIOCore

/// What a plugin's REST handler answers.
public struct PluginHTTPResponse: Sendable {
    /// HTTP status code.
    public var status: Int
    /// `Content-Type` of the body.
    public var contentType: String
    /// The body.
    public var body: ByteBuffer
    /// Extra header fields.
    public var headers: [String: String]

    /// Creates a response.
    public init(status: Int, contentType: String, body: ByteBuffer, headers: [String: String] = [:]) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.headers = headers
    }

    /// A JSON response.
    public static func json(_ value: JSONValue, status: Int = 200) -> PluginHTTPResponse {
        var buffer = ByteBuffer()
        value.write(into: &buffer)
        return PluginHTTPResponse(status: status, contentType: "application/json", body: buffer)
    }

    /// The REST error shape `{"error":{"code","message"}}` with the code's status.
    public static func error(_ error: RelayError) -> PluginHTTPResponse {
        .json(["error": ["code": .string(error.code.rawValue), "message": .string(error.message)]], status: error.code.httpStatus)
    }
}

/// A plugin's REST handler.
public typealias PluginHTTPHandler = @Sendable (PluginHTTPRequest, PluginContext) async throws -> PluginHTTPResponse
