import BenchWire
import NIOCore

// Cross-node delivery in cluster mode (issue 7): the pubsub plugin's `direct` (1:1) and
// `publish` (room fan-out), with the clients on two nodes of one cluster (`--port` is node A,
// `--port-b` node B) or all on node A (no `--port-b`). Senders are always on node A.
//
// Latency is end to end with the load generator's own clock: every message carries, inside its
// `data`, `seq` and `bt` (the intended send time on the open-loop schedule, monotonic
// nanoseconds); the receiving client (same process) subtracts on arrival.

struct PubSubSpec {
    enum Kind: String { case direct, room }
    var kind = Kind.direct
    /// `direct`: sender → receiver pairs (sender on A, receiver on B).
    var pairs = 10
    /// `room`: subscribers of the topic (half on A, half on B when cross-node).
    var subscribers = 100
    var messageBytes = 256
    /// Messages per second per sender.
    var rate = 50.0
    var duration = 10.0
    var search = false
    var boundMs = 50.0
    var maxLoss = 0.001
    var maxTrials = 9
    /// A failing search trial is run once more; its rate fails only if both fail.
    var confirmFailures = true
    var topic = "bench-room"
    /// PostgreSQL's postmaster: its tree's CPU time per trial.
    var pgPid: Int32?
}

/// One measured run and what else it cost or broke.
struct PubSubTrial {
    let trial: Trial
    /// PostgreSQL's CPU seconds during the trial (with `--pg-pid`).
    let pgCPUSeconds: Double?
    /// Connections the servers closed during the trial (a slow consumer's queue overflowed).
    let closed: Int

    var pgCPUMicrosPerDelivery: Double? {
        self.pgCPUSeconds.map { $0 * 1e6 / Double(max(1, self.trial.measurement.received)) }
    }
}

/// The clients of one pubsub scenario and their schedules.
final class PubSubRig: @unchecked Sendable {
    let bench: Bench
    let spec: PubSubSpec
    let nodeB: Connector?
    let serverPidB: Int32?
    private(set) var senders: [BenchConnection] = []
    private(set) var receivers: [BenchConnection] = []
    /// Receivers on node B.
    private(set) var receiversOnB = 0
    private var templates: [FrameTemplate] = []
    private var nextSeq: UInt64 = 1

    init(bench: Bench, spec: PubSubSpec, nodeB: Connector?, serverPidB: Int32?) {
        self.bench = bench
        self.spec = spec
        self.nodeB = nodeB
        self.serverPidB = serverPidB
    }

    /// Deliveries expected per message sent.
    var fanout: Int { self.spec.kind == .direct ? 1 : self.spec.subscribers }

    /// Both servers' CPU seconds so far (nil without pids).
    func serverCPU() -> Double? {
        guard let a = self.bench.cpu() else { return nil }
        guard let pidB = self.serverPidB else { return a }
        return Proc.cpuSeconds(pid: pidB).map { a + $0 }
    }

    private func open(count: Int, onB: Bool) async throws -> [BenchConnection] {
        try await (onB ? self.nodeB! : self.bench.connector).open(count: count, concurrency: 50)
    }

    private static func subscribe(_ connection: BenchConnection, topic: String) -> EventLoopFuture<ByteBuffer> {
        connection.request("{\"type\":\"subscribe\",\"topic\":\"\(topic)\"}", expect: "subscribed", timeout: .seconds(15))
    }

    func setUp() async throws {
        let crossNode = self.nodeB != nil
        switch self.spec.kind {
        case .direct:
            self.senders = try await self.open(count: self.spec.pairs, onB: false)
            self.receivers = try await self.open(count: self.spec.pairs, onB: crossNode)
            self.receiversOnB = crossNode ? self.receivers.count : 0
            self.templates = try self.receivers.map { receiver in
                guard let id = receiver.clientId else { throw BenchError("no clientId in the receiver's `connected`") }
                return FrameTemplate(envelopePrefix: "{\"type\":\"direct\",\"to\":\"\(id)\",\"data\":", size: self.spec.messageBytes)
            }
        case .room:
            let onB = crossNode ? self.spec.subscribers / 2 : 0
            let onA = self.spec.subscribers - onB
            self.receivers = try await self.open(count: onA, onB: false)
            if onB > 0 { self.receivers += try await self.open(count: onB, onB: true) }
            self.receiversOnB = onB
            self.senders = try await self.open(count: 1, onB: false)
            // Every subscriber, then the publisher (publishing needs membership; echo is off).
            var index = 0
            while index < self.receivers.count {
                let batch = self.receivers[index..<min(index + 50, self.receivers.count)]
                let futures = batch.map { Self.subscribe($0, topic: self.spec.topic) }
                for future in futures { _ = try await future.get() }
                index += batch.count
            }
            _ = try await Self.subscribe(self.senders[0], topic: self.spec.topic).get()
            self.templates = [FrameTemplate(envelopePrefix: "{\"type\":\"publish\",\"topic\":\"\(self.spec.topic)\",\"data\":", size: self.spec.messageBytes)]
        }
        for receiver in self.receivers { try await onLoop(receiver) { receiver.mode = .pubsub } }
        for sender in self.senders { try await onLoop(sender) { sender.mode = .pubsub } }
    }

    /// One measured run at `rate` messages per second per sender.
    func trial(rate: Double, duration: Double) async throws -> Trial {
        let perSender = max(1, Int(rate * duration))
        let base = self.nextSeq
        self.nextSeq += UInt64(perSender) * UInt64(self.senders.count) + 1
        try await self.bench.board.reset(minSeq: base)
        let cpu0 = self.serverCPU()
        let clientCPU0 = Proc.selfCPUSeconds()
        let count = self.senders.count
        let paced = self.senders.enumerated().map { index, sender in
            PacedSender(
                connection: sender,
                template: self.templates[index],
                rate: rate,
                phaseNanos: UInt64(Double(index) / Double(count) / rate * 1e9),
                total: perSender,
                seqBase: base &+ UInt64(index * perSender)
            )
        }
        let sent = try await runPaced(paced)
        let expected = sent * self.fanout
        try await self.bench.drain(expected: expected)
        let m = try await self.bench.board.collect()
        let cpu = self.serverCPU().flatMap { c in cpu0.map { c - $0 } }
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

    /// Connections the servers closed (or lost) since they were opened.
    func closedCount() async throws -> Int {
        var closed = 0
        for connection in self.senders + self.receivers
        where try await connection.eventLoop.submit({ connection.closedByServer || !connection.channel.isActive }).get() {
            closed += 1
        }
        return closed
    }

    /// Measures one trial; when the servers closed connections during it, every client is
    /// replaced afterwards so the next trial starts whole (the trial itself counts as it was).
    func measured(rate: Double, duration: Double) async throws -> PubSubTrial {
        let pg0 = self.spec.pgPid.flatMap { Proc.treeCPUSeconds(root: $0) }
        let trial = try await self.trial(rate: rate, duration: duration)
        let pg = self.spec.pgPid.flatMap { Proc.treeCPUSeconds(root: $0) }.flatMap { p in pg0.map { p - $0 } }
        let closed = try await self.closedCount()
        if closed > 0 {
            self.bench.log("  \(closed) connection(s) closed by the server: reconnecting every client")
            await self.tearDown()
            self.senders = []
            self.receivers = []
            try await sleepSeconds(1)
            try await self.setUp()
        }
        return PubSubTrial(trial: trial, pgCPUSeconds: pg, closed: closed)
    }

    func tearDown() async {
        await closeAll(self.senders + self.receivers)
    }
}

func pubsubScenario(_ bench: Bench, _ spec: PubSubSpec, nodeB: Connector?, serverPidB: Int32?) async throws -> Report {
    let rig = PubSubRig(bench: bench, spec: spec, nodeB: nodeB, serverPidB: serverPidB)
    let name = "pubsub-\(spec.kind.rawValue)"
    bench.log("\(name): setting up (\(nodeB == nil ? "one node" : "two nodes"))")
    let setupStart = monotonicNanos()
    try await rig.setUp()
    let setupSeconds = Double(monotonicNanos() - setupStart) / 1e9
    bench.log("\(name): warm-up")
    _ = try await rig.trial(rate: spec.kind == .direct ? 10 : 5, duration: bench.smoke ? 0.3 : 1.0)
    try await sleepSeconds(bench.smoke ? 0.1 : 0.5)

    var report = Report(scenario: name + (spec.search ? "-search" : ""), target: bench.label)
    report.add("nodes", nodeB == nil ? 1 : 2)
    report.add("senders", rig.senders.count)
    report.add("receivers", rig.receivers.count)
    report.add("receivers_on_b", rig.receiversOnB)
    report.add("message_bytes", spec.messageBytes)
    report.add("setup_s", .double(setupSeconds, decimals: 2), line: false)

    func describe(_ run: PubSubTrial, into report: inout Report) {
        let trial = run.trial
        report.add("messages_per_s", Double(trial.sent) / trial.duration, decimals: 0)
        report.add("deliveries_per_s", trial.deliveriesPerSecond, decimals: 0)
        report.add("sent", .int(trial.sent), line: false)
        report.add("received", .int(trial.measurement.received), line: false)
        report.add("expected", .int(trial.expected), line: false)
        report.addLatency(trial.measurement)
        report.add("loss_pct", trial.loss * 100, decimals: 3)
        report.add("errors", trial.measurement.errors)
        report.add("closed", run.closed)
        if let cpu = trial.cpuMicrosPerDelivery { report.add("servers_cpu_us_per_delivery", cpu, decimals: 2) }
        if let pg = run.pgCPUMicrosPerDelivery { report.add("pg_cpu_us_per_delivery", pg, decimals: 2) }
        report.add("client_cpu_us_per_delivery", trial.clientCPUMicrosPerDelivery, decimals: 2)
    }

    func passes(_ run: PubSubTrial) -> Bool {
        let m = run.trial.measurement
        return m.ms(99) < spec.boundMs && run.trial.loss <= spec.maxLoss && m.errors == 0 && run.closed == 0 && m.received > 0
    }

    func summary(_ run: PubSubTrial, _ pass: Bool) -> String {
        let m = run.trial.measurement
        return "\(format(run.trial.rate, 1)):\(format(m.ms(50), 2)):\(format(m.ms(99), 2)):\(format(run.trial.loss * 100, 3)):\(m.errors):\(run.closed):\(pass ? "ok" : "over")"
    }

    if spec.search {
        var best: PubSubTrial?
        var failed: PubSubTrial?
        var rate = spec.rate
        var trials: [String] = []
        for _ in 0..<spec.maxTrials {
            bench.log("\(name)-search: trial at \(format(rate, 1)) messages/s per sender")
            var run = try await rig.measured(rate: rate, duration: spec.duration)
            var pass = passes(run)
            trials.append(summary(run, pass))
            bench.log("  \(trials.last!) deliveries/s=\(format(run.trial.deliveriesPerSecond, 0))")
            if !pass && spec.confirmFailures {
                // Other work on a shared machine can spoil one trial's tail: a rate fails only
                // when a second trial at it fails too.
                try await sleepSeconds(bench.smoke ? 0.1 : 1.0)
                let again = try await rig.measured(rate: rate, duration: spec.duration)
                pass = passes(again)
                trials.append("again:" + summary(again, pass))
                bench.log("  again: \(trials.last!)")
                if pass { run = again }
            }
            if pass {
                if best == nil || run.trial.rate > best!.trial.rate { best = run }
            } else if failed == nil || run.trial.rate < failed!.trial.rate {
                failed = run
            }
            if let low = best, let high = failed {
                if high.trial.rate / low.trial.rate < 1.08 { break }
                rate = (low.trial.rate + high.trial.rate) / 2
            } else if best != nil {
                rate *= 2
            } else {
                rate /= 2
            }
            // Let queues (and the cluster's outbox) empty before the next trial.
            try await sleepSeconds(bench.smoke ? 0.1 : 1.0)
        }
        report.add("bound_ms", spec.boundMs, decimals: 0)
        if let best {
            report.add("max_rate_per_sender", best.trial.rate, decimals: 1)
            describe(best, into: &report)
        } else {
            report.add("max_rate_per_sender", 0.0, decimals: 1)
            report.add("messages_per_s", 0.0, decimals: 0)
            report.add("deliveries_per_s", 0.0, decimals: 0)
        }
        if let failed { report.add("first_failing_rate", .double(failed.trial.rate, decimals: 1), line: false) }
        report.add("trials", .string(trials.joined(separator: " ")), line: false)
    } else {
        bench.log("\(name): \(format(spec.rate, 1)) messages/s per sender for \(spec.duration) s")
        let run = try await rig.measured(rate: spec.rate, duration: spec.duration)
        report.add("rate_per_sender", spec.rate, decimals: 1)
        describe(run, into: &report)
    }
    await rig.tearDown()
    return report
}
