import Metrics
import NIOCore
import Synchronization

/// What the connections on one event loop share, so that none needs a task or a timer of its
/// own: the task executor their plugin calls resume on, one timer sweep for every deadline
/// (handshake, authentication, heartbeat, close and write time-outs), and one batched wake-up
/// that runs the writers of every connection something was queued for.
final class EventLoopContext: Sendable {
    /// The loop.
    let eventLoop: any EventLoop
    /// Runs tasks on the loop (see ``EventLoopTaskExecutor``).
    let executor: EventLoopTaskExecutor
    /// Its siblings, which say how often to sweep.
    private unowned let contexts: LoopContexts
    private let local: LoopConfined<Local>
    /// Writers woken from other threads, run by the next batch.
    private let remote = Mutex<(handles: [ConnectionHandle], scheduled: Bool)>(([], false))

    private struct Local {
        var members = SlotList<any LoopSweepable>()
        var pumps: [ConnectionHandle] = []
        /// The other of two buffers `pumps` swaps with, so a batch allocates nothing.
        var spare: [ConnectionHandle] = []
        var pumpScheduled = false
        /// A connection of this loop is handling a read: writers woken meanwhile run when it
        /// ends (``readEnded()``), without a task of their own.
        var reading = false
        var sweepScheduled = false
    }

    init(eventLoop: any EventLoop, contexts: LoopContexts) {
        self.eventLoop = eventLoop
        self.executor = EventLoopTaskExecutor(eventLoop)
        self.contexts = contexts
        self.local = LoopConfined(Local(), eventLoop: eventLoop)
    }

    // MARK: Sweep

    /// Adds `member` to the sweep (on the loop); returns the slot to remove it with.
    func register(_ member: any LoopSweepable) -> Int {
        let slot = self.local.value.members.insert(member)
        if !self.local.value.sweepScheduled {
            self.local.value.sweepScheduled = true
            self.scheduleSweep()
        }
        return slot
    }

    /// Removes the member in `slot` (on the loop).
    func unregister(_ slot: Int) {
        self.local.value.members.remove(at: slot)
    }

    /// Calls `body` with every member (on the loop).
    func forEachMember(_ body: (any LoopSweepable) -> Void) {
        self.local.value.members.forEach(body)
    }

    private func scheduleSweep() {
        self.eventLoop.scheduleTask(in: self.contexts.sweepInterval) {
            let time = SweepTime.current()
            self.local.value.members.forEach { $0.sweep(at: time) }
            if self.local.value.members.count > 0 {
                self.scheduleSweep()
            } else {
                self.local.value.sweepScheduled = false
            }
        }
    }

    // MARK: Writers

    /// Runs `handle`'s writer on this loop with the next batch: one task for every connection
    /// woken in the meantime, whatever thread woke them.
    func schedulePump(_ handle: ConnectionHandle) {
        if self.eventLoop.inEventLoop {
            self.local.value.pumps.append(handle)
            guard !self.local.value.reading, !self.local.value.pumpScheduled else { return }
            self.local.value.pumpScheduled = true
        } else {
            let first = self.remote.withLock { remote -> Bool in
                remote.handles.append(handle)
                defer { remote.scheduled = true }
                return !remote.scheduled
            }
            guard first else { return }
        }
        self.eventLoop.execute { self.runPumps() }
    }

    /// A connection of this loop starts handling what it read (on the loop).
    func readStarted() {
        self.local.value.reading = true
    }

    /// The read ended (`channelReadComplete`, or the connection went away in the middle of it):
    /// the writers it woke on this loop run now, then flush.
    func readEnded() {
        guard self.local.value.reading else { return }
        self.local.value.reading = false
        self.runPumps()
    }

    private func runPumps() {
        self.local.value.pumpScheduled = false
        var batch: [ConnectionHandle] = []
        swap(&batch, &self.local.value.spare)
        swap(&batch, &self.local.value.pumps)
        self.remote.withLock { remote in
            remote.scheduled = false
            batch.append(contentsOf: remote.handles)
            remote.handles.removeAll(keepingCapacity: true)
        }
        var oldest: NIODeadline?
        for handle in batch {
            if let queued = handle.pump(), queued < (oldest ?? .distantFuture) { oldest = queued }
        }
        batch.removeAll(keepingCapacity: true)
        self.local.value.spare = batch
        if let oldest { self.recordDeliveryLatency(since: oldest) }
    }

    /// Records how long the oldest frame of a write batch waited in its client's queue: one
    /// sample per batch of writers (per turn of the loop), the batch's longest wait.
    func recordDeliveryLatency(since queued: NIODeadline) {
        self.contexts.deliveryLatency.recordNanoseconds((NIODeadline.now() - queued).nanoseconds)
    }
}
