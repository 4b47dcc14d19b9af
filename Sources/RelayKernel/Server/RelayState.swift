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
    private let live = ShardedMap<ObjectIdentifier, RelayConnection>(shardCount: 16)
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

    func track(_ connection: RelayConnection) {
        self.live.update(ObjectIdentifier(connection)) { $0 = connection }
        self.metrics.connectionsActive.increment()
    }

    func untrack(_ connection: RelayConnection) {
        self.live.removeValue(forKey: ObjectIdentifier(connection))
        self.metrics.connectionsActive.decrement()
    }

    var liveConnections: Int { self.live.count }

    /// Every open WebSocket connection (for the watchdog).
    var connections: [RelayConnection] { self.live.values }

    /// Stops new connections and asks every live one to flush and close with 1001.
    func beginDrain() {
        self.drainingFlag.store(true, ordering: .relaxed)
        for connection in self.live.values { connection.control.requestDrain() }
    }

    /// Hard-closes whatever is still open.
    func closeRemaining() {
        for connection in self.live.values { connection.control.channel.close(promise: nil) }
    }
}
