import Logging
import Metrics
import NIOCore
import Synchronization

/// Process-wide state shared by every connection: the current route table, the plugin
/// runtime, connection counters and the live connections (for draining).
final class RelayState: Sendable {
    let registry: PluginRegistry
    let runtime: PluginRuntime
    let metrics: RelayMetrics
    let counter = ConnectionCounter()
    let logger: Logger
    private let table: Mutex<RouteTable>
    private let live = ShardedMap<ObjectIdentifier, ConnectionControl>(shardCount: 16)
    private let drainingFlag = Atomic<Bool>(false)
    private let node = Mutex<ClusterNode?>(nil)

    init(table: RouteTable, registry: PluginRegistry, runtime: PluginRuntime, metrics: RelayMetrics, logger: Logger) {
        self.table = Mutex(table)
        self.registry = registry
        self.runtime = runtime
        self.metrics = metrics
        self.logger = logger
    }

    /// The cluster side of this process (created once, in cluster mode).
    var clusterNode: ClusterNode? {
        guard self.runtime.hub.cluster != nil else { return nil }
        return self.node.withLock { node in
            if let node { return node }
            let created = ClusterNode(state: self)
            node = created
            return created
        }
    }

    var currentTable: RouteTable { self.table.withLock { $0 } }

    func replaceTable(_ table: RouteTable) { self.table.withLock { $0 = table } }

    var isDraining: Bool { self.drainingFlag.load(ordering: .relaxed) }

    func track(_ control: ConnectionControl) {
        self.live.update(ObjectIdentifier(control)) { $0 = control }
        self.metrics.connectionsActive.increment()
    }

    func untrack(_ control: ConnectionControl) {
        self.live.removeValue(forKey: ObjectIdentifier(control))
        self.metrics.connectionsActive.decrement()
    }

    var liveConnections: Int { self.live.count }

    /// Stops new connections and asks every live one to flush and close with 1001.
    func beginDrain() {
        self.drainingFlag.store(true, ordering: .relaxed)
        for control in self.live.values { control.requestDrain() }
    }

    /// Hard-closes whatever is still open.
    func closeRemaining() {
        for control in self.live.values { control.channel.close(promise: nil) }
    }
}
