import Logging
import Metrics
import NIOCore
import Synchronization

/// Process-wide state shared by every connection: the current route table, the plugin
/// runtime, connection counters and the event loops that serve WebSockets.
final class RelayState: Sendable {
    let registry: PluginRegistry
    let runtime: PluginRuntime
    let metrics: RelayMetrics
    let counter = ConnectionCounter()
    /// Engine.IO long-polling sessions open on this node.
    let polling = PollingRegistry()
    let logger: Logger
    /// What the connections of each event loop share.
    let loops: LoopContexts
    private let table: Mutex<RouteTable>
    /// Bumped by every reload, so a connection notices one with an atomic load per message.
    private let version = Atomic<Int>(0)
    private let live = Atomic<Int>(0)
    private let drainingFlag = Atomic<Bool>(false)
    private let node = Mutex<ClusterNode?>(nil)

    init(table: RouteTable, registry: PluginRegistry, runtime: PluginRuntime, metrics: RelayMetrics, logger: Logger) {
        self.table = Mutex(table)
        self.registry = registry
        self.runtime = runtime
        self.metrics = metrics
        self.logger = logger
        self.loops = LoopContexts(sweepInterval: table.sweepInterval, deliveryLatency: metrics.deliveryLatency)
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

    /// Changes with every ``replaceTable(_:)``.
    var tableVersion: Int { self.version.load(ordering: .acquiring) }

    func replaceTable(_ table: RouteTable) {
        self.table.withLock { $0 = table }
        self.loops.sweepInterval = table.sweepInterval
        self.version.add(1, ordering: .releasing)
    }

    var isDraining: Bool { self.drainingFlag.load(ordering: .relaxed) }

    /// A WebSocket connection started.
    func connectionOpened() {
        self.live.add(1, ordering: .relaxed)
        self.metrics.connectionsActive.increment()
    }

    /// A WebSocket connection ended.
    func connectionClosed() {
        self.live.subtract(1, ordering: .relaxed)
        self.metrics.connectionsActive.decrement()
    }

    /// Open WebSocket connections.
    var liveConnections: Int { self.live.load(ordering: .relaxed) }

    /// Stops new connections and asks every live one to flush and close with 1001.
    func beginDrain() {
        self.drainingFlag.store(true, ordering: .relaxed)
        self.forEachConnection { $0.drain() }
    }

    /// Hard-closes whatever is still open.
    func closeRemaining() {
        self.forEachConnection { $0.abort() }
    }

    /// Runs `body` with every open connection, on its event loop.
    private func forEachConnection(_ body: @escaping @Sendable (ClientConnection) -> Void) {
        for loop in self.loops.all {
            loop.eventLoop.execute {
                loop.forEachMember { ($0 as? ClientConnection).map(body) }
            }
        }
    }
}
