import ArgumentParser
import Foundation
import Logging
import RelayKernel
import ServiceLifecycle
import UnixSignals

/// `relay serve [--config routes.yaml] [--port N]`
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Run the relay.")

    @Option(name: .shortAndLong, help: "Route file.")
    var config = "routes.yaml"

    @Option(name: .shortAndLong, help: "Port (overrides server.port and RELAY_PORT).")
    var port: Int?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let registry = RelayCommand.registry
        let file: RouteFile
        do {
            file = try RouteFile.load(path: self.config, environment: environment, registry: registry)
        } catch {
            FileHandle.standardError.write(Data((error.description + "\n").utf8))
            throw ExitCode(1)
        }
        let logger = LogSetup.bootstrap(format: file.configuration.server.logFormat, level: file.configuration.server.logLevel)
        // Missing token keys are no mere warning here: the server refuses to start below.
        for warning in file.warnings where !file.keySourceProblems.contains(warning) {
            logger.warning("route file warning", metadata: ["relay.config.warning": "\(self.config):\(warning)"])
        }
        let metrics = MetricsExposition()
        let server: RelayServer
        do {
            server = try await RelayServer(
                options: .init(
                    routeFile: self.config,
                    environment: environment,
                    port: self.port,
                    renderMetrics: { metrics.render() },
                    openBackends: { configuration in try await BackendOpener.open(configuration, environment: environment, logger: logger) }
                ),
                registry: registry,
                logger: logger
            )
        } catch let error as RelayConfigError {
            FileHandle.standardError.write(Data((error.description + "\n").utf8))
            logger.critical("relay cannot start: the route file is not usable here", metadata: ["relay.config.problems": "\(error.issues.count)"])
            throw ExitCode(1)
        } catch {
            logger.critical("relay cannot start", metadata: ["error.type": "\(error)"])
            throw ExitCode(1)
        }
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: ReloadService(server: server, logger: logger))] + server.services.map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
        logger.notice("relay stopped")
    }
}
