public import ArgumentParser
public import RelayKernel
import Synchronization

/// The `relay` command line: `serve`, `check`, `routes`, `token`, `reload`.
///
/// An executable that adds its own plugins calls ``main(plugins:)`` with them.
public struct RelayCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "relay",
        abstract: "A plugin-driven WebSocket relay.",
        version: RelayVersion.description,
        subcommands: [ServeCommand.self, CheckCommand.self, RoutesCommand.self, TokenCommand.self, ReloadCommand.self],
        defaultSubcommand: ServeCommand.self
    )

    public init() {}

    private static let pluginRegistry = Mutex(PluginRegistry())

    /// The plugins this binary serves.
    static var registry: PluginRegistry { Self.pluginRegistry.withLock { $0 } }

    /// Runs the command line with `plugins` registered.
    public static func main(plugins: [any RelayPlugin.Type]) async {
        Self.pluginRegistry.withLock { $0 = PluginRegistry(plugins) }
        await Self.main()
    }
}
