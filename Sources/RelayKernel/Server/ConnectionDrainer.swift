import Logging
import ServiceLifecycle

/// On graceful shutdown: stops taking clients, lets every connection flush its queue and close
/// with 1001, and hard-closes what remains when the drain time is up.
struct ConnectionDrainer: Service {
    let state: RelayState
    let drainTimeout: Double

    func run() async throws {
        try? await gracefulShutdown()
        self.state.logger.notice("draining connections", metadata: ["relay.connections": "\(self.state.liveConnections)"])
        // In a cluster, frames go out once journaled: journal what waits before writing it.
        await self.state.clusterNode?.writeJournals(within: .seconds(min(2, self.drainTimeout / 2)))
        self.state.beginDrain()
        let deadline = ContinuousClock.now + .seconds(self.drainTimeout)
        while self.state.liveConnections > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        if self.state.liveConnections > 0 {
            self.state.logger.notice("drain time is up; closing the rest", metadata: ["relay.connections": "\(self.state.liveConnections)"])
            self.state.closeRemaining()
        }
    }
}
