import ServiceLifecycle

/// Runs the cluster backplane beside the server until shutdown.
struct ClusterService: Service {
    let backplane: any ClusterBackplane
    let node: ClusterNode

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            try await self.backplane.run(node: self.node)
        }
    }
}
