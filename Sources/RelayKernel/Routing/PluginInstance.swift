/// A created plugin with the instance name it serves under.
struct PluginInstance: Sendable {
    let name: String
    let settings: PluginInstanceSettings
    let plugin: any RelayPlugin
    let httpRoutes: [PluginSetup.HTTPRoute]
}
