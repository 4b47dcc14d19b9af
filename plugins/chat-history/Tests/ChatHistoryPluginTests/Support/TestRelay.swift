import ChatHistoryPlugin
import Foundation
import Logging
import NIOCore
import NIOPosix
import RelayKernel
import ServiceLifecycle

/// A relay serving `chat-history` in this process, on 127.0.0.1 and a free port.
struct TestRelay: Sendable {
    /// The server API key every test relay is started with.
    static let apiKey = "test-api-key-0123456789"
    /// The HS256 secret every test relay is started with (at least 32 bytes).
    static let jwtSecret = "test-jwt-secret-0123456789abcdef0123456789"
    static let environment = ["RELAY_API_KEY": Self.apiKey, "RELAY_JWT_SECRET": Self.jwtSecret]
    static let registry = PluginRegistry([ChatHistoryPlugin.self])

    /// The port it listens on.
    let port: Int

    /// A route file with one `/ws/chat` endpoint routing `chat.*` to a `chat-history` instance
    /// whose `config:` is `config` (YAML flow style, e.g. `{historySize: 3}`).
    static func routeFile(config: String) -> String {
        """
        server:
          host: 127.0.0.1
          drainTimeout: 1
        limits:
          # WSClient sends `Origin: ws://127.0.0.1` (scheme and host of the URL, no port).
          allowedOrigins: ["ws://127.0.0.1"]
        endpoints:
          - path: /ws/chat
            codec: json
            auth: optional
        plugins:
          chat:
            plugin: chat-history
            config: \(config)
        routes:
          - {endpoint: /ws/chat, type: "chat.*", plugin: chat}
        """
    }

    /// Writes the route file to a temporary directory and loads a server from it (nothing listens).
    static func makeServer(config: String, port: Int) async throws -> RelayServer {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("chat-history-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("chat-history.yaml").path
        try Self.routeFile(config: config).write(toFile: path, atomically: true, encoding: .utf8)
        return try await RelayServer(
            options: .init(routeFile: path, environment: Self.environment, port: port),
            registry: Self.registry,
            logger: Self.logger("relay")
        )
    }

    /// Starts a relay, waits until `/healthz` answers, runs `body`, then cancels the relay.
    static func run(config: String = "{}", _ body: (TestRelay) async throws -> Void) async throws {
        let port = try await Self.freePort()
        let server = try await Self.makeServer(config: config, port: port)
        let relay = TestRelay(port: port)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await ServiceGroup(services: server.services, logger: Self.logger("relay.services")).run()
            }
            do {
                try await relay.waitUntilUp()
                try await body(relay)
            } catch {
                group.cancelAll()
                throw error
            }
            group.cancelAll()
        }
    }

    /// A port nobody listens on: bind 127.0.0.1:0, read the port, close.
    static func freePort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0)
            .get()
        guard let port = channel.localAddress?.port else { throw TestFailure("bound socket has no port") }
        try await channel.close()
        return port
    }

    /// Quiet unless `CHAT_HISTORY_TEST_LOGS` is set (tests never bootstrap logging globally).
    static func logger(_ label: String) -> Logger {
        guard let level = ProcessInfo.processInfo.environment["CHAT_HISTORY_TEST_LOGS"] else {
            return Logger(label: label, factory: { _ in SwiftLogNoOpLogHandler() })
        }
        var logger = Logger(label: label, factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = Logger.Level(rawValue: level) ?? .debug
        return logger
    }

    /// Polls `GET /healthz` until it answers 200.
    func waitUntilUp(timeout: Duration = .seconds(10)) async throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let response = try? await self.get("/healthz"), response.status == 200 { return }
            guard ContinuousClock.now < deadline else { throw TestFailure("relay on port \(self.port) did not come up within \(timeout)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}

/// A failure of the test harness itself.
struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
