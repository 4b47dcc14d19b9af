import Plugins
import PresenceCounter
import RelayCLI

await RelayCommand.main(plugins: BuiltinPlugins.all + [PresenceCounterPlugin.self])
