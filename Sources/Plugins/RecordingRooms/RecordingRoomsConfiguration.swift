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
        let fields = ConfigFields(decoder, keys: CodingKeys.self)
        self.startLead = fields.value(.startLead, default: self.startLead)
        self.autoStop = fields.value(.autoStop, default: self.autoStop)
        self.maxDuration = fields.value(.maxDuration, default: self.maxDuration)
        self.controllerDeviceTypes = fields.value(.controllerDeviceTypes, default: self.controllerDeviceTypes)
        self.controllerClaims = fields.value(.controllerClaims, default: [String: OneOrMore<String>]()).mapValues(\.values)
        self.minDevices = fields.value(.minDevices, default: self.minDevices)
        self.maxDevices = fields.value(.maxDevices, default: self.maxDevices)
        self.sessionTTL = fields.value(.sessionTTL, default: self.sessionTTL)
        self.maxFieldLength = fields.value(.maxFieldLength, default: self.maxFieldLength)

        fields.check(self.startLead >= 0 && self.startLead <= 60, .startLead, "must be 0 to 60 (seconds)")
        fields.check(self.maxDuration > 0, .maxDuration, "must be positive (seconds)")
        fields.check(self.controllerDeviceTypes.allSatisfy { !$0.isEmpty }, .controllerDeviceTypes, "must not contain empty names")
        fields.check(self.controllerClaims.values.allSatisfy { !$0.isEmpty }, .controllerClaims, "every claim needs at least one value")
        fields.check(self.minDevices >= 1, .minDevices, "must be at least 1")
        fields.check(self.maxDevices >= self.minDevices, .maxDevices, "must be at least minDevices (\(self.minDevices))")
        fields.check(self.sessionTTL > 0, .sessionTTL, "must be positive (seconds)")
        fields.check(self.maxFieldLength >= 1, .maxFieldLength, "must be at least 1")
        try fields.finish()
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
}
