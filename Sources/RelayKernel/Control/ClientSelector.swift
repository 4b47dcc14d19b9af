/// Which clients a server API call is about: every identity of one user, or one client.
package enum ClientSelector: Sendable, Equatable {
    /// Every client whose token named this user.
    case user(String)
    /// One client identity.
    case client(ClientID)

    /// Whether `info` is selected.
    func matches(_ info: ClientInfo) -> Bool {
        switch self {
        case .user(let user): info.userId == user
        case .client(let id): info.id == id
        }
    }
}
