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
        try Self.rejectUnknownKeys(decoder)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.historySize = try Self.wholeNumber(.historySize, in: container) ?? self.historySize
        self.maxTextLength = try Self.wholeNumber(.maxTextLength, in: container) ?? self.maxTextLength
        self.maxRoomLength = try Self.wholeNumber(.maxRoomLength, in: container) ?? self.maxRoomLength
        self.retention = try container.decodeIfPresent(Double.self, forKey: .retention) ?? self.retention
        self.httpPrefix = try container.decodeIfPresent(String.self, forKey: .httpPrefix) ?? self.httpPrefix
        for (key, value) in [(CodingKeys.historySize, self.historySize), (.maxTextLength, self.maxTextLength), (.maxRoomLength, self.maxRoomLength)]
        where value <= 0 {
            throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "must be positive, got \(value)")
        }
        guard self.retention >= 0, self.retention.isFinite else {
            throw DecodingError.dataCorruptedError(forKey: .retention, in: container, debugDescription: "must be 0 or more seconds")
        }
        guard self.httpPrefix.hasPrefix("/"), !self.httpPrefix.hasSuffix("/"), !self.httpPrefix.contains("?") else {
            throw DecodingError.dataCorruptedError(
                forKey: .httpPrefix,
                in: container,
                debugDescription: "must start with '/' and end without one, e.g. /chat"
            )
        }
    }

    /// How long the store keeps a room's history after a write, or `nil` for as long as it runs.
    var historyTTL: Duration? { self.retention > 0 ? .seconds(self.retention) : nil }

    /// The REST route's path template.
    var historyRoute: String { "\(self.httpPrefix)/rooms/:room/history" }

    /// An integer setting. Foundation's `JSONDecoder` reports `2.5` for an `Int` as "not valid
    /// JSON" without a key path, so the error is rethrown here naming the key.
    private static func wholeNumber(_ key: CodingKeys, in container: KeyedDecodingContainer<CodingKeys>) throws -> Int? {
        do {
            return try container.decodeIfPresent(Int.self, forKey: key)
        } catch {
            throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "must be a whole number")
        }
    }

    /// A typo in a setting must not silently fall back to its default.
    private static func rejectUnknownKeys(_ decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        for key in container.allKeys where CodingKeys(stringValue: key.stringValue) == nil {
            let known = CodingKeys.allCases.map(\.rawValue).joined(separator: ", ")
            throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "unknown key (known: \(known))")
        }
    }

    private struct AnyKey: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}
