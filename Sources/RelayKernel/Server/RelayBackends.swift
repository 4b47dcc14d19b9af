/// What a relay keeps its shared state in and reaches other nodes through; the composition
/// root opens them (it owns the drivers) from the route file's `store:` and `cluster:`.
public struct RelayBackends: Sendable {
    /// Plugin shared state (TTL, compare-and-set).
    public var store: any KeyValueStore
    /// Durable records.
    public var records: any DurableStore
    /// The other nodes, in cluster mode.
    package var cluster: (any ClusterBackplane)?

    /// Creates backends.
    public init(store: any KeyValueStore, records: any DurableStore) {
        self.init(store: store, records: records, cluster: nil)
    }

    /// Stores and the cluster backplane (the composition root's PostgreSQL cluster).
    package init(store: any KeyValueStore, records: any DurableStore, cluster: (any ClusterBackplane)?) {
        self.store = store
        self.records = records
        self.cluster = cluster
    }

    /// Everything in process memory: one node, nothing survives a restart.
    public static func inMemory() -> RelayBackends {
        RelayBackends(store: MemoryKeyValueStore(), records: MemoryDurableStore())
    }
}
