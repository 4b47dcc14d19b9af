/// Behaviour wired to message types by a route file.
///
/// A plugin declares its name and its settings type, and reacts to three events: a client joined
/// an endpoint it serves, a message was routed to it, a client left for good. It acts only
/// through the ``PluginContext`` it is handed: it never holds a socket, and addresses clients by
/// ``ClientID``.
///
/// ```swift
/// struct EchoPlugin: RelayPlugin {
///     struct Configuration: Decodable, Sendable { var prefix = "" }
///     static let name = "echo"
///     let prefix: String
///
///     init(configuration: Configuration, setup: inout PluginSetup) throws {
///         self.prefix = configuration.prefix
///     }
///
///     func handle(_ message: RelayMessage, context: PluginContext) async throws {
///         let text = try message.string("text")
///         context.reply(.json(type: "echo", ["text": .string(self.prefix + text)]))
///     }
/// }
/// ```
public protocol RelayPlugin: Sendable {
    /// The settings under `plugins.<instance>.config`, decoded and validated by `relay check`.
    associatedtype Configuration: Decodable & Sendable

    /// The name route files use in `plugin:`.
    static var name: String { get }

    /// The message types ``handle(_:context:)`` accepts, for `relay check`: it warns about a
    /// route whose `type` matches none of them, and about any route to a plugin that declares
    /// none (`[]`: it serves HTTP only). `nil`, the default, declares nothing and turns both
    /// checks off.
    static var messageTypes: [String]? { get }

    /// Creates an instance from its settings; register HTTP routes through `setup`.
    init(configuration: Configuration, setup: inout PluginSetup) throws

    /// The instance is live: called once when the relay starts (or when a reload creates the
    /// instance), before clients arrive. Use it to reconcile stored state, e.g. records a crash
    /// left behind.
    func started(context: PluginContext) async

    /// A new client joined an endpoint this instance has routes on (not called on resume).
    ///
    /// Throw ``RelayError`` `forbidden` or `unauthenticated` to refuse it (close 1008). Return
    /// fields to add to its `connected` message.
    func clientJoined(_ client: ClientInfo, context: PluginContext) async throws -> [String: JSONValue]

    /// A message routed to this instance. Throw ``RelayError`` to answer the sender with an error.
    ///
    /// Runs on the event loop of the sender's connection: await I/O, never block.
    func handle(_ message: RelayMessage, context: PluginContext) async throws

    /// The client left for good: at once on a clean close, after the resume grace on a drop.
    func clientLeft(_ client: ClientInfo, context: PluginContext) async
}

extension RelayPlugin {
    public static var messageTypes: [String]? { nil }
    public func started(context: PluginContext) async {}
    public func clientJoined(_ client: ClientInfo, context: PluginContext) async throws -> [String: JSONValue] { [:] }
    public func clientLeft(_ client: ClientInfo, context: PluginContext) async {}
}

/// Settings for plugins that take none.
public struct NoConfiguration: Decodable, Sendable {
    public init() {}
}
