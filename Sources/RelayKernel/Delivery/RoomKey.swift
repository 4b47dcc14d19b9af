/// A room, scoped to the plugin instance that owns it so two instances never share rooms.
public struct RoomKey: Hashable, Sendable, CustomStringConvertible {
    /// The plugin instance.
    public let instance: String
    /// The room's name within the instance.
    public let name: String

    /// Creates a room key.
    public init(instance: String, name: String) {
        self.instance = instance
        self.name = name
    }

    public var description: String { "\(self.instance)/\(self.name)" }
}
