import RelayKernel

/// The pairing's transitions as pure functions: what a join, a held message or the clock does
/// to a ``Pairing``. The directory applies them with compare-and-set and performs the
/// deliveries they imply.
extension Pairing {
    /// Why a pairing ended; decides what the remaining sides are told.
    enum Ending: String, Sendable {
        /// A side left for good (after the resume grace, a clean close, or a REST leave).
        case left
        /// Nothing crossed the pairing for `idleTimeout`.
        case idle
        /// The desktop created a new code.
        case retired
        /// Nobody joined the code within `codeTTL`.
        case codeExpired = "code-expired"

        /// The notice type the remaining sides get.
        var noticeType: String { self == .codeExpired ? "cam-code-expired" : "cam-peer-left" }
    }

    /// A new, unpaired pairing created by `desktop` at `now`.
    static func created(code: String, desktop: Peer, now: Int64, codeTTL: Int64) -> Pairing {
        Pairing(
            id: PairingCode.token(),
            code: code,
            createdAt: now,
            expiresAt: now + codeTTL,
            lastActivity: now,
            desktop: desktop,
            phone: nil
        )
    }

    /// The side `peer` is on, if it is in this pairing.
    func side(of peer: Peer) -> Side? {
        if self.desktop.matches(peer) { return .desktop }
        if let phone = self.phone, phone.matches(peer) { return .phone }
        return nil
    }

    /// When the pairing ends if nothing happens: the code's expiry until it is joined, then
    /// `idle` after the last activity.
    func deadline(idle: Int64) -> Int64 {
        self.isPaired ? self.lastActivity + idle : self.expiresAt
    }

    /// Whether the pairing is over at `now` (the store keeps it a little longer, so whoever
    /// sees it first can still tell its sides).
    func isExpired(now: Int64, idle: Int64) -> Bool {
        now >= self.deadline(idle: idle)
    }

    /// How the pairing ends when it expires at the deadline.
    var expiryEnding: Ending { self.isPaired ? .idle : .codeExpired }

    /// What a join did.
    enum JoinResult: Sendable, Equatable {
        /// The joiner is now the phone and must receive these held messages, in order.
        case joined(held: [JSONValue])
        /// The joiner already was the phone (a repeated `cam-join`): nothing changes.
        case alreadyJoined
    }

    /// `joiner` takes the phone side. Throws `conflict` for the creator itself (also when
    /// `identity` — e.g. a REST caller's bearer token — is the creator) or a code another
    /// client already joined.
    mutating func join(_ joiner: Peer, identity: Peer? = nil, now: Int64) throws(RelayError) -> JoinResult {
        if self.desktop.matches(joiner) || identity.map(self.desktop.matches) == true {
            throw RelayError(.conflict, "cannot join your own pairing code")
        }
        if let phone = self.phone {
            if phone.matches(joiner) { return .alreadyJoined }
            throw RelayError(.conflict, "pairing code '\(self.code)' is already paired")
        }
        self.phone = joiner
        self.lastActivity = now
        let held = self.held
        self.held = []
        self.heldBytes = 0
        return .joined(held: held)
    }

    /// Holds `body` for the phone, which has not joined yet; throws `rate_limited` when the
    /// hold is full (nothing is dropped silently: the sender is told).
    mutating func hold(_ body: JSONValue, size: Int, maxMessages: Int, maxBytes: Int) throws(RelayError) {
        guard self.held.count < maxMessages, self.heldBytes + size <= maxBytes else {
            throw RelayError(
                .rateLimited,
                "the other side has not joined '\(self.code)' yet and \(self.held.count) messages (\(self.heldBytes) bytes) are already held for it"
            )
        }
        self.held.append(body)
        self.heldBytes += size
    }

    /// Whether activity at `now` should be written (at most every `interval` ms).
    func needsTouch(now: Int64, interval: Int64) -> Bool {
        now - self.lastActivity >= interval
    }
}
