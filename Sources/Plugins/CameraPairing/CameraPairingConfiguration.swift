import RelayKernel

/// Settings of a `camera-pairing` instance (`plugins.<name>.config`).
///
/// Durations are seconds (fractions allowed). Unknown keys are errors, so a typo is caught by
/// `relay check`.
public struct CameraPairingConfiguration: Decodable, Sendable {
    /// Characters in a pairing code (codes use ``PairingCode/alphabet``: no 0/O, 1/I/L).
    public var codeLength = 6
    /// How long an unpaired code can be joined.
    public var codeTTL: Double = 600
    /// A pairing with no signaling message, join or REST poll for this long expires.
    public var idleTimeout: Double = 1800
    /// Signaling messages held for a side that has not joined yet (count).
    public var holdMessages = 64
    /// Signaling messages held for a side that has not joined yet (approximate JSON bytes).
    public var holdBytes = 262_144
    /// Unacknowledged messages kept in a REST side's mailbox (count).
    public var mailboxMessages = 256
    /// Unacknowledged messages kept in a REST side's mailbox (approximate JSON bytes).
    public var mailboxBytes = 1_048_576
    /// Longest `wait` a REST long-poll may ask for; longer waits are shortened to it.
    public var maxPollWait: Double = 30
    /// A waiting long-poll re-reads its mailbox at least this often (wake-ups from other nodes).
    public var pollRecheckInterval: Double = 1
    /// Largest `POST …/signal/:code` body (JSON bytes).
    public var maxSignalBytes = 65_536
    /// How long a REST side can still fetch `cam-peer-left` after its pairing ended.
    public var endedMailboxTTL: Double = 60
    /// Path prefix of the REST fallback (`<prefix>/join/:code`, …).
    public var restPrefix = "/cam"
    /// Failed joins (unknown, expired or already paired code) one client address may make per
    /// ``joinFailureWindow``, over REST and WebSocket together; beyond it HTTP 429 / `rate_limited`.
    public var joinFailures = 10
    /// The window of ``joinFailures``, in seconds, from an address's first failure.
    public var joinFailureWindow: Double = 60

    enum CodingKeys: String, CodingKey, CaseIterable {
        case codeLength, codeTTL, idleTimeout, holdMessages, holdBytes, mailboxMessages, mailboxBytes
        case maxPollWait, pollRecheckInterval, maxSignalBytes, endedMailboxTTL, restPrefix, joinFailures, joinFailureWindow
    }

    /// The defaults.
    public init() {}

    public init(from decoder: any Decoder) throws {
        let fields = ConfigFields(decoder, keys: CodingKeys.self)
        self.codeLength = fields.value(.codeLength, default: self.codeLength)
        self.codeTTL = fields.value(.codeTTL, default: self.codeTTL)
        self.idleTimeout = fields.value(.idleTimeout, default: self.idleTimeout)
        self.holdMessages = fields.value(.holdMessages, default: self.holdMessages)
        self.holdBytes = fields.value(.holdBytes, default: self.holdBytes)
        self.mailboxMessages = fields.value(.mailboxMessages, default: self.mailboxMessages)
        self.mailboxBytes = fields.value(.mailboxBytes, default: self.mailboxBytes)
        self.maxPollWait = fields.value(.maxPollWait, default: self.maxPollWait)
        self.pollRecheckInterval = fields.value(.pollRecheckInterval, default: self.pollRecheckInterval)
        self.maxSignalBytes = fields.value(.maxSignalBytes, default: self.maxSignalBytes)
        self.endedMailboxTTL = fields.value(.endedMailboxTTL, default: self.endedMailboxTTL)
        self.restPrefix = fields.value(.restPrefix, default: self.restPrefix)
        self.joinFailures = fields.value(.joinFailures, default: self.joinFailures)
        self.joinFailureWindow = fields.value(.joinFailureWindow, default: self.joinFailureWindow)

        fields.check((1...32).contains(self.codeLength), .codeLength, "must be 1 to 32")
        fields.check(self.codeTTL > 0, .codeTTL, "must be positive")
        fields.check(self.idleTimeout > 0, .idleTimeout, "must be positive")
        fields.check(self.holdMessages >= 0, .holdMessages, "must not be negative")
        fields.check(self.holdBytes >= 0, .holdBytes, "must not be negative")
        fields.check(self.mailboxMessages > 0, .mailboxMessages, "must be positive")
        fields.check(self.mailboxBytes > 0, .mailboxBytes, "must be positive")
        fields.check(self.maxPollWait >= 0, .maxPollWait, "must not be negative")
        fields.check(self.pollRecheckInterval > 0, .pollRecheckInterval, "must be positive")
        fields.check(self.maxSignalBytes > 0, .maxSignalBytes, "must be positive")
        fields.check(self.endedMailboxTTL > 0, .endedMailboxTTL, "must be positive")
        fields.check(self.joinFailures >= 1, .joinFailures, "must be at least 1")
        fields.check(self.joinFailureWindow > 0, .joinFailureWindow, "must be positive")
        fields.check(
            self.restPrefix.hasPrefix("/") && !self.restPrefix.hasSuffix("/") && !self.restPrefix.contains(":"),
            .restPrefix,
            "must start with '/', not end with '/', and have no ':' segments"
        )
        try fields.finish()
    }

    /// Milliseconds in `seconds`.
    static func milliseconds(_ seconds: Double) -> Int64 { Int64((seconds * 1000).rounded()) }

    var codeTTLMilliseconds: Int64 { Self.milliseconds(self.codeTTL) }
    var idleMilliseconds: Int64 { Self.milliseconds(self.idleTimeout) }

    /// The limit on failed joins per client address.
    var joinLimit: FailedAttemptLimit {
        FailedAttemptLimit(failures: self.joinFailures, window: .milliseconds(Self.milliseconds(self.joinFailureWindow)))
    }
}
