public import Metrics

/// The relay's metric handles, created once (labels never carry client, room or user ids).
public final class RelayMetrics: Sendable {
    /// Open WebSocket connections.
    public let connectionsActive = Meter(label: "relay_connections_active")
    /// Client identities, attached or waiting to resume.
    public let sessionsActive = Meter(label: "relay_sessions_active")
    /// Rooms with at least one member.
    public let roomsActive = Meter(label: "relay_rooms_active")
    /// Time from queueing a message to writing it to the socket: one sample per batch of
    /// writes (per turn of an event loop), the longest wait in the batch.
    public let deliveryLatency = Timer(label: "relay_delivery_latency_seconds", preferredDisplayUnit: .seconds)
    /// Connections accepted, by endpoint template.
    private let acceptedByEndpoint = ShardedMap<String, Counter>(shardCount: 4)
    private let errorsByCode: [String: Counter]
    private let dropsByReason = ShardedMap<String, Counter>(shardCount: 4)
    private let closesByCode: [UInt16: Counter]
    private let kernelIn: Counter
    private let kernelOut: Counter
    /// Envelopes handed to the cluster backplane for other nodes.
    let clusterOut = Counter(label: "relay_cluster_envelopes_out_total")
    /// Envelopes received from other nodes.
    let clusterIn = Counter(label: "relay_cluster_envelopes_in_total")
    /// Messages delivered here that other nodes' routes sent.
    let clusterDelivered = Counter(label: "relay_messages_out_total", dimensions: [("route", "cluster"), ("plugin", "cluster")])

    /// Creates the handles through the bootstrapped metrics backend.
    public init() {
        self.errorsByCode = Dictionary(
            uniqueKeysWithValues: RelayError.Code.all.map { ($0.rawValue, Counter(label: "relay_errors_total", dimensions: [("code", $0.rawValue)])) }
        )
        self.closesByCode = Dictionary(
            uniqueKeysWithValues: CloseCode.allCases.map {
                ($0.rawValue, Counter(label: "relay_closes_total", dimensions: [("code", String($0.rawValue))]))
            }
        )
        self.kernelIn = Counter(label: "relay_messages_in_total", dimensions: [("route", "kernel"), ("plugin", "kernel")])
        self.kernelOut = Counter(label: "relay_messages_out_total", dimensions: [("route", "kernel"), ("plugin", "kernel")])
        for reason in DropReason.allCases { _ = self.drops(reason) }
    }

    /// Why a message was not delivered.
    public enum DropReason: String, Sendable, CaseIterable {
        /// The recipient's queue was full under `drop-oldest`.
        case queueFull = "queue_full"
        /// The recipient was closed as a slow consumer and had lost too much to resume.
        case slowConsumer = "slow_consumer"
        /// A rate-limited client's further error answers were not sent.
        case rateLimitedNotice = "rate_limited_notice"
        /// The recipient had left.
        case recipientGone = "recipient_gone"
        /// The recipient was on another node and the cluster backplane was down or full.
        case clusterUnavailable = "cluster_unavailable"
    }

    /// Counts an error answer.
    func error(_ code: RelayError.Code) {
        self.errorsByCode[code.rawValue]?.increment()
    }

    /// Counts a close sent by the server.
    func closed(_ code: CloseCode) {
        self.closesByCode[code.rawValue]?.increment()
    }

    /// The drop counter for `reason`.
    func drops(_ reason: DropReason) -> Counter {
        self.dropsByReason.update(reason.rawValue) { counter in
            if let counter { return counter }
            let created = Counter(label: "relay_drops_total", dimensions: [("reason", reason.rawValue)])
            counter = created
            return created
        }
    }

    /// Counts a message handled by the kernel itself (ping, auth, resume, leave).
    func kernelMessageIn() { self.kernelIn.increment() }

    /// Counter for messages the kernel itself sends (pong, errors).
    var kernelMessagesOut: Counter { self.kernelOut }

    /// Counters for one route.
    static func routeCounters(route: String, plugin: String) -> (inbound: Counter, outbound: Counter) {
        (
            Counter(label: "relay_messages_in_total", dimensions: [("route", route), ("plugin", plugin)]),
            Counter(label: "relay_messages_out_total", dimensions: [("route", route), ("plugin", plugin)])
        )
    }
}
