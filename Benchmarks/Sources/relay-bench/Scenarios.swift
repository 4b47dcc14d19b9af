import BenchWire
import Histogram
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// What every scenario shares: the client event loops, their stats, the connector, and where
/// the server's /proc figures come from.
struct Bench: Sendable {
    let group: any EventLoopGroup
    let board: StatsBoard
    let connector: Connector
    let label: String
    let serverPid: Int32?
    let smoke: Bool
    let log: @Sendable (String) -> Void

    func cpu() -> Double? { self.serverPid.flatMap { Proc.cpuSeconds(pid: $0) } }
    func rss() -> Int? { self.serverPid.flatMap { Proc.rssKiB(pid: $0) } }

    /// Waits until `received()` reaches `expected`, stops growing for `idle`, or `limit` passed.
    func drain(expected: Int, idle: Double = 1.0, limit: Double = 5.0) async throws {
        let begin = monotonicNanos()
        var last = -1
        var lastChange = begin
        while true {
            let received = try await self.board.receivedCount()
            let now = monotonicNanos()
            if received >= expected { return }
            if received != last {
                last = received
                lastChange = now
            }
            if Double(now - lastChange) / 1e9 >= idle || Double(now - begin) / 1e9 >= limit { return }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
    }
}

func sleepSeconds(_ seconds: Double) async throws {
    try await Task.sleep(nanoseconds: UInt64(max(0, seconds) * 1e9))
}

func onLoop(_ connection: BenchConnection, _ body: @escaping @Sendable () -> Void) async throws {
    try await connection.eventLoop.submit(body).get()
}

// MARK: pingpong

struct PingPongSpec {
    var connections = 100
    var rate = 5000.0
    var duration = 10.0
}

func pingpong(_ bench: Bench, _ spec: PingPongSpec) async throws -> Report {
    let connections = try await bench.connector.open(count: spec.connections)
    for connection in connections { try await onLoop(connection) { connection.mode = .pinger } }
    let perConnection = spec.rate / Double(spec.connections)

    func run(_ duration: Double) async throws -> (sent: Int, cpu: Double?, clientCPU: Double) {
        try await bench.board.reset(minSeq: 0)
        let cpu0 = bench.cpu()
        let clientCPU0 = Proc.selfCPUSeconds()
        let total = max(1, Int(duration * perConnection))
        let senders = connections.enumerated().map { index, connection in
            PacedSender(
                connection: connection,
                template: nil,
                rate: perConnection,
                phaseNanos: UInt64(Double(index) / spec.rate * 1e9),
                total: total,
                seqBase: 0
            )
        }
        let sent = try await runPaced(senders)
        try await bench.drain(expected: sent)
        return (sent, bench.cpu().flatMap { c in cpu0.map { c - $0 } }, Proc.selfCPUSeconds() - clientCPU0)
    }

    bench.log("pingpong: warm-up")
    _ = try await run(bench.smoke ? 0.3 : 1.0)
    bench.log("pingpong: \(spec.connections) connections, \(spec.rate)/s for \(spec.duration) s")
    let (sent, cpu, clientCPU) = try await run(spec.duration)
    let m = try await bench.board.collect()
    await closeAll(connections)

    var report = Report(scenario: "pingpong", target: bench.label)
    report.add("conns", spec.connections)
    report.add("rate", spec.rate, decimals: 0)
    report.add("sent", sent)
    report.add("recv", m.received)
    report.addLatency(m)
    report.add("errors", m.errors)
    if let cpu { report.add("server_cpu_us_per_msg", cpu * 1e6 / Double(max(1, m.received)), decimals: 2) }
    report.add("client_cpu_us_per_msg", clientCPU * 1e6 / Double(max(1, m.received)), decimals: 2)
    return report
}

// MARK: fan-out family

struct FanoutSpec {
    var name = "fanout"
    var streams = 1
    var subscribersPerStream = 100
    var frameBytes = 1024
    var binary = false
    /// Frames per second per stream.
    var rate = 200.0
    var duration = 10.0
    /// Search for the highest rate whose p99 stays under `boundMs` (with loss ≤ `maxLoss`).
    var search = false
    var boundMs = 50.0
    var maxLoss = 0.001
    var maxTrials = 9
    /// A subscriber that stops reading joins for a second phase (slow-consumer).
    var slowConsumer = false
}

struct Trial {
    let rate: Double
    let sent: Int
    let expected: Int
    let measurement: Measurement
    let cpuSeconds: Double?
    /// CPU time of the load generator itself over the trial.
    let clientCPUSeconds: Double
    let duration: Double

    var loss: Double { self.expected == 0 ? 0 : max(0, Double(self.expected - self.measurement.received)) / Double(self.expected) }
    var deliveriesPerSecond: Double { Double(self.measurement.received) / self.duration }
    var cpuMicrosPerDelivery: Double? { self.cpuSeconds.map { $0 * 1e6 / Double(max(1, self.measurement.received)) } }
    var clientCPUMicrosPerDelivery: Double { self.clientCPUSeconds * 1e6 / Double(max(1, self.measurement.received)) }
}

/// Producers, their subscribers and the frames they send.
final class FanoutRig: @unchecked Sendable {
    let bench: Bench
    let spec: FanoutSpec
    var producers: [BenchConnection] = []
    var streamIds: [String] = []
    var subscribers: [BenchConnection] = []
    var templates: [FrameTemplate] = []
    var nextSeq: UInt64 = 1

    init(bench: Bench, spec: FanoutSpec) {
        self.bench = bench
        self.spec = spec
    }

    func setUp() async throws {
        let timeout = TimeAmount.seconds(10)
        self.producers = try await self.bench.connector.open(count: self.spec.streams)
        for (index, producer) in self.producers.enumerated() {
            let answer = try await producer.request(
                "{\"type\":\"register\",\"deviceName\":\"bench-\(index)\",\"clientType\":\"mobile\",\"produces\":[\"video-frame\"],\"consumes\":[]}",
                expect: "registered",
                timeout: timeout
            ).get()
            let id: String? = answer.withUnsafeReadableBytes { bytes in
                JSONTopLevelScan.string(bytes, JSONTopLevelScan.scan(bytes, keys: [[UInt8](ascii: "streamId")])[0])
            }
            guard let id else { throw BenchError("'registered' without streamId: \(String(buffer: answer))") }
            self.streamIds.append(id)
            self.templates.append(FrameTemplate(streamId: id, size: self.spec.frameBytes, binary: self.spec.binary))
        }
        let total = self.spec.streams * self.spec.subscribersPerStream
        self.subscribers = try await self.bench.connector.open(count: total)
        let format = self.spec.binary ? ",\"format\":\"binary\"" : ""
        var pending: [EventLoopFuture<ByteBuffer>] = []
        for (index, subscriber) in self.subscribers.enumerated() {
            let stream = self.streamIds[index % self.spec.streams]
            pending.append(
                subscriber.request(
                    "{\"type\":\"subscribe\",\"streamId\":\"\(stream)\",\"clientType\":\"dashboard\",\"consumes\":[\"video-frame\"]\(format)}",
                    expect: "subscribed",
                    timeout: timeout
                )
            )
            if pending.count >= 200 {
                for future in pending { _ = try await future.get() }
                pending = []
            }
        }
        for future in pending { _ = try await future.get() }
        for subscriber in self.subscribers { try await onLoop(subscriber) { subscriber.mode = .subscriber } }
    }

    /// One measured run at `rate` frames per second per stream.
    func trial(rate: Double, duration: Double) async throws -> Trial {
        let perProducer = max(1, Int(rate * duration))
        let base = self.nextSeq
        self.nextSeq += UInt64(perProducer) + 1
        try await self.bench.board.reset(minSeq: base)
        let cpu0 = self.bench.cpu()
        let clientCPU0 = Proc.selfCPUSeconds()
        let senders = self.producers.enumerated().map { index, producer in
            PacedSender(
                connection: producer,
                template: self.templates[index],
                rate: rate,
                phaseNanos: UInt64(Double(index) / Double(self.spec.streams) / rate * 1e9),
                total: perProducer,
                seqBase: base
            )
        }
        let sent = try await runPaced(senders)
        let expected = sent * self.spec.subscribersPerStream
        try await self.bench.drain(expected: expected)
        let m = try await self.bench.board.collect()
        let cpu = self.bench.cpu().flatMap { c in cpu0.map { c - $0 } }
        return Trial(
            rate: rate,
            sent: sent,
            expected: expected,
            measurement: m,
            cpuSeconds: cpu,
            clientCPUSeconds: Proc.selfCPUSeconds() - clientCPU0,
            duration: duration
        )
    }

    func tearDown() async {
        await closeAll(self.subscribers + self.producers)
    }
}

func fanout(_ bench: Bench, _ spec: FanoutSpec) async throws -> Report {
    let rig = FanoutRig(bench: bench, spec: spec)
    bench.log("\(spec.name): setting up \(spec.streams) producer(s) × \(spec.subscribersPerStream) subscribers")
    let setupStart = monotonicNanos()
    try await rig.setUp()
    let setupSeconds = Double(monotonicNanos() - setupStart) / 1e9
    bench.log("\(spec.name): warm-up")
    _ = try await rig.trial(rate: 10, duration: bench.smoke ? 0.3 : 1.0)

    var report = Report(scenario: spec.name + (spec.search ? "-search" : ""), target: bench.label)
    report.add("producers", spec.streams)
    report.add("subs_per_stream", spec.subscribersPerStream)
    report.add("frame_bytes", spec.frameBytes)
    report.add("binary", .bool(spec.binary), line: false)
    report.add("setup_s", .double(setupSeconds, decimals: 2), line: false)

    if spec.search {
        var best: Trial?
        var failed: Trial?
        var rate = spec.rate
        var trials: [String] = []
        for _ in 0..<spec.maxTrials {
            bench.log("\(spec.name)-search: trial at \(format(rate, 1)) frames/s per stream")
            let trial = try await rig.trial(rate: rate, duration: spec.duration)
            let pass = trial.measurement.ms(99) < spec.boundMs && trial.loss <= spec.maxLoss && trial.measurement.received > 0
            let cpu = trial.cpuMicrosPerDelivery.map { format($0, 1) } ?? "?"
            trials.append(
                "\(format(rate, 1)):\(format(trial.measurement.ms(99), 2)):\(format(trial.loss * 100, 3)):\(cpu):\(format(trial.clientCPUMicrosPerDelivery, 1)):\(pass ? "ok" : "over")"
            )
            bench.log("  p99=\(format(trial.measurement.ms(99), 2)) ms loss=\(format(trial.loss * 100, 3))% deliveries/s=\(format(trial.deliveriesPerSecond, 0)) → \(pass ? "pass" : "fail")")
            if pass {
                if best == nil || trial.rate > best!.rate { best = trial }
            } else if failed == nil || trial.rate < failed!.rate {
                failed = trial
            }
            if let low = best, let high = failed {
                if high.rate / low.rate < 1.08 { break }
                rate = (low.rate + high.rate) / 2
            } else if best != nil {
                rate *= 2
            } else {
                rate /= 2
            }
            // Let queues empty before the next trial.
            try await sleepSeconds(bench.smoke ? 0.1 : 0.5)
        }
        report.add("bound_ms", spec.boundMs, decimals: 0)
        if let best {
            report.add("max_rate", best.rate, decimals: 1)
            report.add("deliveries_per_s", best.deliveriesPerSecond, decimals: 0)
            report.add("p99_ms", best.measurement.ms(99), decimals: 3)
            report.add("loss_pct", best.loss * 100, decimals: 3)
            if let cpu = best.cpuMicrosPerDelivery { report.add("server_cpu_us_per_delivery", cpu, decimals: 2) }
            report.add("client_cpu_us_per_delivery", best.clientCPUMicrosPerDelivery, decimals: 2)
        } else {
            report.add("max_rate", 0.0, decimals: 1)
            report.add("deliveries_per_s", 0.0, decimals: 0)
        }
        if let failed { report.add("first_failing_rate", .double(failed.rate, decimals: 1), line: false) }
        report.add("trials", .string(trials.joined(separator: " ")), line: false)
    } else {
        bench.log("\(spec.name): \(format(spec.rate, 1)) frames/s per stream for \(spec.duration) s")
        let trial = try await rig.trial(rate: spec.rate, duration: spec.duration)
        report.add("rate", spec.rate, decimals: 1)
        report.add("deliveries_per_s", trial.deliveriesPerSecond, decimals: 0)
        report.add("sent", .int(trial.sent), line: false)
        report.add("received", .int(trial.measurement.received), line: false)
        report.add("duration", .double(trial.duration, decimals: 2), line: false)
        report.addLatency(trial.measurement)
        report.add("loss_pct", trial.loss * 100, decimals: 3)
        report.add("errors", trial.measurement.errors)
        if let cpu = trial.cpuMicrosPerDelivery { report.add("server_cpu_us_per_delivery", cpu, decimals: 2) }
        report.add("client_cpu_us_per_delivery", trial.clientCPUMicrosPerDelivery, decimals: 2)
    }
    await rig.tearDown()
    return report
}

// MARK: slow-consumer

/// Samples the server's RSS every `interval` until stopped.
final class RSSSampler: Sendable {
    private let samples = NIOLockedValueBox<[Int]>([])
    private let task = NIOLockedValueBox<Task<Void, Never>?>(nil)

    func start(pid: Int32?, interval: Double) {
        guard let pid else { return }
        let samples = self.samples
        let task = Task.detached {
            while !Task.isCancelled {
                if let rss = Proc.rssKiB(pid: pid) { samples.withLockedValue { $0.append(rss) } }
                try? await Task.sleep(nanoseconds: UInt64(interval * 1e9))
            }
        }
        self.task.withLockedValue { $0 = task }
    }

    func stop() -> [Int] {
        self.task.withLockedValue { $0?.cancel() }
        return self.samples.withLockedValue { $0 }
    }
}

func slowConsumer(_ bench: Bench, _ spec: FanoutSpec, rounds: Int) async throws -> Report {
    let rig = FanoutRig(bench: bench, spec: spec)
    bench.log("slow-consumer: setting up 1 producer × \(spec.subscribersPerStream) subscribers")
    try await rig.setUp()
    _ = try await rig.trial(rate: 10, duration: bench.smoke ? 0.3 : 1.0)

    // Phases alternate (A: every subscriber reads; B: one more subscriber that stopped reading
    // is subscribed too), so drift in the machine's load falls on both alike. Each B phase
    // gets a fresh stalled subscriber, closed at the end of its phase; its frames never count.
    let sampler = RSSSampler()
    sampler.start(pid: bench.serverPid, interval: bench.smoke ? 0.1 : 0.5)
    var without = Measurement()
    var with = Measurement()
    var expectedWithout = 0
    var expectedWith = 0
    var perRound: [String] = []
    var slowClosed = false
    var rssAfterA: [Int] = []
    for round in 1...rounds {
        bench.log("slow-consumer: round \(round) phase A (every subscriber reads)")
        let a = try await rig.trial(rate: spec.rate, duration: spec.duration)
        without.merge(a.measurement)
        expectedWithout += a.expected
        rssAfterA.append(bench.rss() ?? 0)

        let slow = try await bench.connector.open().get()
        _ = try await slow.request(
            "{\"type\":\"subscribe\",\"streamId\":\"\(rig.streamIds[0])\",\"clientType\":\"dashboard\",\"consumes\":[\"video-frame\"]}",
            expect: "subscribed",
            timeout: .seconds(10)
        ).get()
        try await slow.stopReading().get()
        bench.log("slow-consumer: round \(round) phase B (one subscriber stopped reading)")
        let b = try await rig.trial(rate: spec.rate, duration: spec.duration)
        with.merge(b.measurement)
        expectedWith += b.expected
        slowClosed = try await slow.eventLoop.submit { slow.closedByServer || !slow.channel.isActive }.get() || slowClosed
        try? await slow.close(timeout: .milliseconds(200)).get()
        perRound.append("\(format(a.measurement.ms(99), 2))/\(format(b.measurement.ms(99), 2))")
    }
    try await sleepSeconds(bench.smoke ? 0.2 : 1.0)
    let rss = sampler.stop()
    await rig.tearDown()

    let lossWithout = expectedWithout == 0 ? 0 : max(0, Double(expectedWithout - without.received)) / Double(expectedWithout)
    let lossWith = expectedWith == 0 ? 0 : max(0, Double(expectedWith - with.received)) / Double(expectedWith)
    var report = Report(scenario: "slow-consumer", target: bench.label)
    report.add("subs", spec.subscribersPerStream)
    report.add("frame_bytes", spec.frameBytes)
    report.add("rate", spec.rate, decimals: 1)
    report.add("rounds", rounds)
    report.add("p99_without_ms", without.ms(99), decimals: 3)
    report.add("p99_with_ms", with.ms(99), decimals: 3)
    report.add("p99_ratio", without.ms(99) > 0 ? with.ms(99) / without.ms(99) : 0, decimals: 2)
    report.add("p50_without_ms", .double(without.ms(50), decimals: 3), line: false)
    report.add("p50_with_ms", .double(with.ms(50), decimals: 3), line: false)
    report.add("loss_without_pct", lossWithout * 100, decimals: 3)
    report.add("loss_with_pct", lossWith * 100, decimals: 3)
    report.add("slow_closed_by_server", .bool(slowClosed))
    report.add("p99_per_round_ms", .string(perRound.joined(separator: " ")), line: false)
    if let first = rss.first {
        report.add("rss_start_kib", first)
        report.add("rss_max_kib", rss.max() ?? first)
        report.add("rss_end_kib", rss.last ?? first)
        report.add("rss_after_each_a_kib", .ints(rssAfterA), line: false)
        report.add("rss_series_kib", .ints(rss), line: false)
    }
    return report
}

// MARK: idle

func idle(_ bench: Bench, connections count: Int, settle: Double) async throws -> Report {
    let before = bench.rss()
    let start = monotonicNanos()
    var connections: [BenchConnection] = []
    connections.reserveCapacity(count)
    var errors = 0
    var firstError: String?
    var opened = 0
    while opened < count {
        let batch = min(200, count - opened)
        let futures = (0..<batch).map { _ in bench.connector.open() }
        opened += batch
        for future in futures {
            do { connections.append(try await future.get()) } catch {
                errors += 1
                if firstError == nil { firstError = "\(error)" }
            }
        }
        if opened % 5000 == 0 { bench.log("idle: \(opened) opened") }
    }
    let setupSeconds = Double(monotonicNanos() - start) / 1e9
    try await sleepSeconds(settle)
    let after = bench.rss()
    var dropped = 0
    for connection in connections where try await connection.eventLoop.submit({ !connection.channel.isActive || connection.closedByServer }).get() {
        dropped += 1
    }
    await closeAll(connections)

    var report = Report(scenario: "idle", target: bench.label)
    report.add("conns", count)
    report.add("open", connections.count - dropped)
    report.add("errors", errors + dropped)
    report.add("setup_per_s", Double(count) / max(setupSeconds, 1e-9), decimals: 0)
    if let before, let after {
        report.add("rss_before_kib", before)
        report.add("rss_after_kib", after)
        report.add("kib_per_conn", Double(after - before) / Double(max(1, connections.count)), decimals: 2)
    }
    if let firstError { report.add("first_error", .string(firstError), line: false) }
    return report
}

// MARK: connect-storm

func connectStorm(_ bench: Bench, concurrency: Int, duration: Double, maxConnections: Int) async throws -> Report {
    let start = monotonicNanos()
    let deadline = start + UInt64(duration * 1e9)
    let cpu0 = bench.cpu()
    let clientCPU0 = Proc.selfCPUSeconds()
    let results = try await withThrowingTaskGroup(of: ([UInt64], Int, String?).self) { group in
        let perWorker = max(1, maxConnections / concurrency)
        for _ in 0..<concurrency {
            group.addTask {
                var latencies: [UInt64] = []
                var errors = 0
                var firstError: String?
                var closing: [EventLoopFuture<Void>] = []
                while monotonicNanos() < deadline && latencies.count + errors < perWorker {
                    let t0 = monotonicNanos()
                    do {
                        let connection = try await bench.connector.open().get()
                        latencies.append(monotonicNanos() - t0)
                        closing.append(connection.close())
                    } catch {
                        errors += 1
                        if firstError == nil { firstError = "\(error)" }
                    }
                    if closing.count > 64 {
                        for future in closing { try? await future.get() }
                        closing = []
                    }
                }
                for future in closing { try? await future.get() }
                return (latencies, errors, firstError)
            }
        }
        var all: [([UInt64], Int, String?)] = []
        for try await result in group { all.append(result) }
        return all
    }
    let elapsed = Double(monotonicNanos() - start) / 1e9
    var m = Measurement()
    var errors = 0
    var firstError: String?
    for (latencies, e, first) in results {
        for latency in latencies { _ = m.histogram.record(min(max(latency / 1000, 1), 60_000_000)) }
        m.received += latencies.count
        errors += e
        if firstError == nil { firstError = first }
    }
    let cpu = bench.cpu().flatMap { c in cpu0.map { c - $0 } }
    let clientCPU = Proc.selfCPUSeconds() - clientCPU0

    var report = Report(scenario: "connect-storm", target: bench.label)
    report.add("concurrency", concurrency)
    report.add("conns", m.received)
    report.add("conns_per_s", Double(m.received) / elapsed, decimals: 0)
    report.add("p50_ms", m.ms(50), decimals: 3)
    report.add("p99_ms", m.ms(99), decimals: 3)
    report.add("max_ms", m.maxMs, decimals: 3)
    report.add("errors", errors)
    if let cpu { report.add("server_cpu_us_per_conn", cpu * 1e6 / Double(max(1, m.received)), decimals: 1) }
    report.add("client_cpu_us_per_conn", clientCPU * 1e6 / Double(max(1, m.received)), decimals: 1)
    if let firstError { report.add("first_error", .string(firstError), line: false) }
    return report
}
