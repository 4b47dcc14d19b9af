import ArgumentParser
import Foundation
import Logging
import RelayKernel

/// `relay check FILE`: every problem with line:column and key path; exit 1 if any.
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check", abstract: "Validate a route file.")

    @Argument(help: "Route file.")
    var file: String

    func run() async throws {
        do {
            try RelayServer.check(
                file: self.file,
                environment: ProcessInfo.processInfo.environment,
                registry: RelayCommand.registry,
                logger: Logger(label: "relay.check", factory: { _ in SwiftLogNoOpLogHandler() })
            )
            print("\(self.file): ok")
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
