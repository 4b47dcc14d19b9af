import NIOWebSocket

/// What carries a ``ClientConnection``'s frames: a WebSocket channel
/// (``WebSocketConnectionHandler``), or an Engine.IO long-polling session (``PollingTransport``).
/// Called on the connection's event loop only.
protocol ConnectionTransport: AnyObject {
    /// Whether the transport takes more frames now; when it stops, the connection's writer
    /// waits for ``ClientConnection/becameWritable()``.
    var isWritable: Bool { get }

    /// Queues `frame` (a text or binary message) for the client.
    func write(_ frame: WebSocketFrame)

    /// Sends what was written.
    func flush()

    /// Ends the connection with `reason`, the way the transport tells its client.
    func close(_ reason: CloseReason)

    /// Drops the connection at once, without telling the client.
    func abort()

    /// The connection can take messages again after ``ClientConnection/mayRead()`` said no.
    func resumeReading()
}
