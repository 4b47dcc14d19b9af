import ArgumentParser
import Foundation
import Logging
import RelayKernel

/// `relay check [--strict] FILE`: every problem with line:column and key path (exit 1 if any),
/// then every warning (exit 1 with `--strict`).
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check", abstract: "Validate a route file.")

    @Flag(help: "Treat warnings as errors.")
    var strict = false

    @Argument(help: "Route file.")
    var file: String

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let warnings: [ConfigIssue]
        do {
            try RelayServer.check(
                file: self.file,
                environment: environment,
                registry: RelayCommand.registry,
                logger: Logger(label: "relay.check", factory: { _ in SwiftLogNoOpLogHandler() })
            )
            warnings = try RouteFile.load(path: self.file, environment: environment, registry: RelayCommand.registry).warnings
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(1)
        }
        let severity = self.strict ? "error" : "warning"
        for warning in warnings {
            let location = warning.line.map { "\($0):\(warning.column ?? 1):" } ?? ""
            FileHandle.standardError.write(Data("\(self.file):\(location) \(severity): \(warning.path): \(warning.message)\n".utf8))
        }
        if self.strict, !warnings.isEmpty { throw ExitCode(1) }
        print(warnings.isEmpty ? "\(self.file): ok" : "\(self.file): ok, \(warnings.count) warning\(warnings.count == 1 ? "" : "s")")
    }
}
