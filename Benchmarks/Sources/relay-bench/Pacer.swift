import BenchWire
import NIOCore

/// The bytes of one producer's video frames. `seq` and `bt` (the intended send time in
/// monotonic nanoseconds) come first, so a receiver finds them without scanning the payload.
///
/// Text: `{"type":"video-frame","seq":N,"bt":T,"streamId":"S","timestamp":MS,"data":"AAAA…"}`,
/// padded with base64 `A`s so the whole message is about `size` bytes.
/// Binary: uint32 BE header length + `{"type":"video-frame","seq":N,"bt":T,"streamId":"S",
/// "timestamp":MS}` + `size` payload bytes.
/// Envelope (pubsub): `PREFIX{"seq":N,"bt":T,"x":"AAAA…"}}`, e.g. with PREFIX
/// `{"type":"direct","to":"ID","data":`: the timing fields travel inside `data`, which the
/// pubsub plugin re-encodes with its keys sorted (`bt`, `seq`, `x`), so they still come
/// before the padding.
final class FrameTemplate: Sendable {
    let binary: Bool
    let size: Int
    private let head: [UInt8]
    private let btPart = [UInt8](ascii: ",\"bt\":")
    private let streamPart: [UInt8]
    private let tail: [UInt8]
    /// Whether `streamPart` and the wall-clock `timestamp` follow `bt` (video frames).
    private let stamped: Bool

    /// A pubsub message: `prefix` opens the message up to its `data` value, which is
    /// `{"seq":N,"bt":T,"x":"AAAA…"}` padded so the whole message is about `size` bytes.
    init(envelopePrefix prefix: String, size: Int) {
        self.binary = false
        self.size = size
        self.stamped = false
        self.head = Array((prefix + "{\"seq\":").utf8)
        self.streamPart = []
        // seq and bt take about 30 digits; the rest is padding.
        let fixed = self.head.count + 6 + 30 + 7 + 3
        let pad = max(0, size - fixed)
        self.tail = Array(",\"x\":\"".utf8) + [UInt8](repeating: UInt8(ascii: "A"), count: pad) + Array("\"}}".utf8)
    }

    init(streamId: String, size: Int, binary: Bool) {
        self.binary = binary
        self.size = size
        self.stamped = true
        self.head = [UInt8](ascii: "{\"type\":\"video-frame\",\"seq\":")
        self.streamPart = Array(",\"streamId\":\"\(streamId)\",\"timestamp\":".utf8)
        if binary {
            var payload = [UInt8](repeating: 0, count: size)
            for i in 0..<size { payload[i] = UInt8(truncatingIfNeeded: i &* 31 &+ 7) }
            self.tail = payload
        } else {
            // seq, bt and timestamp take about 45 digits; the rest is data.
            let fixed = 28 + 6 + self.streamPart.count + 9 + 45 + 2
            let pad = max(4, (size - fixed) / 4 * 4)
            self.tail = Array(",\"data\":\"".utf8) + [UInt8](repeating: UInt8(ascii: "A"), count: pad) + Array("\"}".utf8)
        }
    }

    @inline(__always)
    func make(seq: UInt64, bt: UInt64, wallMillis: UInt64, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: self.size + 160)
        if self.binary {
            buffer.writeInteger(UInt32(0))
            let start = buffer.writerIndex
            self.writeHeader(&buffer, seq: seq, bt: bt, wallMillis: wallMillis)
            buffer.writeInteger(UInt8(ascii: "}"))
            buffer.setInteger(UInt32(buffer.writerIndex - start), at: start - 4)
            buffer.writeBytes(self.tail)
        } else {
            self.writeHeader(&buffer, seq: seq, bt: bt, wallMillis: wallMillis)
            buffer.writeBytes(self.tail)
        }
        return buffer
    }

    @inline(__always)
    private func writeHeader(_ buffer: inout ByteBuffer, seq: UInt64, bt: UInt64, wallMillis: UInt64) {
        buffer.writeBytes(self.head)
        buffer.writeDecimal(seq)
        buffer.writeBytes(self.btPart)
        buffer.writeDecimal(bt)
        guard self.stamped else { return }
        buffer.writeBytes(self.streamPart)
        buffer.writeDecimal(wallMillis)
    }
}

/// One connection's open-loop schedule: message `k` is due at `start + phase + k / rate`,
/// whatever happened to earlier ones. Latency is measured from that intended time, so a stall
/// anywhere (server, socket, this loop) shows up in the figures instead of hiding them.
struct PacedSender {
    let connection: BenchConnection
    /// nil: `{"type":"ping"}` (the pong is matched by order); else a video frame.
    let template: FrameTemplate?
    /// Messages per second.
    let rate: Double
    /// Offset of this sender's schedule, spreading senders evenly.
    let phaseNanos: UInt64
    let total: Int
    /// `seq` of the first frame.
    let seqBase: UInt64
}

/// Runs the senders of one event loop: every `tick` it writes what is due, then flushes.
final class LoopPacer: @unchecked Sendable {
    private let loop: any EventLoop
    private var senders: [PacedSender]
    private var sent: [Int]
    private let start: UInt64
    private let tick: TimeAmount
    private let promise: EventLoopPromise<Int>
    private var task: RepeatedTask?
    private let ping: ByteBuffer

    init(loop: any EventLoop, senders: [PacedSender], start: UInt64, tick: TimeAmount) {
        self.loop = loop
        self.senders = senders
        self.sent = [Int](repeating: 0, count: senders.count)
        self.start = start
        self.tick = tick
        self.promise = loop.makePromise()
        self.ping = ByteBuffer(string: "{\"type\":\"ping\"}")
    }

    func run() -> EventLoopFuture<Int> {
        self.loop.execute {
            self.task = self.loop.scheduleRepeatedTask(initialDelay: .zero, delay: self.tick) { _ in self.step() }
        }
        return self.promise.futureResult
    }

    private func step() {
        let now = monotonicNanos()
        guard now >= self.start else { return }
        let wall = UInt64(wallMillis())
        var active = false
        for index in self.senders.indices {
            let sender = self.senders[index]
            var sent = self.sent[index]
            guard sent < sender.total else { continue }
            let begin = self.start &+ sender.phaseNanos
            guard now >= begin else {
                active = true
                continue
            }
            let interval = 1e9 / sender.rate
            let due = min(sender.total, Int(Double(now - begin) / interval) + 1)
            guard due > sent else {
                active = true
                continue
            }
            let connection = sender.connection
            let allocator = connection.channel.allocator
            while sent < due {
                let intended = begin &+ UInt64(Double(sent) * interval)
                if let template = sender.template {
                    connection.write(
                        template.make(seq: sender.seqBase &+ UInt64(sent), bt: intended, wallMillis: wall, allocator: allocator),
                        opcode: template.binary ? .binary : .text,
                        flush: false
                    )
                } else {
                    connection.pendingPings.append(intended)
                    connection.write(self.ping, opcode: .text, flush: false)
                }
                sent += 1
            }
            connection.flush()
            self.sent[index] = sent
            if sent < sender.total { active = true }
        }
        if !active {
            self.task?.cancel()
            self.task = nil
            self.promise.succeed(self.sent.reduce(0, +))
        }
    }
}

/// Runs every sender on its connection's loop from a common start; returns how many messages
/// were written.
func runPaced(_ senders: [PacedSender], startDelay: TimeAmount = .milliseconds(20), tick: TimeAmount = .milliseconds(1)) async throws -> Int {
    let start = monotonicNanos() &+ UInt64(startDelay.nanoseconds)
    var byLoop: [ObjectIdentifier: (any EventLoop, [PacedSender])] = [:]
    for sender in senders {
        let loop = sender.connection.eventLoop
        byLoop[ObjectIdentifier(loop), default: (loop, [])].1.append(sender)
    }
    let futures = byLoop.values.map { loop, senders in LoopPacer(loop: loop, senders: senders, start: start, tick: tick).run() }
    var total = 0
    for future in futures { total += try await future.get() }
    return total
}
