import RelayKernel

/// A REST side's inbox (store key `mailbox:<token>`): what the other side sent it, numbered
/// from 1, kept until the REST side acknowledges it by polling with `after=<seq>`.
///
/// A retried poll (same `after`) gets the same messages again; a poll with a higher `after`
/// forgets what it acknowledges. So a lost response loses nothing and nothing is repeated once
/// acknowledged.
struct Mailbox: Sendable, Equatable {
    /// One message addressed to the REST side.
    struct Entry: Sendable, Equatable {
        let seq: Int
        let type: String
        let payload: JSONValue
        /// Why a pairing ended (`cam-peer-left` / `cam-code-expired` notices only).
        let reason: String?
        /// Approximate JSON size, for the bounds.
        let size: Int
    }

    let code: String
    let side: Pairing.Side
    /// The sequence number the next message gets.
    var nextSeq = 1
    /// Unacknowledged messages, oldest first.
    var entries: [Entry] = []
    var bytes = 0
    /// The pairing is over: ``entries`` are its last words, nothing more will come.
    var ended = false

    init(code: String, side: Pairing.Side) {
        self.code = code
        self.side = side
    }

    /// The highest sequence number handed out.
    var lastSeq: Int { self.nextSeq - 1 }

    /// Appends a signaling message; throws `rate_limited` when the unacknowledged messages
    /// reach the bounds (the sender is told; the REST side must poll).
    mutating func append(type: String, payload: JSONValue, size: Int, maxMessages: Int, maxBytes: Int) throws(RelayError) {
        guard self.entries.count < maxMessages, self.bytes + size <= maxBytes else {
            throw RelayError(
                .rateLimited,
                "the other side's mailbox for '\(self.code)' is full (\(self.entries.count) unacknowledged messages); it must poll first"
            )
        }
        self.push(type: type, payload: payload, reason: nil, size: size)
    }

    /// Appends a notice (`cam-peer-joined`, `cam-peer-left`, …); notices are never refused.
    mutating func appendNotice(type: String, reason: String?) {
        self.push(type: type, payload: .null, reason: reason, size: 64)
    }

    private mutating func push(type: String, payload: JSONValue, reason: String?, size: Int) {
        self.entries.append(Entry(seq: self.nextSeq, type: type, payload: payload, reason: reason, size: size))
        self.nextSeq += 1
        self.bytes += size
    }

    /// Forgets every message up to `seq`; returns whether anything was forgotten. Throws
    /// `invalid_message` when `seq` was never handed out.
    mutating func acknowledge(upTo seq: Int) throws(RelayError) -> Bool {
        guard seq >= 0 else { throw RelayError(.invalidMessage, "'after' must not be negative") }
        guard seq <= self.lastSeq else {
            throw RelayError(.invalidMessage, "'after' is \(seq) but the last message is \(self.lastSeq)")
        }
        let before = self.entries.count
        self.entries.removeAll { $0.seq <= seq }
        self.bytes = self.entries.reduce(0) { $0 + $1.size }
        return self.entries.count != before
    }

    /// The messages after `seq`, oldest first.
    func messages(after seq: Int) -> [Entry] {
        self.entries.filter { $0.seq > seq }
    }
}

extension Mailbox.Entry {
    /// The wire form: `{"seq","type","code","payload"}` (plus `reason` on notices that end a pairing).
    func wire(code: String) -> JSONValue {
        var object: [String: JSONValue] = [
            "seq": .int(self.seq), "type": .string(self.type), "code": .string(code), "payload": self.payload,
        ]
        if let reason { object["reason"] = .string(reason) }
        return .object(object)
    }

    var json: JSONValue {
        var object: [String: JSONValue] = [
            "seq": .int(self.seq), "type": .string(self.type), "payload": self.payload, "size": .int(self.size),
        ]
        if let reason { object["reason"] = .string(reason) }
        return .object(object)
    }

    init?(json: JSONValue) {
        guard let seq = json["seq"]?.intValue, let type = json["type"]?.stringValue, let size = json["size"]?.intValue else { return nil }
        self.init(seq: seq, type: type, payload: json["payload"] ?? .null, reason: json["reason"]?.stringValue, size: size)
    }
}

extension Mailbox {
    /// The stored form.
    var json: JSONValue {
        [
            "code": .string(self.code),
            "side": .string(self.side.rawValue),
            "nextSeq": .int(self.nextSeq),
            "entries": .array(self.entries.map(\.json)),
            "ended": .bool(self.ended),
        ]
    }

    /// Reads the stored form; `nil` when it is not a mailbox.
    init?(json: JSONValue) {
        guard
            let code = json["code"]?.stringValue,
            let side = json["side"]?.stringValue.flatMap(Pairing.Side.init(rawValue:)),
            let nextSeq = json["nextSeq"]?.intValue,
            let entries = json["entries"]?.arrayValue
        else { return nil }
        self.init(code: code, side: side)
        self.nextSeq = nextSeq
        self.entries = entries.compactMap(Entry.init(json:))
        self.bytes = self.entries.reduce(0) { $0 + $1.size }
        self.ended = json["ended"]?.boolValue ?? false
    }
}
