import ArgumentParser
import Foundation

/// `relay reload --pid N`: asks a running relay to reload its route file (SIGHUP).
struct ReloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "reload", abstract: "Reload the route file of a running relay (sends SIGHUP).")

    @Option(help: "Process id of the relay.")
    var pid: Int32

    func run() throws {
        guard kill(self.pid, SIGHUP) == 0 else { throw ValidationError("cannot signal process \(self.pid)") }
    }
}
