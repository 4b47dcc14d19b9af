import Synchronization

/// What this node knows about streams with a producer connected here: whether the first frame
/// has been seen and when `lastSeen` was last written. Lets the frame path decide without a
/// store read; the store stays the record of truth.
final class MLLiveStreams: Sendable {
    /// What a frame asks of the stream's record.
    enum FrameAction: Equatable {
        /// Nothing to write.
        case none
        /// The first frame since the producer registered: status becomes `streaming`.
        case startStreaming
        /// Still streaming; time to refresh `lastSeen`.
        case refreshLastSeen
    }

    private struct Entry {
        var streaming: Bool
        var lastWrite: ContinuousClock.Instant
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let refreshInterval: Duration?

    /// `refreshInterval`: how often `lastSeen` is refreshed while streaming (`nil`: never).
    init(refreshInterval: Duration?) {
        self.refreshInterval = refreshInterval
    }

    /// A producer registered: the stream is `online` until its next frame.
    func markOnline(_ streamId: String, now: ContinuousClock.Instant) {
        self.entries.withLock { $0[streamId] = Entry(streaming: false, lastWrite: now) }
    }

    /// A frame arrived.
    func noteFrame(_ streamId: String, now: ContinuousClock.Instant) -> FrameAction {
        self.entries.withLock { entries in
            guard var entry = entries[streamId], entry.streaming else {
                entries[streamId] = Entry(streaming: true, lastWrite: now)
                return .startStreaming
            }
            guard let interval = self.refreshInterval, now - entry.lastWrite >= interval else { return .none }
            entry.lastWrite = now
            entries[streamId] = entry
            return .refreshLastSeen
        }
    }

    /// The last producer left.
    func forget(_ streamId: String) {
        _ = self.entries.withLock { $0.removeValue(forKey: streamId) }
    }
}
