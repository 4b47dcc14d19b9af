import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import RelayKernel
import ServiceLifecycle

/// A real relay for ``TestRelayMode/live``: the route file in a temporary directory, a
/// `RelayServer` on 127.0.0.1 and a free port, its services run by ``run(routes:registry:environment:logger:_:)``.
struct LiveRelay: Sendable {
    /// The port it listens on.
    let port: Int

    /// Starts a relay, waits until `/healthz` answers, runs `body`, then stops the relay.
    static func run<Result: Sendable>(
        routes: String,
        registry: PluginRegistry,
        environment: [String: String],
        logger: Logger,
        _ body: @Sendable (LiveRelay) async throws -> Result
    ) async throws -> Result {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("relay-testing-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("routes.yaml").path
        try routes.write(toFile: file, atomically: true, encoding: .utf8)
        let port = try await Self.freePort()
        var environment = environment
        environment["RELAY_SERVER_HOST"] = "127.0.0.1"
        environment["RELAY_SERVER_DRAIN_TIMEOUT"] = environment["RELAY_SERVER_DRAIN_TIMEOUT"] ?? "1"
        let server = try await RelayServer(options: .init(routeFile: file, environment: environment, port: port), registry: registry, logger: logger)
        let relay = LiveRelay(port: port)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await ServiceGroup(services: server.services, logger: logger).run()
            }
            defer { group.cancelAll() }
            try await relay.waitUntilUp()
            return try await body(relay)
        }
    }

    /// An HTTP request to the relay.
    func request(_ method: String, _ path: String, headers: [String: String], body: ByteBuffer) async throws -> (status: Int, contentType: String, body: String, headers: [String: String]) {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(self.port)\(path)")
        request.method = .RAW(value: method.uppercased())
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if body.readableBytes > 0 { request.body = .bytes(body) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        var fields: [String: String] = [:]
        for header in response.headers { fields[header.name.lowercased()] = header.value }
        return (Int(response.status.code), fields["content-type"] ?? "", String(buffer: bytes), fields)
    }

    private func waitUntilUp(timeout: Duration = .seconds(10)) async throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let answer = try? await self.request("GET", "/healthz", headers: [:], body: ByteBuffer()), answer.status == 200 { return }
            guard ContinuousClock.now < deadline else { throw RelayTestError("the relay on port \(self.port) did not come up within \(timeout)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// A port nobody listens on: bind 127.0.0.1:0, read the port, close.
    private static func freePort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0)
            .get()
        defer { channel.close(promise: nil) }
        guard let port = channel.localAddress?.port else { throw RelayTestError("a bound socket has no port") }
        return port
    }
}
