/// Why a ``RelayClient`` call or connection failed.
///
/// Match on ``code``; ``closeCode`` and ``serverCode`` carry the relay's own numbers and names.
public struct RelayClientError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of failure. New kinds may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String

        /// The relay refused the credentials: it closed with 1008 before `connected` (bad,
        /// expired or missing token, per-user or per-IP connection limit). Not retried.
        public static let authenticationFailed = Code(name: "authenticationFailed")
        /// The relay answered the WebSocket upgrade with an HTTP error (404: unknown path,
        /// 403: origin refused). Not retried.
        public static let upgradeRefused = Code(name: "upgradeRefused")
        /// `maxAttempts` consecutive connection attempts failed.
        public static let gaveUp = Code(name: "gaveUp")
        /// The relay answered a ``RelayClient/request(_:replyType:timeout:where:)`` with an
        /// `error` frame whose `ref` is the request's type; ``serverCode`` is its `code`.
        public static let server = Code(name: "server")
        /// No reply within the request's time-out.
        public static let timeout = Code(name: "timeout")
        /// The send queue (used while disconnected) is full.
        public static let queueFull = Code(name: "queueFull")
        /// The value to send is not a JSON object with a string `type`.
        public static let invalidMessage = Code(name: "invalidMessage")
        /// The client was closed (``RelayClient/close()``, or after a terminal failure).
        public static let closed = Code(name: "closed")

        /// The code's name.
        public var description: String { self.name }
    }

    /// The kind of failure.
    public let code: Code
    /// What happened, for people.
    public let message: String
    /// The WebSocket close code that caused it, if a close did.
    public let closeCode: Int?
    /// The relay's error code (`not_found`, `forbidden`, …) for ``Code/server``.
    public let serverCode: String?

    init(_ code: Code, _ message: String, closeCode: Int? = nil, serverCode: String? = nil) {
        self.code = code
        self.message = message
        self.closeCode = closeCode
        self.serverCode = serverCode
    }

    /// `code: message`.
    public var description: String { "\(self.code): \(self.message)" }
}
