// relay-bench: the load generator of Relay's benchmark suite (issue 9).
//
// It drives any server speaking seed 004's protocol over WebSocket on 127.0.0.1 (Relay with
// deploy/ml-alerts.yaml, or baseline-relay) and prints one line of figures per scenario (one
// JSON object with --json). Latencies go into HdrHistograms, measured from each message's
// intended send time on an open-loop schedule, so a stall cannot hide behind a slowed sender.
//
//   relay-bench pingpong --port 8080 [--rate 5000] [--connections 100]
//   relay-bench fanout --port 8080 [--subscribers 100 --frame-bytes 1024] [--search]
//   relay-bench many-streams | binary-fanout | slow-consumer | idle | connect-storm …
//   relay-bench pubsub-direct | pubsub-room --port A [--port-b B] --path /ws --auth none …
//     (pubsub plugin; cluster mode: senders on node A, receivers on node B or split A/B)
//
// Every scenario is bounded in count and time (--timeout); --smoke runs a seconds-long
// version with tiny counts.

import ArgumentParser
import BenchWire
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

@main
struct RelayBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relay-bench",
        abstract: "Load generator for Relay and the baseline (seed 004's protocol over WebSocket, 127.0.0.1 only).",
        subcommands: [
            PingPong.self, Fanout.self, ManyStreams.self, BinaryFanout.self, SlowConsumer.self, Idle.self, ConnectStorm.self,
            PubSubDirect.self, PubSubRoom.self,
        ]
    )
}

/// Options every scenario takes.
struct CommonOptions: ParsableArguments {
    @Option(help: "Server port on 127.0.0.1.")
    var port: Int

    @Option(help: "WebSocket endpoint path.")
    var path: String = "/api/streams/ws"

    @Option(help: "How clients authenticate: first-message ({\"type\":\"auth\"}), query (?token=) or none.")
    var auth: String = "first-message"

    @Option(help: "Token to send (default: an HS256 JWT minted with --secret, or RELAY_JWT_SECRET).")
    var token: String?

    @Option(help: "HS256 secret for minting tokens (default: $RELAY_JWT_SECRET).")
    var secret: String?

    @Option(help: "The token's `sub` (the user owning the benchmark's streams).")
    var sub: String = "bench"

    @Option(help: "Distinct users: connections take N tokens in turn (subs <sub>-0 … <sub>-N-1), so a server sees N identities instead of one.")
    var users: Int = 1

    @Option(help: "Name of the server under test, printed with the figures (e.g. relay, baseline).")
    var label: String = ""

    @Option(help: "Server process id: its RSS and CPU time are read from /proc.")
    var serverPid: Int32?

    @Option(help: "Client event loop threads.")
    var threads: Int = System.coreCount

    @Option(help: "Give up (exit 2) after this many seconds.")
    var timeout: Double = 600

    @Option(help: "Time allowed for one connection's upgrade and auth, in seconds.")
    var connectTimeout: Double = 15

    @Flag(help: "Print one JSON object instead of the one-line summary.")
    var json = false

    @Flag(help: "A seconds-long version with tiny counts (CI): no timing assertions.")
    var smoke = false

    @Flag(help: "Progress on stderr.")
    var verbose = false

    func token(claims: [(String, String)] = [], sub: String? = nil) throws -> String {
        if let token = self.token { return token }
        let secret = self.secret ?? getenv("RELAY_JWT_SECRET").map { String(cString: $0) }
        guard let secret, !secret.isEmpty else { return "bench-token-unsigned" }
        return JWT.hs256(secret: Array(secret.utf8), sub: sub ?? self.sub, extraClaims: claims, ttl: 6 * 3600)
    }

    /// The connections' tokens: one, or one per user with `--users`.
    func tokens() throws -> [String] {
        guard self.users > 1 else { return [try self.token()] }
        return try (0..<self.users).map { try self.token(sub: "\(self.sub)-\($0)") }
    }

    /// A connector like the scenario's own, to another server on 127.0.0.1 (a second node).
    func connector(port: Int, bench: Bench) -> Connector {
        let target = bench.connector.target
        return Connector(
            group: bench.group,
            board: bench.board,
            target: Target(port: port, path: target.path, auth: target.auth, tokens: target.tokens, connectTimeout: target.connectTimeout)
        )
    }

    /// Sets up the client, runs `body`, prints its report, shuts down. A watchdog ends the
    /// process if the scenario overruns `--timeout`.
    func run(_ body: @escaping @Sendable (Bench) async throws -> Report) async throws {
        guard let auth = AuthMode(rawValue: self.auth) else { throw ValidationError("--auth: first-message, query or none") }
        let limit = Proc.raiseFileLimit()
        let timeout = self.timeout
        let watchdog = Task.detached {
            try? await Task.sleep(nanoseconds: UInt64(timeout * 1e9))
            if Task.isCancelled { return }
            FileHandleOut.stderr("relay-bench: scenario exceeded --timeout \(timeout) s")
            Glibc.exit(2)
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, self.threads))
        let board = StatsBoard(group: group)
        let target = Target(
            port: self.port,
            path: self.path,
            auth: auth,
            tokens: try self.tokens(),
            connectTimeout: .milliseconds(Int64(self.connectTimeout * 1000))
        )
        let verbose = self.verbose
        let bench = Bench(
            group: group,
            board: board,
            connector: Connector(group: group, board: board, target: target),
            label: self.label,
            serverPid: self.serverPid,
            smoke: self.smoke,
            log: { message in if verbose { FileHandleOut.stderr("relay-bench: \(message)") } }
        )
        bench.log("file descriptor limit \(limit)")
        let report: Report
        do {
            report = try await body(bench)
        } catch {
            watchdog.cancel()
            try? await group.shutdownGracefully()
            throw error
        }
        watchdog.cancel()
        print(self.json ? report.json : report.line)
        try? await group.shutdownGracefully()
    }
}

/// `--smoke` scales a figure down.
func pick<T>(_ smoke: Bool, _ full: T, _ small: T) -> T { smoke ? small : full }

struct PingPong: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pingpong",
        abstract: "N connections send {\"type\":\"ping\"} at a fixed total rate; latency to each pong."
    )
    @OptionGroup var common: CommonOptions
    @Option(help: "Connections.") var connections: Int = 100
    @Option(help: "Total pings per second.") var rate: Double = 5000
    @Option(help: "Measured seconds.") var duration: Double = 10

    func run() async throws {
        let spec = PingPongSpec(
            connections: pick(self.common.smoke, self.connections, min(self.connections, 10)),
            rate: pick(self.common.smoke, self.rate, min(self.rate, 200)),
            duration: pick(self.common.smoke, self.duration, 1)
        )
        try await self.common.run { bench in try await pingpong(bench, spec) }
    }
}

/// Options of the fan-out family.
struct FanoutOptions: ParsableArguments {
    @Option(help: "Frames per second per stream (the target rate; the start rate with --search).")
    var rate: Double?
    @Option(help: "Measured seconds (per trial with --search).")
    var duration: Double?
    @Flag(help: "Search for the highest rate whose p99 stays under --bound-ms with loss ≤ --max-loss-pct.")
    var search = false
    @Option(help: "p99 bound of the search, ms.")
    var boundMs: Double = 50
    @Option(help: "Largest loss (percent of expected deliveries) a passing trial may have.")
    var maxLossPct: Double = 0.1
    @Option(help: "Most trials of the search.")
    var maxTrials: Int = 9

    func apply(to spec: inout FanoutSpec, smoke: Bool, defaultRate: Double, defaultDuration: Double, searchDuration: Double = 4) {
        spec.rate = self.rate ?? defaultRate
        spec.search = self.search
        spec.boundMs = self.boundMs
        spec.maxLoss = self.maxLossPct / 100
        spec.maxTrials = smoke ? min(self.maxTrials, 2) : self.maxTrials
        spec.duration = smoke ? 0.5 : (self.duration ?? (self.search ? searchDuration : defaultDuration))
    }
}

struct Fanout: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fanout",
        abstract: "1 producer → N subscribers of one stream (JSON video frames)."
    )
    @OptionGroup var common: CommonOptions
    @OptionGroup var options: FanoutOptions
    @Option(help: "Subscribers.") var subscribers: Int = 100
    @Option(help: "Frame size in bytes (the whole JSON message).") var frameBytes: Int = 1024

    func run() async throws {
        var spec = FanoutSpec()
        spec.name = "fanout-\(self.subscribers)"
        spec.subscribersPerStream = pick(self.common.smoke, self.subscribers, min(self.subscribers, 10))
        spec.frameBytes = self.frameBytes
        self.options.apply(to: &spec, smoke: self.common.smoke, defaultRate: self.common.smoke ? 50 : 200, defaultDuration: 10)
        let fixed = spec
        try await self.common.run { bench in try await fanout(bench, fixed) }
    }
}

struct ManyStreams: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "many-streams",
        abstract: "P producers, each with its own stream and K subscribers (default 100 × 10)."
    )
    @OptionGroup var common: CommonOptions
    @OptionGroup var options: FanoutOptions
    @Option(help: "Producers (streams).") var producers: Int = 100
    @Option(help: "Subscribers per stream.") var subscribers: Int = 10
    @Option(help: "Frame size in bytes.") var frameBytes: Int = 1024

    func run() async throws {
        var spec = FanoutSpec()
        spec.name = "many-streams"
        spec.streams = pick(self.common.smoke, self.producers, min(self.producers, 5))
        spec.subscribersPerStream = pick(self.common.smoke, self.subscribers, min(self.subscribers, 3))
        spec.frameBytes = self.frameBytes
        self.options.apply(to: &spec, smoke: self.common.smoke, defaultRate: self.common.smoke ? 20 : 20, defaultDuration: 10)
        let fixed = spec
        try await self.common.run { bench in try await fanout(bench, fixed) }
    }
}

struct BinaryFanout: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "binary-fanout",
        abstract: "1 producer → N subscribers, binary video frames (uint32 header length + JSON header + payload)."
    )
    @OptionGroup var common: CommonOptions
    @OptionGroup var options: FanoutOptions
    @Option(help: "Subscribers.") var subscribers: Int = 100
    @Option(help: "Payload bytes per frame.") var frameBytes: Int = 16384

    func run() async throws {
        var spec = FanoutSpec()
        spec.name = "binary-fanout"
        spec.subscribersPerStream = pick(self.common.smoke, self.subscribers, min(self.subscribers, 10))
        spec.frameBytes = self.frameBytes
        spec.binary = true
        self.options.apply(to: &spec, smoke: self.common.smoke, defaultRate: self.common.smoke ? 20 : 50, defaultDuration: 10)
        let fixed = spec
        try await self.common.run { bench in try await fanout(bench, fixed) }
    }
}

struct SlowConsumer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slow-consumer",
        abstract: "1 producer → N subscribers; alternating phases with and without one more subscriber that stopped reading. The others' p99 in each, and the server's RSS."
    )
    @OptionGroup var common: CommonOptions
    @Option(help: "Subscribers that keep reading.") var subscribers: Int = 50
    @Option(help: "Frame size in bytes (JSON).") var frameBytes: Int = 4096
    @Option(help: "Frames per second.") var rate: Double = 200
    @Option(help: "Seconds of each phase.") var duration: Double = 5
    @Option(help: "Rounds of (phase A: all read, phase B: one more subscriber stalled).") var rounds: Int = 3

    func run() async throws {
        var spec = FanoutSpec()
        spec.name = "slow-consumer"
        spec.subscribersPerStream = pick(self.common.smoke, self.subscribers, min(self.subscribers, 5))
        spec.frameBytes = self.frameBytes
        spec.rate = pick(self.common.smoke, self.rate, min(self.rate, 100))
        spec.duration = pick(self.common.smoke, self.duration, 1)
        spec.slowConsumer = true
        let fixed = spec
        let rounds = pick(self.common.smoke, max(1, self.rounds), 1)
        try await self.common.run { bench in try await slowConsumer(bench, fixed, rounds: rounds) }
    }
}

struct Idle: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "idle",
        abstract: "N idle authenticated connections; the server's RSS per connection ((after − before) / N, needs --server-pid)."
    )
    @OptionGroup var common: CommonOptions
    @Option(help: "Connections.") var connections: Int = 5000
    @Option(help: "Seconds to wait after the last connection before reading RSS.") var settle: Double = 3

    func run() async throws {
        let count = pick(self.common.smoke, self.connections, min(self.connections, 100))
        let settle = pick(self.common.smoke, self.settle, 0.3)
        try await self.common.run { bench in try await idle(bench, connections: count, settle: settle) }
    }
}

struct ConnectStorm: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connect-storm",
        abstract: "New connections per second: connect, upgrade, token auth, `connected`, close; C at a time."
    )
    @OptionGroup var common: CommonOptions
    @Option(help: "Connections in flight.") var concurrency: Int = 32
    @Option(help: "Seconds.") var duration: Double = 5
    @Option(help: "Most connections in all.") var maxConnections: Int = 50000

    func run() async throws {
        let concurrency = pick(self.common.smoke, self.concurrency, min(self.concurrency, 4))
        let duration = pick(self.common.smoke, self.duration, 1)
        let maxConnections = pick(self.common.smoke, self.maxConnections, min(self.maxConnections, 200))
        try await self.common.run { bench in
            try await connectStorm(bench, concurrency: concurrency, duration: duration, maxConnections: maxConnections)
        }
    }
}

/// Options of the pubsub scenarios (cluster mode, issue 7).
struct PubSubOptions: ParsableArguments {
    @Option(help: "Port of the cluster's second node on 127.0.0.1 (receivers go there); absent: every client on --port.")
    var portB: Int?
    @Option(help: "Process id of the second node (its CPU time is added to the first's).")
    var serverPidB: Int32?
    @Option(help: "Message size in bytes (the whole JSON message the sender writes).")
    var messageBytes: Int = 256
    @Option(help: "Messages per second per sender (the start rate with --search).")
    var rate: Double?
    @Option(help: "Measured seconds (per trial with --search).")
    var duration: Double?
    @Flag(help: "Search for the highest rate whose p99 stays under --bound-ms with loss ≤ --max-loss-pct and no error.")
    var search = false
    @Option(help: "p99 bound of the search, ms.")
    var boundMs: Double = 50
    @Option(help: "Largest loss (percent of expected deliveries) a passing trial may have.")
    var maxLossPct: Double = 0.1
    @Option(help: "Most trials of the search (rates tried; a repeated trial does not count).")
    var maxTrials: Int = 9
    @Flag(help: "Search: a failing trial is final (by default it is run once more and the rate fails only if both fail).")
    var noRepeat = false
    @Option(help: "PostgreSQL postmaster pid: CPU time of it and its backends per trial.")
    var pgPid: Int32?

    /// Runs the pubsub scenario `spec`; with --port-b, the second node's clients connect there.
    func run(_ spec: PubSubSpec, common: CommonOptions) async throws {
        let portB = self.portB
        let pidB = self.serverPidB
        try await common.run { bench in
            try await pubsubScenario(bench, spec, nodeB: portB.map { common.connector(port: $0, bench: bench) }, serverPidB: pidB)
        }
    }

    func apply(to spec: inout PubSubSpec, smoke: Bool, defaultRate: Double) {
        spec.confirmFailures = !self.noRepeat
        spec.pgPid = self.pgPid
        spec.messageBytes = self.messageBytes
        spec.rate = self.rate ?? defaultRate
        spec.search = self.search
        spec.boundMs = self.boundMs
        spec.maxLoss = self.maxLossPct / 100
        spec.maxTrials = smoke ? min(self.maxTrials, 2) : self.maxTrials
        spec.duration = smoke ? 0.5 : (self.duration ?? (self.search ? 4 : 10))
    }
}

struct PubSubDirect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pubsub-direct",
        abstract: "1:1: P senders on --port send pubsub `direct` messages, each to its own receiver on --port-b (or --port)."
    )
    @OptionGroup var common: CommonOptions
    @OptionGroup var options: PubSubOptions
    @Option(help: "Sender → receiver pairs.") var pairs: Int = 10

    func run() async throws {
        var spec = PubSubSpec()
        spec.kind = .direct
        spec.pairs = pick(self.common.smoke, self.pairs, min(self.pairs, 2))
        self.options.apply(to: &spec, smoke: self.common.smoke, defaultRate: self.common.smoke ? 20 : 50)
        try await self.options.run(spec, common: self.common)
    }
}

struct PubSubRoom: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pubsub-room",
        abstract: "Room fan-out: 1 publisher on --port publishes to a topic with N subscribers, half on --port-b (or all on --port)."
    )
    @OptionGroup var common: CommonOptions
    @OptionGroup var options: PubSubOptions
    @Option(help: "Subscribers of the topic.") var subscribers: Int = 100

    func run() async throws {
        var spec = PubSubSpec()
        spec.kind = .room
        spec.subscribers = pick(self.common.smoke, self.subscribers, min(self.subscribers, 10))
        self.options.apply(to: &spec, smoke: self.common.smoke, defaultRate: self.common.smoke ? 10 : 20)
        try await self.options.run(spec, common: self.common)
    }
}

/// Writes to standard error (one line).
enum FileHandleOut {
    static func stderr(_ line: String) {
        let text = line + "\n"
        _ = text.withCString { write(2, $0, strlen($0)) }
    }
}
