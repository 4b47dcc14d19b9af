import ChatHistoryPlugin
import Plugins
import RelayCLI

// The whole composition root: the relay command line with the built-ins plus chat-history.
await RelayCommand.main(plugins: BuiltinPlugins.all + [ChatHistoryPlugin.self])
