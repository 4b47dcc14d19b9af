/// The room names an `ml-alerts` instance keeps per stream (rooms live in the kernel's hub, so
/// a client's memberships survive a resume and end when it leaves for good).
enum MLRooms {
    private static let producerPrefix = "producer:"

    /// The connections that registered as the stream's video producer.
    static func producer(_ streamId: String) -> String { Self.producerPrefix + streamId }

    /// Video consumers that want `form`.
    static func video(_ streamId: String, _ form: MLVideoForm) -> String { "video-\(form.rawValue):\(streamId)" }

    /// Alert consumers.
    static func alerts(_ streamId: String) -> String { "alerts:" + streamId }

    /// Subscribers, who hear `stream-status`.
    static func status(_ streamId: String) -> String { "status:" + streamId }

    /// Every consumer room of a stream (what `subscribe` replaces and `unsubscribe` leaves).
    static func consumerRooms(_ streamId: String) -> [String] {
        MLVideoForm.allCases.map { Self.video(streamId, $0) } + [Self.alerts(streamId), Self.status(streamId)]
    }

    /// The stream of a producer room, or `nil` for other rooms.
    static func streamOfProducerRoom(_ room: String) -> String? {
        room.hasPrefix(Self.producerPrefix) ? String(room.dropFirst(Self.producerPrefix.count)) : nil
    }
}
