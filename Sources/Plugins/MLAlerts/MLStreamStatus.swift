/// A stream's status, stored with `lastSeen` and pushed as `stream-status`.
enum MLStreamStatus: String, Sendable {
    /// No producer (registered over REST, or gone after the resume grace).
    case offline
    /// A producer registered.
    case online
    /// The producer sent its first frame.
    case streaming
}
