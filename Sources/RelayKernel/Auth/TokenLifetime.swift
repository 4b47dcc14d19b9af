/// When an open connection's token expires, and whether its client was told: what the event
/// loop's sweep checks for each connection (no timer of its own).
///
/// `auth.refreshWindow` before `exp` the client is warned once (`token_expiring`); at `exp` plus
/// `auth.leeway` the connection closes with 1008 `token expired`, unless a refresh replaced the
/// lifetime meanwhile.
struct TokenLifetime: Equatable {
    /// What the sweep must do now.
    enum Step: Equatable {
        case nothing
        /// Send `token_expiring` with `exp` in milliseconds.
        case warn(expiresAtMilliseconds: Int)
        /// Close with 1008 `token expired`.
        case expire
    }

    /// The token's `exp`, in seconds since 1970.
    let expiresAt: Double
    private var warned = false

    /// The lifetime of a verified token; `nil` when it has no `exp`.
    init?(_ identity: VerifiedIdentity) {
        guard let expiresAt = identity.expiresAt else { return nil }
        self.expiresAt = expiresAt
    }

    /// `exp` in milliseconds since 1970, as the wire carries it.
    var expiresAtMilliseconds: Int { Int((self.expiresAt * 1000).rounded()) }

    /// The step due at `now` (seconds since 1970); a warning is due once.
    mutating func step(at now: Double, settings: AuthSettings) -> Step {
        if now > self.expiresAt + settings.leeway { return .expire }
        guard !self.warned, now >= self.expiresAt - settings.refreshWindow else { return .nothing }
        self.warned = true
        return .warn(expiresAtMilliseconds: self.expiresAtMilliseconds)
    }
}
