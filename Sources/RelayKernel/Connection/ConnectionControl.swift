import DequeModule
import NIOCore
import Synchronization

/// The live side of one WebSocket connection, shared between its reader, its writer and the
/// tasks that deliver to it: a wake-up for the writer, the frames only this connection gets
/// (`connected`, `authenticated`), and a requested close.
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

    /// Wakes the writer if it waits for frames.
    func wake() {
        let waiter = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.wakePending = true
            return nil
        }
        waiter?.resume()
    }

    /// The next frame for the writer; `nil` once the connection must close (the reason is in
    /// ``closeReason``) or the session moved to another connection.
    func nextFrame() async -> WriterItem? {
        while true {
            if let item = self.poll() { return item }
            if Task.isCancelled { return nil }
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
                self.wake()
            }
        }
    }

    enum WriterItem {
        case direct(OutboundMessage)
        case session(QueuedFrame, namespace: String)
        case finish
    }

    private func poll() -> WriterItem? {
        let (phase, direct, attachments, start) = self.state.withLock { state in
            let start = state.nextAttachment
            state.nextAttachment &+= 1
            return (state.phase, state.direct.popFirst(), state.attachments, start)
        }
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

    /// Marks the start of a socket write (for the stalled-writer watchdog).
    func writeStarted() {
        self.state.withLock { $0.writeStartedAt = .now }
    }

    /// Marks the end of a socket write.
    func writeFinished() {
        self.state.withLock { $0.writeStartedAt = nil }
    }

    /// How long the current write has been blocked.
    var currentWriteDuration: Duration? {
        self.state.withLock { $0.writeStartedAt.map { ContinuousClock.now - $0 } }
    }
}
