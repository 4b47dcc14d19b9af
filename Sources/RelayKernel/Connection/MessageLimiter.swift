import NIOCore

/// A connection's message rates: the endpoint's token bucket for every message, a bucket per
/// route that sets its own rate, and at most one `rate_limited` answer a second.
struct MessageLimiter {
    private var bucket: TokenBucket
    private var routeBuckets: [String: TokenBucket] = [:]
    private var lastNotice: NIODeadline?

    init(limits: LimitSettings) {
        self.bucket = TokenBucket(rate: limits.messagesPerSecond, capacity: limits.burst)
    }

    /// Takes a token for one message on the connection.
    mutating func admitMessage() -> Bool {
        self.bucket.take()
    }

    /// Takes a token from `route`'s own bucket, if it has a rate.
    mutating func admit(_ route: CompiledRoute) -> Bool {
        guard let rate = route.settings.messagesPerSecond else { return true }
        let capacity = route.settings.burst ?? max(1, Int(rate))
        var bucket = self.routeBuckets[route.label] ?? TokenBucket(rate: rate, capacity: capacity)
        let allowed = bucket.take()
        self.routeBuckets[route.label] = bucket
        return allowed
    }

    /// Whether a rejected message may be answered now (at most once a second).
    mutating func mayNotify() -> Bool {
        let now = NIODeadline.now()
        guard self.lastNotice.map({ now - $0 >= .seconds(1) }) ?? true else { return false }
        self.lastNotice = now
        return true
    }
}
