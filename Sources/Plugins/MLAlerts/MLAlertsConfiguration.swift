import RelayKernel

/// Settings of an `ml-alerts` instance (`plugins.<name>.config`).
///
/// Durations are seconds (fractions allowed). Unknown keys are errors, so a typo is caught by
/// `relay check`.
public struct MLAlertsConfiguration: Decodable, Sendable {
    /// The claim that names the service role.
    public var serviceClaim = "role"
    /// Values of ``serviceClaim`` that make a client the ML service (a string or a list in YAML).
    public var serviceRoles: [String] = ["ml-service"]
    /// Path prefix of the REST API (`<prefix>/streams/register`, `<prefix>/streams/list`, `<prefix>/alerts`).
    public var apiPrefix = "/api"
    /// Alerts per page of `GET <prefix>/alerts` when `limit` is absent.
    public var defaultPageSize = 50
    /// Largest page; a larger `limit` is lowered to it.
    public var maxPageSize = 200
    /// Longest `deviceName`, `deviceType` and `streamId` (characters).
    public var maxNameLength = 128
    /// Longest alert `message` (characters).
    public var maxAlertMessageLength = 2000
    /// While a stream is streaming, its stored `lastSeen` is refreshed at most this often (0: only on status changes).
    public var lastSeenInterval: Double = 30

    enum CodingKeys: String, CodingKey, CaseIterable {
        case serviceClaim, serviceRole, apiPrefix, defaultPageSize, maxPageSize, maxNameLength, maxAlertMessageLength, lastSeenInterval
    }

    /// The defaults.
    public init() {}

    public init(from decoder: any Decoder) throws {
        let fields = ConfigFields(decoder, keys: CodingKeys.self)
        self.serviceClaim = fields.value(.serviceClaim, default: self.serviceClaim)
        self.serviceRoles = fields.value(.serviceRole, default: OneOrMore(self.serviceRoles)).values
        self.apiPrefix = fields.value(.apiPrefix, default: self.apiPrefix)
        self.defaultPageSize = fields.value(.defaultPageSize, default: self.defaultPageSize)
        self.maxPageSize = fields.value(.maxPageSize, default: self.maxPageSize)
        self.maxNameLength = fields.value(.maxNameLength, default: self.maxNameLength)
        self.maxAlertMessageLength = fields.value(.maxAlertMessageLength, default: self.maxAlertMessageLength)
        self.lastSeenInterval = fields.value(.lastSeenInterval, default: self.lastSeenInterval)

        fields.check(!self.serviceClaim.isEmpty, .serviceClaim, "must not be empty")
        fields.check(!self.serviceRoles.isEmpty && !self.serviceRoles.contains(""), .serviceRole, "must name at least one non-empty role")
        fields.check(
            self.apiPrefix.hasPrefix("/") && !self.apiPrefix.hasSuffix("/") && !self.apiPrefix.contains(":"),
            .apiPrefix,
            "must start with '/', not end with '/', and have no ':' segments"
        )
        fields.check(self.maxPageSize > 0, .maxPageSize, "must be positive")
        fields.check(self.maxPageSize <= 0 || (1...self.maxPageSize).contains(self.defaultPageSize), .defaultPageSize, "must be 1 to maxPageSize")
        fields.check(self.maxNameLength > 0, .maxNameLength, "must be positive")
        fields.check(self.maxAlertMessageLength > 0, .maxAlertMessageLength, "must be positive")
        fields.check(self.lastSeenInterval >= 0, .lastSeenInterval, "must not be negative")
        try fields.finish()
    }
}
