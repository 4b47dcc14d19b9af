import Plugins
import RelayCLI

await RelayCommand.main(plugins: BuiltinPlugins.all)
