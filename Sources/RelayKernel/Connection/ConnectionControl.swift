import DequeModule
import NIOCore
import Synchronization

/// The live side of one WebSocket connection, shared between its reader, its writer and the
/// tasks that deliver to it: a wake-up for the writer, the frames only this connection gets
/// (`connected`, `authenticated`), and a requested close.
///
/// Frames go out through a ``ChannelFrameWriter`` on the channel's event loop once one is
/// installed; a connection with permessage-deflate (whose frames WSCore must compress) has its
/// writer task take them one by one instead (``nextFrame()``).
final class ConnectionControl: Sendable {
    enum Phase: Equatable {
        case open
        case draining
        case closing(CloseReason)
    }

    private struct State {
        var phase = Phase.open
        var direct = Deque<OutboundMessage>()
        var waiter: CheckedContinuation<Void, Never>?
        var wakePending = false
        var attachments: [Attachment] = []
        var nextAttachment = 0
        var writeStartedAt: ContinuousClock.Instant?
        var channelWriter: NIOLoopBound<ChannelFrameWriter>?
        var pumpScheduled = false
        /// The channel writer reached the end (``WriterItem/finish``).
        var finished = false
    }

    /// A session this connection writes for, and its namespace (Socket.IO; `""` for `json`).
    struct Attachment {
        let session: ClientSession
        let generation: Int
        let namespace: String
    }

    let channel: any Channel
    private let state = Mutex(State())

    init(channel: any Channel) {
        self.channel = channel
    }

    /// Sends `message` on this connection only, ahead of the session's stream.
    func sendDirect(_ message: OutboundMessage) {
        self.state.withLock { $0.direct.append(message) }
        self.wake()
    }

    /// Attaches the writer to `session` (in `namespace`) from now on, replacing any attachment
    /// for the same namespace.
    func attach(_ session: ClientSession, generation: Int, namespace: String = "") {
        self.state.withLock { state in
            state.attachments.removeAll { $0.namespace == namespace }
            state.attachments.append(Attachment(session: session, generation: generation, namespace: namespace))
        }
        self.wake()
    }

    /// Stops writing for the session of `namespace`.
    func detach(namespace: String) {
        self.state.withLock { $0.attachments.removeAll { $0.namespace == namespace } }
    }

    /// Asks the writer to send a close frame with `reason` and stop; the first reason wins.
    func requestClose(_ reason: CloseReason) {
        let changed = self.state.withLock { state -> Bool in
            if case .closing = state.phase { return false }
            state.phase = .closing(reason)
            return true
        }
        if changed { self.wake() }
    }

    /// Asks the writer to flush what is queued, then close with 1001.
    func requestDrain() {
        self.state.withLock { if $0.phase == .open { $0.phase = .draining } }
        self.wake()
    }

    /// The close that was requested, if any.
    var closeReason: CloseReason? {
        self.state.withLock {
            if case .closing(let reason) = $0.phase { return reason }
            return nil
        }
    }

    /// Hands frame writing to `writer` (on the channel's event loop) from now on.
    func install(_ writer: NIOLoopBound<ChannelFrameWriter>) {
        self.state.withLock { $0.channelWriter = writer }
        self.wake()
    }

    /// Drops the channel writer (its channel is closed): nothing more is written.
    func uninstallChannelWriter() {
        self.state.withLock { state in
            state.channelWriter = nil
            state.finished = true
        }
    }

    /// Whether a ``ChannelFrameWriter`` writes this connection's frames.
    var hasChannelWriter: Bool { self.state.withLock { $0.channelWriter != nil } }

    /// Wakes the writer: schedules the channel writer's pump (once until it starts), or
    /// resumes the writer task if it waits for frames.
    func wake() {
        enum Action {
            case none
            case resume(CheckedContinuation<Void, Never>)
            case pump(NIOLoopBound<ChannelFrameWriter>)
        }
        let action = self.state.withLock { state -> Action in
            if let writer = state.channelWriter {
                guard !state.pumpScheduled, !state.finished else { return .none }
                state.pumpScheduled = true
                return .pump(writer)
            }
            return Self.takeWaiter(&state).map(Action.resume) ?? .none
        }
        switch action {
        case .none:
            break
        case .resume(let waiter):
            waiter.resume()
        case .pump(let writer):
            self.channel.eventLoop.execute { writer.value.pump() }
        }
    }

    /// The channel writer starts a pump: wake-ups from now on schedule another.
    func pumpStarted() {
        self.state.withLock { $0.pumpScheduled = false }
    }

    /// The channel writer reached the end: it writes nothing more.
    func reachFinish() {
        self.state.withLock { $0.finished = true }
    }

    /// The next frame for the writer; `nil` once the connection must close (the reason is in
    /// ``closeReason``) or the session moved to another connection.
    func nextFrame() async -> WriterItem? {
        while true {
            if let item = self.poll() { return item }
            if Task.isCancelled { return nil }
            await self.waitForWake()
        }
    }

    /// Suspends until ``wake()`` (or a wake-up that came first), or cancellation.
    private func waitForWake() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = self.state.withLock { state -> Bool in
                    if state.wakePending {
                        state.wakePending = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            self.resumeWaiter()
        }
    }

    /// Resumes the writer task, or lets its next wait return at once.
    private func resumeWaiter() {
        self.state.withLock { Self.takeWaiter(&$0) }?.resume()
    }

    /// The waiting writer task to resume, or a wake-up kept for its next wait.
    private static func takeWaiter(_ state: inout State) -> CheckedContinuation<Void, Never>? {
        if let waiter = state.waiter {
            state.waiter = nil
            return waiter
        }
        state.wakePending = true
        return nil
    }

    enum WriterItem {
        case direct(OutboundMessage)
        case session(QueuedFrame, namespace: String)
        case finish
    }

    /// The next item to write, if any (`nil` for good once the end was reached).
    func poll() -> WriterItem? {
        let (phase, direct, attachments, start, finished) = self.state.withLock { state in
            let start = state.nextAttachment
            state.nextAttachment &+= 1
            return (state.phase, state.direct.popFirst(), state.attachments, start, state.finished)
        }
        if finished { return nil }
        // Protocol frames already queued for this connection (e.g. a Socket.IO CONNECT_ERROR)
        // still go out before a requested close.
        if let direct { return .direct(direct) }
        if case .closing = phase { return .finish }
        // Take turns between the sessions of a multiplexed (Socket.IO) connection.
        var superseded = 0
        for offset in 0..<attachments.count {
            let attachment = attachments[(start + offset) % attachments.count]
            switch attachment.session.popForWriter(generation: attachment.generation) {
            case .frame(let frame): return .session(frame, namespace: attachment.namespace)
            case .superseded: superseded += 1
            case .empty: continue
            }
        }
        if superseded > 0, superseded == attachments.count { return .finish }
        return phase == .draining ? .finish : nil
    }

    /// Marks the start of a socket write, or a frame the channel could not take (for the
    /// stalled-writer watchdog); the earliest mark stands until ``writeUnblocked()``.
    func writeBlocked() {
        self.state.withLock { state in
            if state.writeStartedAt == nil { state.writeStartedAt = .now }
        }
    }

    /// Marks the end of a socket write, or a channel writer that wrote all it had.
    func writeUnblocked() {
        self.state.withLock { $0.writeStartedAt = nil }
    }

    /// How long the current write has been blocked.
    var currentWriteDuration: Duration? {
        self.state.withLock { $0.writeStartedAt.map { ContinuousClock.now - $0 } }
    }
}
