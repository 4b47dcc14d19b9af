import BenchWire
import Histogram
import NIOCore

/// Latency and counters of every connection on one event loop. Touched only on that loop, so
/// recording takes no lock; the coordinator resets and reads it by submitting to the loop.
final class LoopStats: @unchecked Sendable {
    /// Latencies in microseconds, 1 µs to 60 s, three significant digits.
    var histogram = LoopStats.makeHistogram()
    /// Deliveries counted in the current measurement (seq >= minSeq).
    var received = 0
    /// Deliveries that belonged to an earlier measurement.
    var stale = 0
    /// `error` messages received.
    var errors = 0
    /// Frames with `seq` below this belong to an earlier measurement.
    var minSeq: UInt64 = 0
    /// Monotonic time of the last counted delivery.
    var lastAt: UInt64 = 0

    static func makeHistogram() -> Histogram<UInt64> {
        Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    }

    @inline(__always)
    func recordDelivery(seq: UInt64, intendedNanos: UInt64, now: UInt64) {
        guard seq >= self.minSeq else {
            self.stale += 1
            return
        }
        self.received += 1
        self.lastAt = now
        self.record(nanos: now &- intendedNanos)
    }

    @inline(__always)
    func record(nanos: UInt64) {
        let micros = Swift.min(Swift.max(nanos / 1000, 1), 60_000_000)
        _ = self.histogram.record(micros)
    }

    func reset(minSeq: UInt64) {
        self.histogram = LoopStats.makeHistogram()
        self.received = 0
        self.stale = 0
        self.errors = 0
        self.minSeq = minSeq
        self.lastAt = 0
    }
}

/// What the loops measured, merged.
struct Measurement: Sendable {
    var histogram = LoopStats.makeHistogram()
    var received = 0
    var stale = 0
    var errors = 0
    var lastAt: UInt64 = 0

    /// Percentile in milliseconds.
    func ms(_ percentile: Double) -> Double {
        guard self.histogram.totalCount > 0 else { return 0 }
        return Double(self.histogram.valueAtPercentile(percentile)) / 1000
    }

    var maxMs: Double { self.histogram.totalCount > 0 ? Double(self.histogram.max) / 1000 : 0 }

    mutating func merge(_ other: Measurement) {
        self.histogram.add(other.histogram)
        self.received += other.received
        self.stale += other.stale
        self.errors += other.errors
        self.lastAt = max(self.lastAt, other.lastAt)
    }
}

/// One `LoopStats` per event loop of the client group.
final class StatsBoard: Sendable {
    let loops: [any EventLoop]
    private let byLoop: [ObjectIdentifier: LoopStats]

    init(group: any EventLoopGroup) {
        var loops: [any EventLoop] = []
        var byLoop: [ObjectIdentifier: LoopStats] = [:]
        for loop in group.makeIterator() {
            loops.append(loop)
            byLoop[ObjectIdentifier(loop)] = LoopStats()
        }
        self.loops = loops
        self.byLoop = byLoop
    }

    func stats(for loop: any EventLoop) -> LoopStats {
        self.byLoop[ObjectIdentifier(loop)]!
    }

    /// Starts a measurement: deliveries with `seq < minSeq` no longer count.
    func reset(minSeq: UInt64) async throws {
        for loop in self.loops {
            let stats = self.stats(for: loop)
            try await loop.submit { stats.reset(minSeq: minSeq) }.get()
        }
    }

    /// The merged figures so far.
    func collect() async throws -> Measurement {
        var total = Measurement()
        for loop in self.loops {
            let stats = self.stats(for: loop)
            let part = try await loop.submit {
                (stats.histogram, stats.received, stats.stale, stats.errors, stats.lastAt)
            }.get()
            total.histogram.add(part.0)
            total.received += part.1
            total.stale += part.2
            total.errors += part.3
            total.lastAt = max(total.lastAt, part.4)
        }
        return total
    }

    /// Deliveries counted so far (cheap: no histogram copies).
    func receivedCount() async throws -> Int {
        var total = 0
        for loop in self.loops {
            let stats = self.stats(for: loop)
            total += try await loop.submit { stats.received }.get()
        }
        return total
    }
}
