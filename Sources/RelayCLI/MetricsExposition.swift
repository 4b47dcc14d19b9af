import Metrics
import Prometheus

/// What `GET /metrics` answers: swift-metrics bootstrapped onto a Prometheus registry, with
/// `# HELP` and `# TYPE` for every family, delivery-latency buckets from 100 µs to 10 s, the
/// process metrics and `relay_build_info`.
final class MetricsExposition: Sendable {
    private let registry = PrometheusCollectorRegistry()
    private let process: ProcessMetrics

    /// Bootstraps the process-wide metrics system (once per process) and sets `relay_build_info`.
    init() {
        MetricsSystem.bootstrap(DescribedPrometheusFactory(registry: self.registry, help: Self.help, durationBuckets: Self.latencyBuckets))
        self.process = ProcessMetrics(registry: self.registry)
        self.registry.makeGauge(
            descriptor: MetricNameDescriptor(metricName: "relay_build_info", unitName: "", helpText: Self.help["relay_build_info"]!),
            labels: [("version", RelayVersion.number), ("commit", RelayVersion.commit)]
        ).set(to: 1)
    }

    /// The Prometheus text exposition, process metrics read now.
    func render() -> String {
        self.process.update()
        return self.registry.emitToString()
    }

    /// `relay_delivery_latency_seconds` buckets: 100 µs to 10 s, 1-2.5-5 per decade.
    static let latencyBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500),
        .milliseconds(1), .milliseconds(2.5), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
    ]

    /// The `# HELP` text of every family the relay and its drivers create.
    static let help: [String: String] = [
        "relay_build_info": "Always 1; the labels name the running binary's version and git commit.",
        "relay_connections_active": "Open WebSocket connections.",
        "relay_sessions_active": "Client identities, attached to a connection or waiting to resume.",
        "relay_rooms_active": "Rooms with at least one member.",
        "relay_messages_in_total":
            "Messages received from clients, by endpoint template, route type pattern and plugin instance (endpoint and type \"*\": the kernel's own ping, auth, resume and leave).",
        "relay_messages_out_total":
            "Messages queued for clients, by the endpoint, type pattern and plugin instance of the route that sent them (\"*\": kernel answers, and plugin \"cluster\" for other nodes' routes).",
        "relay_delivery_latency_seconds": "Time from queueing a message for a client to writing it to the socket.",
        "relay_drops_total": "Messages not delivered, by reason.",
        "relay_errors_total": "Error answers sent to clients and HTTP callers, by error code.",
        "relay_failed_attempts_total": "Failed attempts a plugin limits per client address (e.g. camera-pairing joins with an unknown code), by plugin instance and attempt.",
        "relay_refusals_total":
            "Upgrades, connections and requests the relay refused (each also logged at WARN), by reason (origin, token, ip_limit, api_key, too_many_failures, ...).",
        "relay_closes_total":
            "WebSocket closes by close code; initiator \"server\": the relay closed, \"client\": the client's close frame (codes 3000-4999 by range).",
        "relay_cluster_envelopes_out_total": "Envelopes handed to the cluster backplane for other nodes.",
        "relay_cluster_envelopes_in_total": "Envelopes received from other cluster nodes.",
        "relay_cluster_backplane_up": "1 while the cluster backplane is connected to PostgreSQL (LISTEN running), else 0.",
        "relay_cluster_links_open": "Open outgoing media links to other cluster nodes.",
        "relay_cluster_media_frames_total": "Frames sent or received over direct media links between cluster nodes, by direction.",
        "relay_cluster_resumes_total":
            "Resumes of a client another node held, by result: \"handover\" (its node handed its queue over), \"journal\" (replayed from the database after its node died or did not answer), \"refused\" (resumed: false).",
        "relay_socketio_upgrades_total":
            "Socket.IO upgrades from long-polling to WebSocket, by result: \"local\" (the session was on this node), \"remote\" (taken over from the cluster node that held it), \"failed\".",
    ]
}
