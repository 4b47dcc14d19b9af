import RelayKernel

/// Settings of a `recording-rooms` instance (`plugins.<name>.config`).
///
/// Durations are seconds (fractions allowed); on the wire, `duration`, `timestamp` and
/// `startAt` are milliseconds as in seed 002. Unknown keys are errors, so a typo is caught by
/// `relay check`. See `docs/plugins/recording-rooms.md`.
public struct RecordingRoomsConfiguration: Decodable, Sendable {
    /// How far ahead of the server's clock `start_recording` schedules `startAt`: long enough for
    /// the broadcast to reach every device before that instant.
    public var startLead: Double = 0.5
    /// Stop a recording on the server once `startAt + duration` has passed (instead of relying
    /// on a desktop's timer); `stop_recording` then goes to the room with `reason: "duration"`.
    public var autoStop = true
    /// The longest `duration` a `start_recording` may ask for.
    public var maxDuration: Double = 3600
    /// Devices that may send `start_recording` / `stop_recording`, by the `deviceType` they joined
    /// with; empty: any device in the session.
    public var controllerDeviceTypes = ["desktop"]
    /// Token claims a controller must also carry (claim → required value, a list meaning any of
    /// them), e.g. `{role: [operator, admin]}`; empty: no claim is needed.
    public var controllerClaims: [String: [String]] = [:]
    /// Devices present for the session to be `READY` (below it: `WAITING`, and a start is refused).
    public var minDevices = 2
    /// Devices a session holds at once; a join beyond it is answered `conflict`.
    public var maxDevices = 16
    /// How long a session is kept in the store after its last change.
    public var sessionTTL: Double = 86_400
    /// Longest accepted `sessionId`, `deviceType`, `viewType`, `postureLabel` and `recordingId`.
    public var maxFieldLength = 256

    enum CodingKeys: String, CodingKey, CaseIterable {
        case startLead, autoStop, maxDuration, controllerDeviceTypes, controllerClaims, minDevices, maxDevices, sessionTTL, maxFieldLength
    }

    /// The defaults.
    public init() {}

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func read<T: Decodable>(_ key: CodingKeys, _ current: T) throws -> T {
            try container.decodeIfPresent(T.self, forKey: key) ?? current
        }
        self.startLead = try read(.startLead, self.startLead)
        self.autoStop = try read(.autoStop, self.autoStop)
        self.maxDuration = try read(.maxDuration, self.maxDuration)
        self.controllerDeviceTypes = try read(.controllerDeviceTypes, self.controllerDeviceTypes)
        self.controllerClaims = try container.decodeIfPresent(ClaimRequirements.self, forKey: .controllerClaims)?.values ?? self.controllerClaims
        self.minDevices = try read(.minDevices, self.minDevices)
        self.maxDevices = try read(.maxDevices, self.maxDevices)
        self.sessionTTL = try read(.sessionTTL, self.sessionTTL)
        self.maxFieldLength = try read(.maxFieldLength, self.maxFieldLength)

        func check(_ valid: Bool, _ key: CodingKeys, _ message: String) throws {
            guard valid else { throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: message) }
        }
        try check(self.startLead >= 0 && self.startLead <= 60, .startLead, "must be 0 to 60 (seconds)")
        try check(self.maxDuration > 0, .maxDuration, "must be positive (seconds)")
        try check(self.controllerDeviceTypes.allSatisfy { !$0.isEmpty }, .controllerDeviceTypes, "must not contain empty names")
        try check(self.controllerClaims.values.allSatisfy { !$0.isEmpty }, .controllerClaims, "every claim needs at least one value")
        try check(self.minDevices >= 1, .minDevices, "must be at least 1")
        try check(self.maxDevices >= self.minDevices, .maxDevices, "must be at least minDevices (\(self.minDevices))")
        try check(self.sessionTTL > 0, .sessionTTL, "must be positive (seconds)")
        try check(self.maxFieldLength >= 1, .maxFieldLength, "must be at least 1")
    }

    /// Whether a device that joined as `deviceType`, with these token claims, may start and stop.
    func mayControl(deviceType: String, claims: [String: JSONValue]) -> Bool {
        if !self.controllerDeviceTypes.isEmpty, !self.controllerDeviceTypes.contains(deviceType) { return false }
        for (claim, accepted) in self.controllerClaims {
            switch claims[claim] {
            case .string(let value)?:
                guard accepted.contains(value) else { return false }
            case .array(let values)?:
                guard values.contains(where: { $0.stringValue.map(accepted.contains) == true }) else { return false }
            default:
                return false
            }
        }
        return true
    }

    /// Who may control, in words (for `forbidden` messages).
    var controllerDescription: String {
        var parts: [String] = []
        if !self.controllerDeviceTypes.isEmpty { parts.append("deviceType \(self.controllerDeviceTypes.joined(separator: " or "))") }
        for (claim, accepted) in self.controllerClaims.sorted(by: { $0.key < $1.key }) {
            parts.append("claim \(claim) = \(accepted.joined(separator: " or "))")
        }
        return parts.isEmpty ? "any device in the session" : parts.joined(separator: " and ")
    }

    var startLeadMilliseconds: Int64 { Self.milliseconds(self.startLead) }
    var maxDurationMilliseconds: Int64 { Self.milliseconds(self.maxDuration) }
    var sessionTTLDuration: Duration { .milliseconds(Self.milliseconds(self.sessionTTL)) }

    /// Milliseconds in `seconds`.
    static func milliseconds(_ seconds: Double) -> Int64 { Int64((seconds * 1000).rounded()) }

    /// `claim: value` or `claim: [values]`.
    private struct ClaimRequirements: Decodable {
        let values: [String: [String]]

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: AnyKey.self)
            var values: [String: [String]] = [:]
            for key in container.allKeys {
                if let single = try? container.decode(String.self, forKey: key) {
                    values[key.stringValue] = [single]
                } else {
                    values[key.stringValue] = try container.decode([String].self, forKey: key)
                }
            }
            self.values = values
        }
    }

    private struct AnyKey: CodingKey {
        let stringValue: String
        let intValue: Int? = nil
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}
