import Metrics
import NIOCore
import Synchronization

/// The ``EventLoopContext`` of every event loop that serves connections, created on first use,
/// and how often they sweep.
final class LoopContexts: Sendable {
    private let contexts = Mutex<[ObjectIdentifier: EventLoopContext]>([:])
    private let interval: Atomic<Int64>
    /// Where the loops record how long frames waited before being written.
    let deliveryLatency: Timer

    init(sweepInterval: TimeAmount, deliveryLatency: Timer) {
        self.interval = Atomic(sweepInterval.nanoseconds)
        self.deliveryLatency = deliveryLatency
    }

    /// How often every loop sweeps its connections' deadlines (a reload may change it).
    var sweepInterval: TimeAmount {
        get { .nanoseconds(self.interval.load(ordering: .relaxed)) }
        set { self.interval.store(newValue.nanoseconds, ordering: .relaxed) }
    }

    /// The context of `eventLoop`.
    func context(for eventLoop: any EventLoop) -> EventLoopContext {
        self.contexts.withLock { contexts in
            let key = ObjectIdentifier(eventLoop)
            if let context = contexts[key] { return context }
            let created = EventLoopContext(eventLoop: eventLoop, contexts: self)
            contexts[key] = created
            return created
        }
    }

    /// Every context so far.
    var all: [EventLoopContext] { self.contexts.withLock { Array($0.values) } }
}
