import RelayKernel

/// Settings of a `chat-history` instance: `plugins.<instance>.config` in the route file.
///
/// Every key is optional; an unknown key or a value out of range is an error that `relay check`
/// reports with its line, column and key path (e.g. `plugins.chat.config.historySize`).
///
/// ```yaml
/// plugins:
///   chat:
///     plugin: chat-history
///     config:
///       historySize: 50      # messages kept per room
///       maxTextLength: 2000  # longest `text` in characters; longer is `too_large`
///       maxRoomLength: 128   # longest room name in characters
///       retention: 0         # seconds a quiet room's history is kept; 0 = while the relay runs
///       httpPrefix: /chat    # the REST route is GET <httpPrefix>/rooms/:room/history
/// ```
public struct ChatHistoryConfiguration: Decodable, Sendable, Equatable {
    /// Messages kept per room (the last ones win).
    public var historySize = 50
    /// Longest `text` of a `chat.say`, in characters.
    public var maxTextLength = 2000
    /// Longest room name, in characters.
    public var maxRoomLength = 128
    /// Seconds a room's history lives after its last message; `0` keeps it while the relay runs.
    public var retention: Double = 0
    /// Prefix of the REST route `GET <httpPrefix>/rooms/:room/history`.
    ///
    /// Two `chat-history` instances in one route file need different prefixes: the kernel serves
    /// an HTTP path from the first instance that declares it.
    public var httpPrefix = "/chat"

    enum CodingKeys: String, CodingKey, CaseIterable {
        case historySize, maxTextLength, maxRoomLength, retention, httpPrefix
    }

    /// The defaults.
    public init() {}

    public init(from decoder: any Decoder) throws {
        let fields = ConfigFields(decoder, keys: CodingKeys.self)
        self.historySize = fields.value(.historySize, default: self.historySize)
        self.maxTextLength = fields.value(.maxTextLength, default: self.maxTextLength)
        self.maxRoomLength = fields.value(.maxRoomLength, default: self.maxRoomLength)
        self.retention = fields.value(.retention, default: self.retention)
        self.httpPrefix = fields.value(.httpPrefix, default: self.httpPrefix)
        for (key, value) in [(CodingKeys.historySize, self.historySize), (.maxTextLength, self.maxTextLength), (.maxRoomLength, self.maxRoomLength)] {
            fields.check(value > 0, key, "must be positive, got \(value)")
        }
        fields.check(self.retention >= 0 && self.retention.isFinite, .retention, "must be 0 or more seconds")
        fields.check(
            self.httpPrefix.hasPrefix("/") && !self.httpPrefix.hasSuffix("/") && !self.httpPrefix.contains("?"),
            .httpPrefix,
            "must start with '/' and end without one, e.g. /chat"
        )
        try fields.finish()
    }

    /// How long the store keeps a room's history after a write, or `nil` for as long as it runs.
    var historyTTL: Duration? { self.retention > 0 ? .seconds(self.retention) : nil }

    /// The REST route's path template.
    var historyRoute: String { "\(self.httpPrefix)/rooms/:room/history" }
}
