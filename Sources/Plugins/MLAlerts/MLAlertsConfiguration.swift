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
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func read<T: Decodable>(_ key: CodingKeys, _ current: T) throws -> T {
            try container.decodeIfPresent(T.self, forKey: key) ?? current
        }
        self.serviceClaim = try read(.serviceClaim, self.serviceClaim)
        if container.contains(.serviceRole) {
            if let single = try? container.decode(String.self, forKey: .serviceRole) {
                self.serviceRoles = [single]
            } else {
                self.serviceRoles = try container.decode([String].self, forKey: .serviceRole)
            }
        }
        self.apiPrefix = try read(.apiPrefix, self.apiPrefix)
        self.defaultPageSize = try read(.defaultPageSize, self.defaultPageSize)
        self.maxPageSize = try read(.maxPageSize, self.maxPageSize)
        self.maxNameLength = try read(.maxNameLength, self.maxNameLength)
        self.maxAlertMessageLength = try read(.maxAlertMessageLength, self.maxAlertMessageLength)
        self.lastSeenInterval = try read(.lastSeenInterval, self.lastSeenInterval)

        func check(_ valid: Bool, _ key: CodingKeys, _ message: String) throws {
            guard valid else { throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: message) }
        }
        try check(!self.serviceClaim.isEmpty, .serviceClaim, "must not be empty")
        try check(!self.serviceRoles.isEmpty && !self.serviceRoles.contains(""), .serviceRole, "must name at least one non-empty role")
        try check(
            self.apiPrefix.hasPrefix("/") && !self.apiPrefix.hasSuffix("/") && !self.apiPrefix.contains(":"),
            .apiPrefix,
            "must start with '/', not end with '/', and have no ':' segments"
        )
        try check(self.maxPageSize > 0, .maxPageSize, "must be positive")
        try check((1...self.maxPageSize).contains(self.defaultPageSize), .defaultPageSize, "must be 1 to maxPageSize")
        try check(self.maxNameLength > 0, .maxNameLength, "must be positive")
        try check(self.maxAlertMessageLength > 0, .maxAlertMessageLength, "must be positive")
        try check(self.lastSeenInterval >= 0, .lastSeenInterval, "must not be negative")
    }
}
