import Foundation
import Prometheus
import Synchronization

/// The standard Prometheus process metrics (`process_resident_memory_bytes`,
/// `process_cpu_seconds_total`, `process_open_fds`, `process_start_time_seconds`), read from
/// Linux's `/proc` at each scrape, as the official Prometheus clients do. On a system without
/// `/proc` they stay 0.
final class ProcessMetrics: Sendable {
    private let residentMemory: Prometheus.Gauge
    private let cpuSeconds: Prometheus.Counter
    private let openFileDescriptors: Prometheus.Gauge
    private let startTime: Prometheus.Gauge
    private let cpuSecondsCounted = Mutex(0.0)
    private let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
    private let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))

    init(registry: PrometheusCollectorRegistry) {
        func describe(_ name: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
        }
        self.residentMemory = registry.makeGauge(descriptor: describe("process_resident_memory_bytes", "Resident memory size in bytes."))
        self.cpuSeconds = registry.makeCounter(descriptor: describe("process_cpu_seconds_total", "Total user and system CPU time spent in seconds."))
        self.openFileDescriptors = registry.makeGauge(descriptor: describe("process_open_fds", "Number of open file descriptors."))
        self.startTime = registry.makeGauge(descriptor: describe("process_start_time_seconds", "Start time of the process since unix epoch in seconds."))
        if let stat = Self.statFields(), let bootTime = Self.bootTime(), let started = Double(stat[19]) {
            self.startTime.set(to: bootTime + started / self.ticksPerSecond)
        }
    }

    /// Reads `/proc/self` into the gauges and the CPU counter.
    func update() {
        if let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8).split(separator: " "),
            statm.count > 1, let pages = Double(statm[1])
        {
            self.residentMemory.set(to: pages * self.pageSize)
        }
        if let stat = Self.statFields(), let user = Double(stat[11]), let system = Double(stat[12]) {
            let total = (user + system) / self.ticksPerSecond
            let delta = self.cpuSecondsCounted.withLock { counted in
                defer { counted = max(counted, total) }
                return total - counted
            }
            if delta > 0 { self.cpuSeconds.increment(by: delta) }
        }
        if let descriptors = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            self.openFileDescriptors.set(to: Double(descriptors.count))
        }
    }

    /// The fields of `/proc/self/stat` after the command name, from field 3 (`state`) on.
    private static func statFields() -> [Substring]? {
        guard let text = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
            let end = text.lastIndex(of: ")")
        else { return nil }
        let fields = text[text.index(after: end)...].split(separator: " ")
        return fields.count > 19 ? fields : nil
    }

    /// When the machine booted, in seconds since the epoch (`btime` in `/proc/stat`).
    private static func bootTime() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst("btime ".count))
        }
        return nil
    }
}
