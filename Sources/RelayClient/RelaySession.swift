/// The identity a `connected` frame gave the client.
public struct RelaySession: Sendable, Hashable {
    /// How the session began.
    public enum Start: Sendable, Hashable {
        /// The first connection of this client.
        case new
        /// The relay resumed the earlier identity and replays the `replayed` messages the client
        /// missed, in order, before anything newer.
        case resumed(replayed: Int)
        /// The relay could not resume `previousClientId` (grace period over, token used or
        /// unknown, relay restarted): this is a new identity, and room memberships and other
        /// server-side state of the old one are gone. Rebuild them (subscribe again, …).
        case resumeFailed(previousClientId: String)
    }

    /// The relay's id for this client (peers address it by this id).
    public let clientId: String
    /// How the session began.
    public let start: Start
    /// The whole `connected` frame (plugins add fields, e.g. `role`).
    public let connected: RelayMessage
}
