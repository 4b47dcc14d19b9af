import NIOCore

extension TimeAmount {
    /// A time amount from seconds, as the route file gives them.
    init(seconds: Double) {
        self = .nanoseconds(Int64(seconds * 1e9))
    }
}
