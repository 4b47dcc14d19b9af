import Logging
import RelayKernel
import ServiceLifecycle
import UnixSignals

/// Reloads the route file on SIGHUP; an invalid file is logged and the old routes stay.
struct ReloadService: Service {
    let server: RelayServer
    let logger: Logger

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            for await _ in signals {
                do {
                    try await self.server.reload()
                    self.logger.notice("routes reloaded")
                } catch {
                    self.logger.error("reload refused; the previous routes stay", metadata: ["error.type": "\(error)"])
                }
            }
        }
    }
}
