package import NIOCore

/// What the cluster keeps of one client's outbound stream, so that another node can resume the
/// client exactly after the client's node died, or know that it cannot.
///
/// A node writes the journal before it writes a frame to the client's socket: the client can
/// therefore never have seen more than ``position`` (the last journaled position), and a node
/// taking the client over knows, for each position the client may have missed, where the frame
/// came from:
///
/// - ``tail`` holds the last positions: a row of a node's inbox (kept in the database, replayable)
///   or a message that never crossed the database (`nil`: a reply, a message from a client of
///   the same node, media). Missing such a one means the resume must answer `resumed: false`.
/// - ``inboxes`` says, per inbox the client was served from, up to which row everything was
///   positioned: rows after it that were for the client (directly, or for one of its rooms while
///   it was a member, see ``rooms``) had not been written to it yet and are replayed after the
///   tail, in inbox order.
package struct ClientJournal: Sendable, Equatable {
    /// One inbox the client has been served from.
    package struct Inbox: Sendable, Equatable {
        /// The inbox (node incarnation).
        package var id: String
        /// Every row up to this one was positioned (or was not for the client).
        package var positioned: Int64
        /// The last row that can be for the client (the inbox was left at a takeover), or `nil`
        /// for the inbox of the client's current node.
        package var end: Int64?

        /// Creates an inbox entry.
        package init(id: String, positioned: Int64, end: Int64? = nil) {
            self.id = id
            self.positioned = positioned
            self.end = end
        }
    }

    /// A room membership, as the rows of one inbox see it.
    package struct Membership: Sendable, Equatable {
        /// The inbox whose room rows it is about.
        package var inbox: String
        /// The room (``RoomKey/clusterName``).
        package var room: String
        /// Room rows after this one were for the client.
        package var after: Int64
        /// Room rows after this one were no longer for it (it left), or `nil` while a member.
        package var until: Int64?

        /// Creates a membership.
        package init(inbox: String, room: String, after: Int64, until: Int64? = nil) {
            self.inbox = inbox
            self.room = room
            self.after = after
            self.until = until
        }

        /// Whether room row `seq` of ``inbox`` was for the member.
        package func covers(_ seq: Int64) -> Bool {
            seq > self.after && (self.until.map { seq <= $0 } ?? true)
        }
    }

    /// The unpositioned rows of one inbox that may be for the client.
    package struct Range: Sendable, Equatable {
        /// The inbox.
        package var inbox: String
        /// Rows after this one …
        package var after: Int64
        /// … up to this one (`nil`: to the end).
        package var through: Int64?
        /// The rooms whose rows count, with their intervals.
        package var memberships: [Membership]

        /// Whether a row of this range is for the client: rows addressed to it always are; room
        /// rows when the client was a member at that row.
        package func includes(seq: Int64, room: String?) -> Bool {
            guard seq > self.after, self.through.map({ seq <= $0 }) ?? true else { return false }
            guard let room else { return true }
            return self.memberships.contains { $0.room == room && $0.covers(seq) }
        }
    }

    /// How a client that saw `lastSeen` messages is resumed from the journal.
    package enum Plan: Sendable, Equatable {
        /// Exactly: the rows of `tail` (the positions after `lastSeen`), then the unpositioned
        /// rows of `ranges`, inbox by inbox.
        case replay(tail: [ClusterFrameRef], ranges: [Range])
        /// Not exactly: the client must be told `resumed: false` (the reason is logged).
        case refuse(String)
    }

    /// How many positions the tail keeps (at least three quarters of it once full).
    package static let tailLimit = 128

    /// The last position journaled (the number of messages written to the client, ever).
    package private(set) var position: Int
    /// The client's queue overflowed and messages were dropped: it cannot be resumed.
    package var lost = false
    /// Where the frames at positions `position - tail.count + 1 … position` came from.
    package private(set) var tail: [ClusterFrameRef?]
    /// The inboxes the client was served from, oldest first.
    package private(set) var inboxes: [Inbox]
    /// The client's room memberships (and recent departures), per inbox.
    package private(set) var rooms: [Membership]

    /// A fresh client served from `inbox`, whose rows can only start after `start`.
    package init(inbox: String, start: Int64) {
        self.position = 0
        self.tail = []
        self.inboxes = [Inbox(id: inbox, positioned: start)]
        self.rooms = []
    }

    /// Creates a journal from its parts.
    package init(position: Int, lost: Bool, tail: [ClusterFrameRef?], inboxes: [Inbox], rooms: [Membership]) {
        self.position = position
        self.lost = lost
        self.tail = tail
        self.inboxes = inboxes
        self.rooms = rooms
    }

    // MARK: Recording

    /// The next position is the frame from `ref` (`nil`: one that never crossed the database).
    package mutating func append(_ ref: ClusterFrameRef?) {
        self.position += 1
        if self.tail.count == Self.tailLimit { self.tail.removeFirst(Self.tailLimit / 4) }
        self.tail.append(ref)
        guard let ref, let index = self.inboxes.firstIndex(where: { $0.id == ref.inbox }) else { return }
        self.inboxes[index].positioned = max(self.inboxes[index].positioned, ref.seq)
    }

    /// Every row of `inbox` up to `seq` has been positioned or was not for the client (its node
    /// had queued every row up to there, and all of its queue is positioned).
    package mutating func passed(_ inbox: String, through seq: Int64) {
        guard let index = self.inboxes.firstIndex(where: { $0.id == inbox && $0.end == nil }) else { return }
        self.inboxes[index].positioned = max(self.inboxes[index].positioned, seq)
    }

    /// The client joined `room`: rows of `inbox` for it after `after` are the client's.
    package mutating func joined(_ room: String, inbox: String, after: Int64) {
        if self.rooms.contains(where: { $0.inbox == inbox && $0.room == room && $0.until == nil }) { return }
        self.rooms.append(Membership(inbox: inbox, room: room, after: after))
    }

    /// The client left `room`: rows of `inbox` for it after `until` are not the client's.
    package mutating func left(_ room: String, inbox: String, until: Int64) {
        guard let index = self.rooms.firstIndex(where: { $0.inbox == inbox && $0.room == room && $0.until == nil }) else { return }
        self.rooms[index].until = until
        self.compact()
    }

    /// The client was taken over by `inbox`, whose rows for it start after `start`: the inboxes
    /// it was served from end (the current one at `end`), and its `rooms` count from `start` on.
    package mutating func claimed(by inbox: String, start: Int64, end: Int64, rooms: [String]) {
        for index in self.inboxes.indices where self.inboxes[index].end == nil {
            self.inboxes[index].end = end
        }
        self.inboxes.removeAll { $0.id == inbox }
        self.inboxes.append(Inbox(id: inbox, positioned: start))
        self.rooms.removeAll { $0.inbox == inbox }
        for room in rooms { self.rooms.append(Membership(inbox: inbox, room: room, after: start)) }
        self.compact()
    }

    /// Forgets inboxes and memberships that can no longer hold unpositioned rows.
    package mutating func compact() {
        self.inboxes.removeAll { inbox in inbox.end.map { $0 <= inbox.positioned } ?? false }
        self.rooms.removeAll { membership in
            guard let inbox = self.inboxes.first(where: { $0.id == membership.inbox }) else { return true }
            return membership.until.map { $0 <= inbox.positioned } ?? false
        }
    }

    /// The first row of `inbox` the client may still need (earlier ones may be deleted).
    package func retain(in inbox: String) -> Int64? {
        var first = self.inboxes.first { $0.id == inbox }.map { $0.positioned + 1 }
        for case let ref? in self.tail where ref.inbox == inbox {
            first = min(first ?? ref.seq, ref.seq)
        }
        return first
    }

    // MARK: Resuming

    /// How to resume a client that says it saw `lastSeen` messages.
    package func plan(lastSeen: Int) -> Plan {
        if self.lost { return .refuse("its queue overflowed") }
        guard lastSeen <= self.position else {
            return .refuse("it saw \(lastSeen) messages, the journal knows \(self.position)")
        }
        let missed = self.position - lastSeen
        guard missed <= self.tail.count else {
            return .refuse("it missed \(missed) messages, the journal keeps the last \(self.tail.count)")
        }
        var refs: [ClusterFrameRef] = []
        refs.reserveCapacity(missed)
        for entry in self.tail.suffix(missed) {
            guard let ref = entry else { return .refuse("it missed a message that never crossed the database") }
            refs.append(ref)
        }
        let ranges = self.inboxes.compactMap { inbox -> Range? in
            if let end = inbox.end, end <= inbox.positioned { return nil }
            return Range(inbox: inbox.id, after: inbox.positioned, through: inbox.end, memberships: self.rooms.filter { $0.inbox == inbox.id })
        }
        return .replay(tail: refs, ranges: ranges)
    }
}

// MARK: Encoding

extension ClientJournal {
    private static let version: UInt8 = 1

    package struct DecodingError: Error {}

    /// The journal's bytes (what the database keeps).
    package var encoded: ByteBuffer {
        var names: [String: Int] = [:]
        var table: [String] = []
        func index(_ name: String) -> Int {
            if let known = names[name] { return known }
            names[name] = table.count
            table.append(name)
            return table.count - 1
        }
        for inbox in self.inboxes { _ = index(inbox.id) }
        for membership in self.rooms { _ = index(membership.inbox) }
        for case let ref? in self.tail { _ = index(ref.inbox) }

        var buffer = ByteBuffer()
        buffer.writeInteger(Self.version)
        buffer.writeInteger(UInt8(self.lost ? 1 : 0))
        buffer.writeVarint(UInt64(self.position))
        buffer.writeVarint(UInt64(table.count))
        for name in table { buffer.writeLengthPrefixed(name) }
        buffer.writeVarint(UInt64(self.inboxes.count))
        for inbox in self.inboxes {
            buffer.writeVarint(UInt64(index(inbox.id)))
            buffer.writeVarint(UInt64(bitPattern: inbox.positioned))
            buffer.writeVarint(inbox.end.map { UInt64(bitPattern: $0) + 1 } ?? 0)
        }
        buffer.writeVarint(UInt64(self.rooms.count))
        for membership in self.rooms {
            buffer.writeVarint(UInt64(index(membership.inbox)))
            buffer.writeLengthPrefixed(membership.room)
            buffer.writeVarint(UInt64(bitPattern: membership.after))
            buffer.writeVarint(membership.until.map { UInt64(bitPattern: $0) + 1 } ?? 0)
        }
        buffer.writeVarint(UInt64(self.tail.count))
        var previous: Int64 = 0
        for entry in self.tail {
            guard let ref = entry else {
                buffer.writeVarint(0)
                continue
            }
            buffer.writeVarint(UInt64(index(ref.inbox)) + 1)
            buffer.writeVarint(Self.zigzag(ref.seq - previous))
            previous = ref.seq
        }
        return buffer
    }

    /// Reads ``encoded``; throws on bytes that are not a journal.
    package init(decoding bytes: ByteBuffer) throws {
        var buffer = bytes
        guard buffer.readInteger(as: UInt8.self) == Self.version, let lost = buffer.readInteger(as: UInt8.self) else { throw DecodingError() }
        let position = Int(try buffer.readVarintOrThrow())
        let names = try (0..<buffer.readCount()).map { _ in try buffer.readLengthPrefixedOrThrow() }
        func name(_ index: UInt64) throws -> String {
            guard index < names.count else { throw DecodingError() }
            return names[Int(index)]
        }
        let inboxes = try (0..<buffer.readCount()).map { _ in
            Inbox(
                id: try name(try buffer.readVarintOrThrow()),
                positioned: Int64(bitPattern: try buffer.readVarintOrThrow()),
                end: try Self.optional(buffer.readVarintOrThrow())
            )
        }
        let rooms = try (0..<buffer.readCount()).map { _ in
            Membership(
                inbox: try name(try buffer.readVarintOrThrow()),
                room: try buffer.readLengthPrefixedOrThrow(),
                after: Int64(bitPattern: try buffer.readVarintOrThrow()),
                until: try Self.optional(buffer.readVarintOrThrow())
            )
        }
        var previous: Int64 = 0
        let tail = try (0..<buffer.readCount()).map { _ -> ClusterFrameRef? in
            let index = try buffer.readVarintOrThrow()
            guard index > 0 else { return nil }
            let seq = previous + Self.unzigzag(try buffer.readVarintOrThrow())
            previous = seq
            return ClusterFrameRef(inbox: try name(index - 1), seq: seq)
        }
        guard tail.count <= Self.tailLimit, position >= tail.count else { throw DecodingError() }
        self.init(position: position, lost: lost == 1, tail: tail, inboxes: inboxes, rooms: rooms)
    }

    private static func optional(_ raw: UInt64) -> Int64? {
        raw == 0 ? nil : Int64(bitPattern: raw - 1)
    }

    private static func zigzag(_ value: Int64) -> UInt64 {
        UInt64(bitPattern: (value << 1) ^ (value >> 63))
    }

    private static func unzigzag(_ value: UInt64) -> Int64 {
        Int64(bitPattern: value >> 1) ^ -Int64(bitPattern: value & 1)
    }
}

extension ByteBuffer {
    fileprivate mutating func writeVarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            self.writeInteger(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        self.writeInteger(UInt8(value))
    }

    fileprivate mutating func readVarintOrThrow() throws -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while shift < 64 {
            guard let byte = self.readInteger(as: UInt8.self) else { throw ClientJournal.DecodingError() }
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return value }
            shift += 7
        }
        throw ClientJournal.DecodingError()
    }

    /// A count of items that follow, each at least one byte long.
    fileprivate mutating func readCount() throws -> Int {
        let count = try self.readVarintOrThrow()
        guard count <= UInt64(self.readableBytes) else { throw ClientJournal.DecodingError() }
        return Int(count)
    }

    fileprivate mutating func writeLengthPrefixed(_ text: String) {
        self.writeVarint(UInt64(text.utf8.count))
        self.writeString(text)
    }

    fileprivate mutating func readLengthPrefixedOrThrow() throws -> String {
        let length = try self.readCount()
        guard let text = self.readString(length: length) else { throw ClientJournal.DecodingError() }
        return text
    }
}
