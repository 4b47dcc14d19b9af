import NIOCore
import NIOPosix
import NIOWebSocket
import RelayKernel
import Synchronization
import WebSocketKit

/// One real WebSocket connection of a ``TestClient`` in ``TestRelayMode/live``: a callback
/// drains the socket into an inbox the client reads in order.
final class LiveConnection: Sendable {
    private struct State {
        var inbox: [JSONValue] = []
        /// Messages received other than `connected` (what `lastSeen` counts).
        var received = 0
        var closed = false
    }

    private let socket: WebSocket
    private let state = Mutex(State())

    private init(socket: WebSocket) {
        self.socket = socket
    }

    /// Connects to `path` (with its query) and waits for `connected`; throws the relay's
    /// ``CloseReason`` when it closes the connection instead.
    static func open(port: Int, path: String, timeout: Duration = .seconds(5)) async throws -> (LiveConnection, JSONValue) {
        let holder = Mutex<LiveConnection?>(nil)
        try await WebSocket.connect(to: "ws://127.0.0.1:\(port)\(path)", configuration: .init(maxFrameSize: 1 << 24), on: MultiThreadedEventLoopGroup.singleton) { socket in
            let connection = LiveConnection(socket: socket)
            socket.onText { _, text in connection.push(TestClient.parse(text: ByteBuffer(string: text))) }
            socket.onBinary { _, frame in connection.push(TestClient.header(ofBinary: frame)) }
            socket.onClose.whenComplete { _ in connection.state.withLock { $0.closed = true } }
            holder.withLock { $0 = connection }
        }.get()
        // websocket-kit may complete the upgrade before it hands over the socket.
        let deadline = ContinuousClock.now + timeout
        var opened = holder.withLock { $0 }
        while opened == nil, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(1))
            opened = holder.withLock { $0 }
        }
        guard let connection = opened else { throw RelayTestError("no connection to \(path)") }
        guard let first = try await connection.next(timeout: timeout) else {
            if let code = connection.socket.closeCode, let known = Self.closeCode(code) { throw CloseReason(known, "closed by the relay") }
            throw RelayTestError("no 'connected' message on \(path)")
        }
        return (connection, first)
    }

    /// Sends one text frame.
    func send(_ text: String) async throws {
        try await self.socket.send(text)
    }

    /// The oldest unread message; `nil` when none arrives within `timeout` or the socket closed.
    func next(timeout: Duration) async throws -> JSONValue? {
        let deadline = ContinuousClock.now + timeout
        while true {
            let (message, closed) = self.state.withLock { state -> (JSONValue?, Bool) in
                if state.inbox.isEmpty { return (Optional<JSONValue>.none, state.closed) }
                return (state.inbox.removeFirst(), false)
            }
            if let message { return message }
            if closed || ContinuousClock.now >= deadline { return nil }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    /// Every message waiting now.
    func takeAll() -> [JSONValue] {
        self.state.withLock { state in
            defer { state.inbox.removeAll() }
            return state.inbox
        }
    }

    /// Messages received other than `connected`.
    var receivedCount: Int { self.state.withLock { $0.received } }

    /// The close code the relay sent, once it closed.
    var closeReason: CloseReason? {
        guard let code = self.socket.closeCode, self.socket.isClosed, let known = Self.closeCode(code) else { return nil }
        return CloseReason(known, "")
    }

    /// Closes with `code` and waits for the socket to end.
    func close(code: WebSocketErrorCode) async {
        try? await self.socket.close(code: code)
    }

    private func push(_ message: JSONValue) {
        self.state.withLock { state in
            state.inbox.append(message)
            if message["type"]?.stringValue != "connected" { state.received += 1 }
        }
    }

    private static func closeCode(_ code: WebSocketErrorCode) -> CloseCode? {
        CloseCode(rawValue: UInt16(webSocketErrorCode: code))
    }
}
