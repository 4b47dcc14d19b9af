import Foundation
import NIOCore
import NIOPosix

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A real `relay serve` for the client tests: the built binary (`RELAY_BIN`, default
/// `.build/debug/relay`), on 127.0.0.1 and a free port, with its own route file.
///
/// It stops by itself: a watchdog `/bin/sh` kills the relay when the watchdog's standard input
/// (a pipe from the test process) ends, which happens on ``stop()`` and when the test process
/// dies in any way. Tests call ``stop()`` in a `defer`, which also keeps the relay alive until
/// the end of the test.
final class RelayProcess {
    /// The HS256 secret tokens are signed with.
    static let secret = "relay-client-tests-secret-0123456789abcdef"

    /// The route file of the tests: pubsub on `/ws` (auth optional) and `/ws/secure` (auth
    /// required); no rate limit; a long resume grace; no JWT leeway.
    static let routeFile = """
        server: {host: 127.0.0.1, heartbeatInterval: 30, resumeGrace: 20, drainTimeout: 1}
        auth: {authTimeout: 3, leeway: 0}
        limits: {messagesPerSecond: 0}
        endpoints:
          - {path: /ws, codec: json, auth: optional}
          - {path: /ws/secure, codec: json, auth: required}
        plugins:
          chat: {plugin: pubsub, config: {presence: false}}
        routes:
        \(["/ws", "/ws/secure"].flatMap { endpoint in
            ["subscribe", "unsubscribe", "publish", "direct"].map { "  - {endpoint: \(endpoint), type: \($0), plugin: chat}" }
        }.joined(separator: "\n"))
        """

    let port: Int
    let directory: URL
    private let binary: URL
    private var process: Process?
    private var watchdog: Process?
    private var input: Pipe?

    /// Starts a relay and waits until `/healthz` answers.
    init(port: Int? = nil) async throws {
        self.binary = Self.binaryURL()
        guard FileManager.default.isExecutableFile(atPath: self.binary.path) else {
            throw TestFailure("relay binary not found at \(self.binary.path): build it (swift build) or set RELAY_BIN")
        }
        self.directory = FileManager.default.temporaryDirectory.appendingPathComponent("relay-client-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
        try Self.routeFile.write(to: self.directory.appendingPathComponent("relay.yaml"), atomically: true, encoding: .utf8)
        if let port {
            self.port = port
        } else {
            self.port = try await Self.freePort()
        }
        try await self.start()
    }

    /// `ws://127.0.0.1:<port><path>`.
    func url(_ path: String) -> URL {
        URL(string: "ws://127.0.0.1:\(self.port)\(path)")!
    }

    /// Starts the process (again, after ``stop()``) on the same port.
    func start() async throws {
        let logURL = self.directory.appendingPathComponent("relay.log")
        if !FileManager.default.fileExists(atPath: logURL.path) {
            _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        }
        let log = try FileHandle(forWritingTo: logURL)
        try log.seekToEnd()
        let relay = Process()
        relay.executableURL = self.binary
        relay.arguments = ["serve", "--config", "relay.yaml", "--port", String(self.port)]
        relay.currentDirectoryURL = self.directory
        relay.environment = Self.environment()
        relay.standardInput = FileHandle.nullDevice
        relay.standardOutput = log
        relay.standardError = log
        try relay.run()
        // The watchdog sends SIGTERM to the relay when its standard input ends: on stop(), or
        // when this process dies and the kernel closes our end of the pipe.
        let watchdog = Process()
        let input = Pipe()
        watchdog.executableURL = URL(fileURLWithPath: "/bin/sh")
        watchdog.arguments = ["-c", #"read -r _; kill "$0""#, String(relay.processIdentifier)]
        watchdog.standardInput = input
        try watchdog.run()
        self.process = relay
        self.watchdog = watchdog
        self.input = input
        try await self.waitHealthy()
    }

    /// Stops the relay (SIGTERM from the watchdog) and waits until it exited.
    func stop() {
        guard let relay = self.process else { return }
        try? self.input?.fileHandleForWriting.close()
        relay.waitUntilExit()
        self.watchdog?.waitUntilExit()
        self.process = nil
        self.watchdog = nil
        self.input = nil
    }

    deinit {
        self.stop()
        try? FileManager.default.removeItem(at: self.directory)
    }

    /// What the relay logged so far (for failure messages).
    var log: String {
        (try? String(contentsOf: self.directory.appendingPathComponent("relay.log"), encoding: .utf8)) ?? ""
    }

    /// A JWT for `subject` from `relay token`, valid for `ttl` seconds.
    func token(subject: String, ttl: Int = 3600) throws -> String {
        let process = Process()
        let output = Pipe()
        process.executableURL = self.binary
        process.arguments = ["token", "--sub", subject, "--ttl", String(ttl)]
        process.environment = Self.environment()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The total of Prometheus counter `name` with label `label` = `value` in `/metrics`.
    func metric(_ name: String, label: String, value: String) async throws -> Double {
        let (data, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(self.port)/metrics")!)
        let prefix = "\(name){"
        return String(decoding: data, as: UTF8.self).split(separator: "\n").reduce(0) { total, line in
            guard line.hasPrefix(prefix), line.contains("\(label)=\"\(value)\""), let number = line.split(separator: " ").last.flatMap({ Double($0) })
            else { return total }
            return total + number
        }
    }

    private func waitHealthy() async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        let health = URL(string: "http://127.0.0.1:\(self.port)/healthz")!
        while ContinuousClock.now < deadline {
            if let process = self.process, !process.isRunning {
                throw TestFailure("relay exited with \(process.terminationStatus):\n\(self.log)")
            }
            if let (_, response) = try? await URLSession.shared.data(from: health), (response as? HTTPURLResponse)?.statusCode == 200 {
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("relay not healthy on port \(self.port) after 20 s:\n\(self.log)")
    }

    private static func binaryURL() -> URL {
        if let path = ProcessInfo.processInfo.environment["RELAY_BIN"] {
            return URL(fileURLWithPath: path)
        }
        // Tests/RelayClientTests/RelayProcess.swift → the package root.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/relay")
    }

    private static func environment() -> [String: String] {
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("RELAY_") }
        environment["RELAY_JWT_SECRET"] = Self.secret
        return environment
    }

    /// A port nothing listens on (bound, read and released).
    static func freePort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress?.port ?? 0
        try await channel.close()
        return port
    }
}
