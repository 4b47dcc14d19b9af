/// The connection a session is attached to, as delivery sees it: something to wake when a frame
/// is queued, and to close when the client must go.
protocol SessionConnection: AnyObject, Sendable {
    /// Frames were queued: the connection's writer should run.
    func wake()

    /// The connection should close with `reason` (from any thread).
    func requestClose(_ reason: CloseReason)
}
