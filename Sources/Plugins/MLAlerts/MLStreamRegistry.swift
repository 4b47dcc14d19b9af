import RelayKernel

/// The `streams` collection: create, read, list and status changes.
struct MLStreamRegistry: Sendable {
    static let collection = "streams"

    let records: any DurableStore
    /// Stamps `createdAt`, `updatedAt` and `lastSeen`.
    let clock: RelayClock

    /// The registry of the instance `context` belongs to.
    init(context: PluginContext) {
        self.records = context.records
        self.clock = context.clock
    }

    /// Creates a stream owned by `userId`, `offline` until a producer registers.
    func create(userId: String, deviceName: String, deviceType: String, metadata: JSONValue) async throws -> MLStreamRecord {
        let now = MLTimestamp.iso(milliseconds: self.clock.millisecondsSince1970)
        let stream = MLStreamRecord(
            id: Self.newStreamId(),
            userId: userId,
            deviceName: deviceName,
            deviceType: deviceType,
            status: .offline,
            lastSeen: nil,
            metadata: metadata,
            createdAt: now,
            updatedAt: now
        )
        try await self.records.put(Self.collection, id: stream.id, stream.json)
        return stream
    }

    /// The stream `id`, or `nil`.
    func get(_ id: String) async throws -> MLStreamRecord? {
        try await self.records.get(Self.collection, id: id).flatMap(MLStreamRecord.init)
    }

    /// Sets the status and `lastSeen` (now); `nil` when the stream no longer exists.
    @discardableResult
    func setStatus(_ id: String, _ status: MLStreamStatus) async throws -> MLStreamRecord? {
        guard var stream = try await self.get(id) else { return nil }
        let now = MLTimestamp.iso(milliseconds: self.clock.millisecondsSince1970)
        stream.status = status
        stream.lastSeen = now
        stream.updatedAt = now
        try await self.records.put(Self.collection, id: id, stream.json)
        return stream
    }

    /// Every stream of `userId` (every stream when `nil`), newest first.
    func list(userId: String?) async throws -> [MLStreamRecord] {
        var query = DurableQuery(filters: userId.map { ["userId": .string($0)] } ?? [:], limit: 200)
        var streams: [MLStreamRecord] = []
        while true {
            let page = try await self.records.list(Self.collection, query)
            streams += page.records.compactMap(MLStreamRecord.init)
            guard let next = page.nextCursor else { return streams }
            query.before = next
        }
    }

    /// `stream_` and 16 random lower-case letters and digits.
    static func newStreamId() -> String {
        "stream_" + RandomToken.make(length: 16, alphabet: "abcdefghijklmnopqrstuvwxyz0123456789")
    }
}
