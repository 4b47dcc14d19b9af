/// One entry of `endpoints:` — a WebSocket path with its codec, auth mode and limits.
public struct EndpointSettings: Sendable, Equatable {
    /// How an endpoint authenticates clients.
    public enum AuthMode: String, Sendable, Decodable, CaseIterable {
        /// Tokens are ignored.
        case none
        /// A valid token identifies the user; none is anonymous; a bad one is refused.
        case optional
        /// A token is required, on the upgrade or as the first message.
        case required
    }

    /// Path template, `:name` segments are parameters.
    public var path: String
    /// Codec name (`json`).
    public var codec = "json"
    /// Auth mode.
    public var auth = AuthMode.optional
    /// permessage-deflate settings.
    public var compression = CompressionSettings()
    /// Engine.IO / Socket.IO settings (codec `socketio`).
    public var socketio = SocketIOSettings()
    /// Effective limits (the server-wide `limits:` with this endpoint's overrides).
    public var limits: LimitSettings

    /// An endpoint with default settings.
    public init(path: String, limits: LimitSettings = LimitSettings()) {
        self.path = path
        self.limits = limits
    }
}

extension EndpointSettings: Decodable {
    enum Keys: String, CodingKey, CaseIterable { case path, codec, auth, compression, limits, socketio }

    /// The server-wide limits, passed through `userInfo` so endpoint overrides start from them.
    static let baseLimitsKey = CodingUserInfoKey(rawValue: "relay.config.baseLimits")!

    public init(from decoder: any Decoder) throws {
        let fields = ConfigFields(decoder, keys: Keys.self)
        self.path = fields.required(.path) ?? ""
        self.codec = fields.value(.codec, default: self.codec)
        let authText: String = fields.value(.auth, default: AuthMode.optional.rawValue)
        if let mode = AuthMode(rawValue: authText) {
            self.auth = mode
        } else {
            fields.invalid(.auth, "must be one of none, optional, required")
        }
        self.compression = fields.value(.compression, default: self.compression)
        self.socketio = fields.value(.socketio, default: self.socketio)
        let base = (decoder.userInfo[Self.baseLimitsKey] as? LimitsBox)?.limits ?? LimitSettings()
        self.limits = fields.value(.limits, default: LimitsOverride(base)).limits
        if !self.path.hasPrefix("/") { fields.invalid(.path, "must start with '/'") }
        try fields.finish()
    }
}

/// Holds the server-wide limits while endpoints decode.
final class LimitsBox: @unchecked Sendable {
    var limits: LimitSettings
    init(_ limits: LimitSettings) { self.limits = limits }
}

/// Decodes an endpoint's `limits:` block over the server-wide limits.
struct LimitsOverride: Decodable {
    var limits: LimitSettings
    init(_ limits: LimitSettings) { self.limits = limits }
    init(from decoder: any Decoder) throws {
        let base = (decoder.userInfo[EndpointSettings.baseLimitsKey] as? LimitsBox)?.limits ?? LimitSettings()
        self.limits = try LimitSettings(from: decoder, base: base)
    }
}

/// `compression:` — permessage-deflate for one endpoint.
public struct CompressionSettings: Sendable, Equatable, Decodable {
    /// Negotiate permessage-deflate when the client offers it.
    public var enabled = false
    /// Reset the compression context per message (bounds memory per connection).
    public var noContextTakeover = true
    /// Largest LZ77 window (9...15).
    public var maxWindowBits = 15

    init() {}

    enum Keys: String, CodingKey, CaseIterable { case enabled, noContextTakeover, maxWindowBits }

    public init(from decoder: any Decoder) throws {
        let fields = ConfigFields(decoder, keys: Keys.self)
        self.enabled = fields.value(.enabled, default: self.enabled)
        self.noContextTakeover = fields.value(.noContextTakeover, default: self.noContextTakeover)
        self.maxWindowBits = fields.value(.maxWindowBits, default: self.maxWindowBits)
        if !(9...15).contains(self.maxWindowBits) { fields.invalid(.maxWindowBits, "must be 9...15") }
        try fields.finish()
    }
}
