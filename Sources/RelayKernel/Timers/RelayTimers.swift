import HeapModule
public import ServiceLifecycle
import Synchronization

/// One-shot timers for the kernel and plugins, fired by one service loop from a deadline heap
/// (no task per timer; each due action runs as a child task of the loop).
public final class RelayTimers: Service, Sendable {
    /// Identifies a scheduled timer so it can be cancelled.
    public struct Handle: Hashable, Sendable {
        let id: UInt64
    }

    private struct Deadline: Comparable {
        let instant: ContinuousClock.Instant
        let id: UInt64
        static func < (lhs: Deadline, rhs: Deadline) -> Bool {
            (lhs.instant, lhs.id) < (rhs.instant, rhs.id)
        }
    }

    private struct State {
        var actions: [UInt64: @Sendable () async -> Void] = [:]
        var deadlines = Heap<Deadline>()
        var nextID: UInt64 = 1
    }

    private let state = Mutex(State())
    private let tick: Duration
    /// The clock deadlines are measured on.
    let clock: RelayClock

    /// Creates the timer service; deadlines are checked every `tick` on `clock`'s instants.
    public init(tick: Duration = .milliseconds(10), clock: RelayClock = .system) {
        self.tick = tick
        self.clock = clock
    }

    /// Runs `action` once after `delay`.
    @discardableResult
    public func schedule(after delay: Duration, _ action: @escaping @Sendable () async -> Void) -> Handle {
        let deadline = self.clock.instant + delay
        return self.state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            state.actions[id] = action
            state.deadlines.insert(Deadline(instant: deadline, id: id))
            return Handle(id: id)
        }
    }

    /// Cancels a timer; returns whether it had not fired yet.
    @discardableResult
    public func cancel(_ handle: Handle) -> Bool {
        self.state.withLock { $0.actions.removeValue(forKey: handle.id) != nil }
    }

    /// Fires due timers until the service is cancelled or shuts down.
    public func run() async throws {
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled, !Task.isShuttingDownGracefully {
                try? await Task.sleep(for: self.tick)
                for action in self.takeDue(now: self.clock.instant) {
                    group.addTask { await action() }
                }
            }
            group.cancelAll()
        }
    }

    /// Removes and returns the actions whose deadline has passed, earliest first.
    func takeDue(now: ContinuousClock.Instant) -> [@Sendable () async -> Void] {
        self.state.withLock { state in
            var due: [@Sendable () async -> Void] = []
            while let first = state.deadlines.min, first.instant <= now {
                state.deadlines.removeMin()
                if let action = state.actions.removeValue(forKey: first.id) { due.append(action) }
            }
            return due
        }
    }

    /// The earliest deadline of a timer not cancelled, if any.
    var nextDeadline: ContinuousClock.Instant? {
        self.state.withLock { state in
            while let first = state.deadlines.min, state.actions[first.id] == nil { state.deadlines.removeMin() }
            return state.deadlines.min?.instant
        }
    }

    /// Runs every action due on the clock now, earliest first, one after another, including
    /// those the actions schedule that are already due; returns how many ran. For a manual
    /// clock, after ``RelayClock/advance(by:)``.
    @discardableResult
    public func fireDue() async -> Int {
        var fired = 0
        while true {
            let due = self.takeDue(now: self.clock.instant)
            if due.isEmpty { return fired }
            for action in due { await action() }
            fired += due.count
        }
    }
}
