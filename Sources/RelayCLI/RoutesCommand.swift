import ArgumentParser
import Foundation
import Logging
import RelayKernel

/// `relay routes FILE`: the resolved route table.
struct RoutesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "routes", abstract: "Print the resolved route table of a route file.")

    @Argument(help: "Route file.")
    var file: String

    func run() async throws {
        do {
            print(
                try RelayServer.describeRoutes(
                    file: self.file,
                    environment: ProcessInfo.processInfo.environment,
                    registry: RelayCommand.registry,
                    logger: Logger(label: "relay.routes", factory: { _ in SwiftLogNoOpLogHandler() })
                )
            )
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
