/// Where a ``TestRelay`` runs the plugins.
public enum TestRelayMode: Sendable, CaseIterable {
    /// In the test process without sockets, on a manual clock that only moves with
    /// ``TestRelay/advance(by:)``: fast and deterministic.
    case inProcess
    /// A real relay (`RelayServer`) on 127.0.0.1 and a free port, reached over real WebSockets
    /// and HTTP, on the system clock (``TestRelay/advance(by:)`` waits). A dropped client closes
    /// with code 4000, which the relay treats like a lost connection.
    case live
}
