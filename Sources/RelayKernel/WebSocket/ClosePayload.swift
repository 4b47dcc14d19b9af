import NIOCore

/// The payload of a close frame a peer sent (RFC 6455 §5.5.1, §7.4): an optional status code
/// and a UTF-8 reason.
enum ClosePayload {
    /// A well-formed close: `code` is `nil` when the frame carried none (1005).
    case valid(code: UInt16?)
    /// A close frame that breaks the protocol; the connection fails with this reason.
    case invalid(CloseReason)

    init(_ payload: ByteBuffer) {
        var reader = payload
        guard reader.readableBytes > 0 else {
            self = .valid(code: nil)
            return
        }
        guard let code = reader.readInteger(as: UInt16.self) else {
            self = .invalid(CloseReason(.protocolError, "a close payload of one byte"))
            return
        }
        guard Self.isSendable(code) else {
            self = .invalid(CloseReason(.protocolError, "close code \(code) may not be sent"))
            return
        }
        var validator = UTF8Validator()
        let reasonIsText = reader.withUnsafeReadableBytes { validator.feed($0) } && validator.isComplete
        self = reasonIsText ? .valid(code: code) : .invalid(CloseReason(.invalidPayload, "close reason is not valid UTF-8"))
    }

    /// Whether a peer may put `code` in a close frame: the defined codes other than those
    /// reserved for local use (1004–1006, 1015), and the registered and private ranges.
    static func isSendable(_ code: UInt16) -> Bool {
        switch code {
        case 1000...1003, 1007...1014, 3000...4999: true
        default: false
        }
    }
}
