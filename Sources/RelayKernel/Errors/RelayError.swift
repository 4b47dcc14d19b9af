/// An error a client sees as `{"type":"error","code":…}`; the connection stays open.
///
/// Plugins throw these from ``RelayPlugin/handle(_:context:)``. The set of codes is fixed by the
/// wire contract; new codes can be added without breaking the API.
public struct RelayError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The wire code, e.g. `not_found`.
    public let code: Code
    /// A human-readable message.
    public let message: String
    /// When the client may try again (`rate_limited`): sent as `retryAfter` (seconds) in the
    /// error object, and as `Retry-After` on REST answers.
    public let retryAfter: Duration?

    /// Creates an error with a code and a message, and when to retry if that is known.
    public init(_ code: Code, _ message: String, retryAfter: Duration? = nil) {
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    /// ``retryAfter`` in whole seconds, rounded up (at least 1).
    var retryAfterSeconds: Int? {
        self.retryAfter.map { max(1, Int(($0 / .seconds(1)).rounded(.up))) }
    }

    public var description: String { "\(self.code.rawValue): \(self.message)" }

    /// The wire error codes (SPEC §3).
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        /// The code as sent on the wire.
        public let rawValue: String
        private init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { self.rawValue }

        /// Text that is not JSON.
        public static let badJSON = Code("bad_json")
        /// JSON that is not an object, a missing or non-string `type`, a missing or ill-typed field.
        public static let invalidMessage = Code("invalid_message")
        /// No route matches the message type.
        public static let unknownType = Code("unknown_type")
        /// The client may not do this.
        public static let forbidden = Code("forbidden")
        /// The addressed thing does not exist.
        public static let notFound = Code("not_found")
        /// The request conflicts with the current state.
        public static let conflict = Code("conflict")
        /// The client sends faster than its limit.
        public static let rateLimited = Code("rate_limited")
        /// The client must authenticate first.
        public static let unauthenticated = Code("unauthenticated")
        /// The message exceeds a size limit.
        public static let tooLarge = Code("too_large")
        /// A recipient on another node could not be reached (the cluster database is down).
        public static let unavailable = Code("unavailable")

        /// Every code, for metrics set-up.
        public static let all: [Code] = [
            .badJSON, .invalidMessage, .unknownType, .forbidden, .notFound, .conflict, .rateLimited, .unauthenticated, .tooLarge,
            .unavailable,
        ]

        /// The HTTP status a REST answer with this code carries.
        public var httpStatus: Int {
            switch self {
            case .unauthenticated: 401
            case .forbidden: 403
            case .notFound: 404
            case .conflict: 409
            case .tooLarge: 413
            case .rateLimited: 429
            case .unavailable: 503
            default: 400
            }
        }
    }

    /// `invalid_message` naming the field that is missing or ill-typed.
    public static func invalidField(_ field: String, expected: String) -> RelayError {
        RelayError(.invalidMessage, "field '\(field)' must be \(expected)")
    }
}
