/// The WebSocket close codes the relay sends, each in the one situation SPEC names.
public enum CloseCode: UInt16, Sendable, CaseIterable {
    /// 1000: a clean leave (`{"type":"leave"}`).
    case normal = 1000
    /// 1001: the server is shutting down.
    case goingAway = 1001
    /// 1002: a WebSocket protocol error (bad fragmentation, reserved opcodes).
    case protocolError = 1002
    /// 1003: data the endpoint does not take (binary without a binary route, Socket.IO on a json endpoint).
    case unsupportedData = 1003
    /// 1007: a text frame that is not valid UTF-8.
    case invalidPayload = 1007
    /// 1008: auth failure at connect, auth time-out, expired token, per-user/per-IP connection limit.
    case policyViolation = 1008
    /// 1009: a message over the endpoint's size limit.
    case messageTooBig = 1009
    /// 1011: an internal error.
    case internalError = 1011
    /// 1013: the server is at capacity, or a slow consumer closed by the `close` overflow policy.
    case tryAgainLater = 1013
}

/// Why a connection is being closed: the code and the reason sent with it.
public struct CloseReason: Error, Sendable, Equatable {
    /// The close code.
    public let code: CloseCode
    /// The reason text.
    public let reason: String

    /// Creates a close reason.
    public init(_ code: CloseCode, _ reason: String) {
        self.code = code
        self.reason = reason
    }
}
