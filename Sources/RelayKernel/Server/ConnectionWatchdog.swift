import ServiceLifecycle

/// One loop for every connection's time-outs, heartbeats and stalled writes (instead of a
/// sleeping task per connection): every 250 ms, or as often as the tightest Socket.IO
/// heartbeat of the current routes needs (a quarter of its interval or time-out, at least
/// 10 ms).
struct ConnectionWatchdog: Service {
    let state: RelayState

    func run() async throws {
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            try? await Task.sleep(for: self.tick)
            let now = ContinuousClock.now
            for connection in self.state.connections {
                connection.inspect(now: now)
            }
        }
    }

    private var tick: Duration {
        let socketIO = self.state.currentTable.configuration.endpoints
            .filter { $0.codec == "socketio" }
            .map { min($0.socketio.pingInterval, $0.socketio.pingTimeout) / 4 }
        return .milliseconds(max(10, min(250, socketIO.min() ?? 250)))
    }
}
