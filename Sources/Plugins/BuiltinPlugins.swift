public import RelayKernel

/// The plugins that ship in the relay binary.
public enum BuiltinPlugins {
    /// Every built-in plugin type.
    public static let all: [any RelayPlugin.Type] = [PubSubPlugin.self, CameraPairingPlugin.self, PortalViewPlugin.self, MLAlertsPlugin.self, EchoPlugin.self, RecordingRoomsPlugin.self, StaticFilesPlugin.self, QRCodePlugin.self, DevTokensPlugin.self]

    /// A registry holding every built-in plugin.
    public static var registry: PluginRegistry { PluginRegistry(Self.all) }
}
