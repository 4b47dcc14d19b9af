public import RelayKernel

/// Each room's bounded message history in the kernel's ``KeyValueStore``.
///
/// One key per room, `room:<name>`, holding `{"seq": <last seq>, "messages": [entry, …]}` with at
/// most `size` entries, oldest first. An entry is `{"seq","from","user","text"}`.
///
/// Appends use compare-and-set, so concurrent `chat.say`s from different connections (or, with a
/// cluster store, different nodes) never lose a message or reuse a `seq`. Because the store is
/// the only state, the plugin value itself stays immutable and `Sendable`.
public struct ChatHistory: Sendable {
    /// One stored message.
    public struct Entry: Sendable, Equatable {
        /// Position in the room, from 1, never reused.
        public let seq: Int
        /// The sender's client id.
        public let from: ClientID
        /// The sender's user id, `nil` when anonymous.
        public let user: String?
        /// The text.
        public let text: String

        /// Creates an entry.
        public init(seq: Int, from: ClientID, user: String?, text: String) {
            self.seq = seq
            self.from = from
            self.user = user
            self.text = text
        }

        /// `{"seq","from","user","text"}` as stored and as sent in `chat.history`.
        public var json: JSONValue {
            ["seq": .int(self.seq), "from": .string(self.from.rawValue), "user": self.user.map(JSONValue.string) ?? .null, "text": .string(self.text)]
        }

        init?(_ value: JSONValue) {
            guard let seq = value["seq"]?.intValue, let from = value["from"]?.stringValue, let text = value["text"]?.stringValue else { return nil }
            self.init(seq: seq, from: ClientID(from), user: value["user"]?.stringValue, text: text)
        }
    }

    /// How many compare-and-set rounds an append tries before answering `conflict`.
    static let maximumAttempts = 64

    /// Entries kept per room.
    public let size: Int
    /// Lifetime of a room's key after each write; `nil` keeps it.
    public let ttl: Duration?

    /// Creates a history keeping `size` entries per room.
    public init(size: Int, ttl: Duration? = nil) {
        precondition(size > 0, "a history keeps at least one message")
        self.size = size
        self.ttl = ttl
    }

    /// Appends a message to `room` and returns it with its `seq`.
    ///
    /// Throws ``RelayError`` `conflict` if the room's key kept changing under it.
    public func append(to room: String, from: ClientID, user: String?, text: String, in store: any KeyValueStore) async throws -> Entry {
        let key = Self.key(room)
        for attempt in 0..<Self.maximumAttempts {
            if attempt > 0 {
                // Lost the race: back off a random while (up to 50 µs · 2^attempt, at most 5 ms)
                // so that concurrent appenders spread out instead of colliding again.
                let ceiling = min(50 << min(attempt, 10), 5_000)
                try await Task.sleep(for: .microseconds(Int.random(in: 0...ceiling)))
            }
            let current = try await store.get(key)
            let record = current.map { Record($0.value) } ?? Record()
            let entry = Entry(seq: record.seq + 1, from: from, user: user, text: text)
            let next = record.appending(entry, keeping: self.size).json
            let written: UInt64? =
                if let current {
                    try await store.compareAndSet(key, expected: current.version, next, ttl: self.ttl)
                } else {
                    try await store.insert(key, next, ttl: self.ttl)
                }
            if written != nil { return entry }
        }
        throw RelayError(.conflict, "room '\(room)' is too busy, try again")
    }

    /// The last ``size`` messages of `room`, oldest first (empty for a room nobody spoke in).
    public func messages(in room: String, from store: any KeyValueStore) async throws -> [Entry] {
        guard let stored = try await store.get(Self.key(room)) else { return [] }
        return Array(Record(stored.value).entries.suffix(self.size))
    }

    static func key(_ room: String) -> String { "room:\(room)" }

    /// The stored value of one room.
    private struct Record {
        var seq = 0
        var entries: [Entry] = []

        init() {}

        init(_ value: JSONValue) {
            self.seq = value["seq"]?.intValue ?? 0
            self.entries = value["messages"]?.arrayValue?.compactMap(Entry.init) ?? []
        }

        func appending(_ entry: Entry, keeping size: Int) -> Record {
            var record = self
            record.seq = entry.seq
            record.entries.append(entry)
            if record.entries.count > size { record.entries.removeFirst(record.entries.count - size) }
            return record
        }

        var json: JSONValue { ["seq": .int(self.seq), "messages": .array(self.entries.map(\.json))] }
    }
}
