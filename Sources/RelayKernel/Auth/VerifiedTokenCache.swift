import Synchronization

/// Tokens whose signature was verified, with the identity they carry, so that a token presented
/// again (reconnects, several tabs, a reconnect storm after a deploy) skips signature checking and
/// claim decoding. Bounded: when full, the oldest entries make room. Time-bound claims (`exp`,
/// `nbf`) are still checked at every use by the verifier.
final class VerifiedTokenCache: Sendable {
    private struct Entries {
        var identities: [String: VerifiedIdentity] = [:]
        /// Insertion order, for eviction.
        var order: [String] = []
        var oldest = 0
    }

    private let capacity: Int
    private let entries = Mutex(Entries())

    init(capacity: Int) {
        self.capacity = capacity
    }

    subscript(token: String) -> VerifiedIdentity? {
        get { self.entries.withLock { $0.identities[token] } }
        set {
            guard let newValue else { return }
            self.entries.withLock { entries in
                guard entries.identities.updateValue(newValue, forKey: token) == nil else { return }
                if entries.order.count < self.capacity {
                    entries.order.append(token)
                } else {
                    // A ring: the slot of the oldest token takes the new one.
                    entries.identities.removeValue(forKey: entries.order[entries.oldest])
                    entries.order[entries.oldest] = token
                    entries.oldest = (entries.oldest + 1) % self.capacity
                }
            }
        }
    }
}
