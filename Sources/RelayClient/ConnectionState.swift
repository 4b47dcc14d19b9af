/// Where a ``RelayClient``'s connection is; ``RelayClient/states`` reports every change.
public enum ConnectionState: Sendable, Hashable {
    /// Made, not connected yet.
    case idle
    /// Opening a socket; `attempt` counts the failed attempts before it (0 on the first try and
    /// after every successful connection).
    case connecting(attempt: Int)
    /// The relay sent `connected`: messages flow. The session says whether it resumed.
    case open(RelaySession)
    /// The connection was lost; the next attempt starts after `delay`. `closeCode` is the close
    /// code as the WebSocket library reports it: the relay's close code (1001 shutting down,
    /// 1013 slow consumer, …), 1006 or 1011 for a connection lost without a close frame, `nil`
    /// when no WebSocket was opened (TCP refused, HTTP error, `getToken` failed).
    case reconnecting(attempt: Int, delay: Duration, closeCode: Int?)
    /// For good: after ``RelayClient/close()`` (`nil`) or a failure that retrying cannot mend.
    case closed(RelayClientError?)
}
