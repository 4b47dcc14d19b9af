import NIOCore
import Synchronization

/// The thread-safe side of one connection: what sessions, rooms, timers and other nodes use to
/// wake its writer or to close it. Everything else about a connection is confined to its event
/// loop (``ClientConnection``).
final class ConnectionHandle: SessionConnection {
    /// The connection's event loop and what it shares with its neighbours.
    let loop: EventLoopContext
    /// The connection, until its channel is gone.
    private let connection: LoopConfined<ClientConnection?>
    /// A writer run is scheduled and has not started yet.
    private let pumpPending = Atomic<Bool>(false)
    /// When the connection opened, in milliseconds since 1970 on the relay's clock (the server
    /// API lists it).
    let openedAt: Int64

    init(loop: EventLoopContext, connection: ClientConnection) {
        self.loop = loop
        self.openedAt = connection.state.runtime.clock.millisecondsSince1970
        self.connection = LoopConfined(connection, eventLoop: loop.eventLoop)
    }

    /// Something was queued for the connection: its writer runs once on its event loop, however
    /// many deliveries arrive before it does.
    func wake() {
        guard !self.pumpPending.exchange(true, ordering: .acquiringAndReleasing) else { return }
        self.loop.schedulePump(self)
    }

    /// Runs the writer (on the loop); returns when the oldest frame it wrote was queued.
    func pump() -> NIODeadline? {
        // Cleared before the writer takes frames: a delivery racing with it wakes it again.
        self.pumpPending.store(false, ordering: .releasing)
        return self.connection.value?.pump()
    }

    /// Closes the connection with `reason` once what was queued before is written; from any thread.
    func requestClose(_ reason: CloseReason) {
        self.onLoop { $0.close(reason) }
    }

    /// Lets the connection write what it holds, then close with 1001; from any thread.
    func requestDrain() {
        self.onLoop { $0.drain() }
    }

    /// The channel is gone: nothing reaches the connection any more (on the loop).
    func release() {
        self.connection.value = nil
    }

    /// Runs `body` with the connection later in a turn of its loop, never in the middle of what
    /// the caller (maybe on that loop) is doing.
    private func onLoop(_ body: @escaping @Sendable (ClientConnection) -> Void) {
        let connection = self.connection
        self.loop.eventLoop.execute { connection.value.map(body) }
    }
}
