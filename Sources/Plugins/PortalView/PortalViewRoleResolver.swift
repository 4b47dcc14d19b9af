import RelayKernel

/// Decides a joining client's role: from a claim of its token, or by asking the product
/// backend through the kernel's ``AuthorizationHook`` (cached there).
///
/// No access throws ``RelayError`` `forbidden` (the kernel closes with 1008). A hook that cannot
/// answer rethrows its ``AuthorizationHook/Failure`` (the kernel closes with 1011), or throws
/// `forbidden` when the hook's `onFailure` is `deny`.
struct PortalViewRoleResolver: Sendable {
    let configuration: PortalViewConfiguration
    let hook: AuthorizationHook?

    init(configuration: PortalViewConfiguration) {
        self.configuration = configuration
        if configuration.roleSource == .hook, let hook = configuration.hook {
            self.hook = AuthorizationHook(settings: hook.settings)
        } else {
            self.hook = nil
        }
    }

    /// The role of `client` in the view it connected to.
    func role(of client: ClientInfo) async throws -> PortalViewRole {
        switch self.configuration.roleSource {
        case .claims: try self.roleFromClaims(of: client)
        case .hook: try await self.roleFromHook(of: client)
        }
    }

    private func roleFromClaims(of client: ClientInfo) throws(RelayError) -> PortalViewRole {
        let path = self.configuration.claim
        guard let map = Self.claim(path, in: client.claims)?.objectValue else {
            throw RelayError(.forbidden, "the token has no '\(path)' claim")
        }
        let keyParameter = self.configuration.claimKey
        guard let key = client.parameters[keyParameter] else {
            throw RelayError(.forbidden, "the endpoint has no :\(keyParameter) parameter")
        }
        guard let granted = map[key]?.stringValue else {
            throw RelayError(.forbidden, "no access to \(keyParameter) '\(key)'")
        }
        guard let role = self.configuration.role(granted: granted) else {
            throw RelayError(.forbidden, "role '\(granted)' gives no access to \(keyParameter) '\(key)'")
        }
        return role
    }

    private func roleFromHook(of client: ClientInfo) async throws -> PortalViewRole {
        guard let hook = self.hook, let settings = self.configuration.hook else {
            throw RelayError(.forbidden, "no authorization hook is configured")
        }
        guard let userId = client.userId else { throw RelayError(.forbidden, "a token is required") }
        let decision: AuthorizationHook.Decision
        do {
            decision = try await hook.authorize(userId: userId, resource: settings.resource(parameters: client.parameters), claims: client.claims)
        } catch {
            switch settings.onFailure {
            case .close: throw error
            case .deny: throw RelayError(.forbidden, "authorization unavailable")
            }
        }
        switch decision {
        case .denied:
            throw RelayError(.forbidden, "access denied")
        case .granted(let answer):
            guard let granted = answer["role"]?.stringValue, let role = self.configuration.role(granted: granted) else {
                throw RelayError(.forbidden, "the backend granted no known role")
            }
            return role
        }
    }

    /// The claim at a dotted `path` (`portalViews`, `access.portalViews`).
    static func claim(_ path: String, in claims: [String: JSONValue]) -> JSONValue? {
        let parts = path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard let first = parts.first, var value = claims[first] else { return nil }
        for part in parts.dropFirst() {
            guard let next = value[part] else { return nil }
            value = next
        }
        return value
    }
}
