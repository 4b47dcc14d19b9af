import NIOCore

/// A token bucket: `rate` tokens per second up to `capacity`; a rate of 0 never limits.
struct TokenBucket: Sendable {
    let rate: Double
    let capacity: Double
    private var tokens: Double
    private var updatedAt: NIODeadline

    init(rate: Double, capacity: Int, now: NIODeadline = .now()) {
        self.rate = rate
        self.capacity = Double(capacity)
        self.tokens = Double(capacity)
        self.updatedAt = now
    }

    /// Takes one token; `false` when the bucket is empty.
    mutating func take(now: NIODeadline = .now()) -> Bool {
        guard self.rate > 0 else { return true }
        let seconds = Double((now - self.updatedAt).nanoseconds) / 1e9
        self.tokens = min(self.capacity, self.tokens + seconds * self.rate)
        self.updatedAt = now
        guard self.tokens >= 1 else { return false }
        self.tokens -= 1
        return true
    }
}
