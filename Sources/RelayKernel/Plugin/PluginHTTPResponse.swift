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

    /// The REST error shape `{"error":{"code","message"}}` with the code's status (and
    /// `retryAfter` with a `Retry-After` header when the error says when to retry).
    public static func error(_ error: RelayError) -> PluginHTTPResponse {
        var object: [String: JSONValue] = ["code": .string(error.code.rawValue), "message": .string(error.message)]
        guard let retry = error.retryAfterSeconds else { return .json(["error": .object(object)], status: error.code.httpStatus) }
        object["retryAfter"] = .int(retry)
        var response = PluginHTTPResponse.json(["error": .object(object)], status: error.code.httpStatus)
        response.headers["retry-after"] = String(retry)
        return response
    }
}

/// A plugin's REST handler.
public typealias PluginHTTPHandler = @Sendable (PluginHTTPRequest, PluginContext) async throws -> PluginHTTPResponse
