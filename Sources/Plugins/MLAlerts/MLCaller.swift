import RelayKernel

/// Who sent a message or a REST request: the user (token `sub`, or the configured user claim)
/// and whether the token carries the service role.
struct MLCaller: Sendable {
    /// The authenticated user, `nil` when anonymous.
    let userId: String?
    /// Whether the token's service claim names a service role.
    let isService: Bool

    init(userId: String?, claims: [String: JSONValue], configuration: MLAlertsConfiguration) {
        self.userId = userId
        let roles = configuration.serviceRoles
        switch claims[configuration.serviceClaim] {
        case .string(let role):
            self.isService = roles.contains(role)
        case .array(let values):
            self.isService = values.contains { value in value.stringValue.map(roles.contains) ?? false }
        default:
            self.isService = false
        }
    }

    /// Whether the caller owns `stream`.
    func owns(_ stream: MLStreamRecord) -> Bool {
        self.userId != nil && self.userId == stream.userId
    }

    /// Whether the caller may read `stream` (subscribe to it, read its history): owner or service.
    func mayRead(_ stream: MLStreamRecord) -> Bool {
        self.isService || self.owns(stream)
    }

    /// The user id, or `unauthenticated`.
    func requireUser() throws(RelayError) -> String {
        guard let userId else { throw RelayError(.unauthenticated, "a token naming the user is required") }
        return userId
    }
}
