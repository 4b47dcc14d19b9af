/// What a client may do in a portal view (seed 003): controllers drive it, viewers show it.
public enum PortalViewRole: String, Sendable, Hashable, CaseIterable {
    /// OWNER or EDITOR: sends `portal-view-update`, `item-update`, `sync-response`.
    case controller
    /// VIEWER: sends `request-sync`.
    case viewer

    /// The role allowed to send a message `type`, or `nil` when the plugin does not handle it.
    static func required(for type: String) -> PortalViewRole? {
        switch type {
        case "portal-view-update", "item-update", "sync-response": .controller
        case "request-sync": .viewer
        default: nil
        }
    }
}
