public import Metrics

/// The relay's metric handles, created once. Every label value comes from the route file or
/// from a fixed list in the kernel (never a client, room or user id, nor any other string a
/// client sends), so the number of series is bounded by the route file.
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
    private let errorsByCode: [String: Counter]
    private let dropsByReason = ShardedMap<String, Counter>(shardCount: 4)
    private let closesByCode: [UInt16: Counter]
    private let peerClosesByCode: [String: Counter]
    private let kernelIn: Counter
    private let refusalsByReason: [String: Counter]
    private let failedAttempts = ShardedMap<String, Counter>(shardCount: 4)
    private let kernelOut: Counter
    /// Envelopes handed to the cluster backplane for other nodes.
    let clusterOut = Counter(label: "relay_cluster_envelopes_out_total")
    /// Envelopes received from other nodes.
    let clusterIn = Counter(label: "relay_cluster_envelopes_in_total")
    /// Messages delivered here that other nodes' routes sent.
    let clusterDelivered = Counter(label: "relay_messages_out_total", dimensions: RelayMetrics.unrouted(plugin: "cluster"))
    /// Resumes of a client another node held: filled by its node's hand-over, from its journal,
    /// or refused (`resumed: false`).
    let clusterResumes = (
        handover: Counter(label: "relay_cluster_resumes_total", dimensions: [("result", "handover")]),
        journal: Counter(label: "relay_cluster_resumes_total", dimensions: [("result", "journal")]),
        refused: Counter(label: "relay_cluster_resumes_total", dimensions: [("result", "refused")])
    )
    /// Socket.IO upgrades from long-polling to WebSocket: the session was on this node, taken
    /// over from another node, or the upgrade failed (the session ended, its node did not
    /// answer, or a namespace could not be taken over).
    let socketIOUpgrades = (
        local: Counter(label: "relay_socketio_upgrades_total", dimensions: [("result", "local")]),
        remote: Counter(label: "relay_socketio_upgrades_total", dimensions: [("result", "remote")]),
        failed: Counter(label: "relay_socketio_upgrades_total", dimensions: [("result", "failed")])
    )

    /// Creates the handles through the bootstrapped metrics backend.
    public init() {
        self.errorsByCode = Dictionary(
            uniqueKeysWithValues: RelayError.Code.all.map { ($0.rawValue, Counter(label: "relay_errors_total", dimensions: [("code", $0.rawValue)])) }
        )
        self.closesByCode = Dictionary(
            uniqueKeysWithValues: CloseCode.allCases.map {
                ($0.rawValue, Counter(label: "relay_closes_total", dimensions: [("initiator", "server"), ("code", String($0.rawValue))]))
            }
        )
        self.peerClosesByCode = Dictionary(
            uniqueKeysWithValues: Self.peerCloseLabels.map {
                ($0, Counter(label: "relay_closes_total", dimensions: [("initiator", "client"), ("code", $0)]))
            }
        )
        self.refusalsByReason = Dictionary(
            uniqueKeysWithValues: Refusal.Reason.allCases.map { ($0.rawValue, Counter(label: "relay_refusals_total", dimensions: [("reason", $0.rawValue)])) }
        )
        self.kernelIn = Counter(label: "relay_messages_in_total", dimensions: Self.unrouted(plugin: "kernel"))
        self.kernelOut = Counter(label: "relay_messages_out_total", dimensions: Self.unrouted(plugin: "kernel"))
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

    /// Counts a failed attempt a plugin limits (`relay_failed_attempts_total{plugin, attempt}`;
    /// the instance comes from the route file, the attempt's name from the plugin's code).
    func failedAttempt(plugin: String, attempt: String) {
        let counter = self.failedAttempts.update("\(plugin) \(attempt)") { counter in
            if let counter { return counter }
            let created = Counter(label: "relay_failed_attempts_total", dimensions: [("plugin", plugin), ("attempt", attempt)])
            counter = created
            return created
        }
        counter.increment()
    }

    /// Counts a refused upgrade, connection or request (`relay_refusals_total{reason}`).
    func refused(_ reason: Refusal.Reason) {
        self.refusalsByReason[reason.rawValue]?.increment()
    }

    /// Counts a close sent by the server (`relay_closes_total{initiator="server"}`).
    func closed(_ code: CloseCode) {
        self.closesByCode[code.rawValue]?.increment()
    }

    /// Counts a close frame a client sent (`relay_closes_total{initiator="client"}`): `code` is
    /// the frame's code, 1005 when it carried none. Codes a client may pick freely are counted
    /// by range (`3xxx`, `4xxx`), anything else as `other`, so clients cannot add series.
    public func peerClosed(code: UInt16) {
        self.peerClosesByCode[Self.peerCloseLabel(code)]?.increment()
    }

    /// The standard codes a peer's close frame can carry (RFC 6455 §7.4.1 and IANA's registry;
    /// 1005 stands for a frame without a code), each counted under its number.
    static let standardPeerCloseCodes: Set<UInt16> = [1000, 1001, 1002, 1003, 1005, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014]

    /// Every `code` label of client-initiated closes.
    static let peerCloseLabels = standardPeerCloseCodes.sorted().map(String.init) + ["3xxx", "4xxx", "other"]

    /// The `code` label for a client's close code.
    static func peerCloseLabel(_ code: UInt16) -> String {
        switch code {
        case _ where Self.standardPeerCloseCodes.contains(code): String(code)
        case 3000...3999: "3xxx"
        case 4000...4999: "4xxx"
        default: "other"
        }
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

    /// Counters for one route: its endpoint template, its `type` pattern and its plugin
    /// instance, as the route file writes them.
    static func routeCounters(endpoint: String, type: String, plugin: String) -> (inbound: Counter, outbound: Counter) {
        let dimensions = [("endpoint", endpoint), ("type", type), ("plugin", plugin)]
        return (
            Counter(label: "relay_messages_in_total", dimensions: dimensions),
            Counter(label: "relay_messages_out_total", dimensions: dimensions)
        )
    }

    /// Labels of messages no route carries: the kernel's own (ping, auth, resume, leave, error
    /// answers) and deliveries of other cluster nodes' routes.
    static func unrouted(plugin: String) -> [(String, String)] {
        [("endpoint", "*"), ("type", "*"), ("plugin", plugin)]
    }
}
