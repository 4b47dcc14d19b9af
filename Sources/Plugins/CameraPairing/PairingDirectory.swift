import RelayKernel
import Synchronization

/// The camera-pairing operations, shared by the WebSocket messages and the REST fallback.
///
/// Shared state lives in the instance's ``KeyValueStore`` so it holds across a cluster:
/// - `code:<CODE>`: the ``Pairing`` (created with `insert`, so a code is unique among live
///   codes; changed with compare-and-set; kept `storeMargin` past its deadline so whoever sees
///   it expire can still tell its sides),
/// - `mailbox:<token>`: a REST side's ``Mailbox`` (the token is the secret that names it),
/// - `client:<clientId>`: the codes a WebSocket client is in (for ``clientLeft(_:context:)``).
///
/// In process memory only: a lock per code (``KeyedLock``) so changes to one pairing happen one
/// at a time and deliveries keep their order, the long-poll wake-ups (``MailboxDoorbells``), and
/// one expiry timer per pairing.
final class PairingDirectory: Sendable {
    /// Signaling types relayed to the other side.
    static let signalTypes: Set<String> = ["cam-offer", "cam-answer", "cam-ice", "cam-data"]
    /// How long store entries outlive their logical deadline (ms).
    static let storeMargin: Int64 = 10_000

    let configuration: CameraPairingConfiguration
    private let locks = KeyedLock()
    private let doorbells = MailboxDoorbells()
    private let checks = Mutex<[String: (pairing: String, handle: RelayTimers.Handle)]>([:])

    init(configuration: CameraPairingConfiguration) {
        self.configuration = configuration
    }

    // MARK: Keys and bounds

    private static func codeKey(_ code: String) -> String { "code:" + code }
    private static func clientKey(_ id: ClientID) -> String { "client:" + id.rawValue }
    private static func mailboxKey(_ token: String) -> String { "mailbox:" + token }

    private var idle: Int64 { self.configuration.idleMilliseconds }
    /// Activity is written at most this often (ms).
    private var touchInterval: Int64 { min(max(self.idle / 8, 1), 5_000) }
    private var openMailboxTTL: Duration {
        .milliseconds(max(self.idle, self.configuration.codeTTLMilliseconds) + Self.storeMargin)
    }
    private var endedMailboxTTL: Duration { .milliseconds(CameraPairingConfiguration.milliseconds(self.configuration.endedMailboxTTL)) }

    private func ttl(of pairing: Pairing, now: Int64) -> Duration {
        .milliseconds(max(pairing.deadline(idle: self.idle) - now, 0) + Self.storeMargin)
    }

    private static func notFound(_ code: String) -> RelayError {
        RelayError(.notFound, "no live pairing code '\(code)'")
    }

    /// The canonical code, or `not_found` for text that cannot be a code.
    static func code(_ text: String) throws(RelayError) -> String {
        guard let code = PairingCode.normalize(text) else { throw Self.notFound(text) }
        return code
    }

    // MARK: Create

    /// Creates a pairing whose desktop side is `desktop`. A WebSocket creator's earlier codes are
    /// retired first (their phones get `cam-peer-left` with reason `retired`).
    func create(desktop: Pairing.Peer, context: PluginContext) async throws -> Pairing {
        if case .socket(let id) = desktop {
            await self.retire(createdBy: id, context: context)
        }
        let length = self.configuration.codeLength
        var candidates = (0..<16).map { _ in PairingCode.random(length: length) }
        if let size = PairingCode.spaceSize(length: length, limit: 1 << 16) {
            // A small code space: after a few random tries, try every code.
            candidates += (0..<size).shuffled().map { PairingCode.code(number: $0, length: length) }
        }
        for code in candidates {
            let now = context.clock.millisecondsSince1970
            let pairing = Pairing.created(code: code, desktop: desktop, now: now, codeTTL: self.configuration.codeTTLMilliseconds)
            guard try await context.store.insert(Self.codeKey(code), pairing.json, ttl: self.ttl(of: pairing, now: now)) != nil else {
                continue
            }
            // Nobody knows the code before it is returned, so nothing can address the desktop yet.
            switch desktop {
            case .socket(let id):
                try await self.addClientCode(code, to: id, context: context)
            case .rest(let token):
                try await context.store.set(Self.mailboxKey(token), Mailbox(code: code, side: .desktop).json, ttl: self.openMailboxTTL)
            }
            self.scheduleCheck(pairing, context: context)
            return pairing
        }
        throw RelayError(.conflict, "no free pairing code; try again later")
    }

    private func retire(createdBy id: ClientID, context: PluginContext) async {
        let codes = (try? await self.clientCodes(id, context: context)) ?? []
        for code in codes {
            await self.locks.withLock(code) {
                guard let (pairing, version) = try? await self.load(code, context: context), pairing.desktop.matches(.socket(id)) else {
                    return
                }
                await self.end(pairing, version: version, because: .retired, departed: .desktop, context: context)
            }
        }
    }

    // MARK: Join

    /// `joiner` joins `code` as the phone: it gets `cam-paired` and then every held message, in
    /// order (a REST joiner finds them in its new mailbox), and the desktop gets
    /// `cam-peer-joined`. `identity` is who the caller is besides (a REST caller's bearer token),
    /// to refuse joining one's own code.
    func join(code: String, joiner: Pairing.Peer, identity: Pairing.Peer? = nil, context: PluginContext) async throws {
        try await self.locks.withLock(code) {
            for _ in 0..<16 {
                guard let (current, version) = try await self.loadLive(code, context: context) else { throw Self.notFound(code) }
                var pairing = current
                let now = context.clock.millisecondsSince1970
                let result = try pairing.join(joiner, identity: identity, now: now)
                guard case .joined(let held) = result else {
                    if case .socket(let id) = joiner { context.send(.json(type: "cam-paired", ["code": .string(code)]), to: id) }
                    return
                }
                if case .rest(let token) = joiner {
                    // The mailbox exists before the pairing names it, so nothing sent to it is lost.
                    var mailbox = Mailbox(code: code, side: .phone)
                    for body in held {
                        let payload = body["payload"] ?? .null
                        try mailbox.append(
                            type: body["type"]?.stringValue ?? "",
                            payload: payload,
                            size: payload.estimatedSize,
                            maxMessages: .max,
                            maxBytes: .max
                        )
                    }
                    try await context.store.set(Self.mailboxKey(token), mailbox.json, ttl: self.openMailboxTTL)
                }
                guard try await self.write(pairing, over: version, now: now, context: context) != nil else {
                    continue
                }
                switch joiner {
                case .socket(let id):
                    try? await self.addClientCode(code, to: id, context: context)
                    context.send(.json(type: "cam-paired", ["code": .string(code)]), to: id)
                    for body in held { context.send(Self.outbound(body), to: id) }
                case .rest(let token):
                    self.doorbells.ring(Self.mailboxKey(token))
                }
                await self.notify(pairing.desktop, type: "cam-peer-joined", code: code, reason: nil, ends: false, context: context)
                self.scheduleCheck(pairing, context: context)
                return
            }
            if case .rest(let token) = joiner { _ = try? await context.store.delete(Self.mailboxKey(token)) }
            throw RelayError(.conflict, "pairing '\(code)' is changing too fast; try again")
        }
    }

    // MARK: Signaling

    /// Relays a signaling message from `sender` to the other side of `code`: forwarded as it
    /// arrived to a WebSocket side (by client id, so a side that resumed gets it), appended to
    /// a REST side's mailbox, or held until the phone joins. `claimedSide` is the `source` a
    /// REST sender named.
    func relay(
        code: String,
        from sender: Pairing.Peer,
        claimedSide: Pairing.Side? = nil,
        body: [String: JSONValue],
        forwarding: OutboundMessage? = nil,
        context: PluginContext
    ) async throws {
        let size = JSONValue.object(body).estimatedSize
        try await self.locks.withLock(code) {
            for _ in 0..<16 {
                guard let (pairing, _) = try await self.loadLive(code, context: context) else { throw Self.notFound(code) }
                guard let side = pairing.side(of: sender) else {
                    throw RelayError(.forbidden, "not a side of pairing '\(code)'")
                }
                if let claimedSide, claimedSide != side {
                    throw RelayError(.forbidden, "this token is the \(side.rawValue) side of '\(code)', not the \(claimedSide.rawValue)")
                }
                if let peer = pairing.peer(side.other) {
                    try await self.deliver(body, size: size, forwarding: forwarding, to: peer, code: code, context: context)
                    await self.touch(pairing, context: context)
                    return
                }
                let limits = (self.configuration.holdMessages, self.configuration.holdBytes)
                var joinedMeanwhile = false
                _ = try await self.update(code, context: context) { pairing throws(RelayError) in
                    // Joined since the read (only another node can do that): deliver it instead.
                    guard !pairing.isPaired else {
                        joinedMeanwhile = true
                        return
                    }
                    try pairing.hold(.object(body), size: size, maxMessages: limits.0, maxBytes: limits.1)
                }
                if !joinedMeanwhile { return }
            }
            throw RelayError(.conflict, "pairing '\(code)' is changing too fast; try again")
        }
    }

    private func deliver(
        _ body: [String: JSONValue],
        size: Int,
        forwarding: OutboundMessage?,
        to peer: Pairing.Peer,
        code: String,
        context: PluginContext
    ) async throws {
        switch peer {
        case .socket(let id):
            context.send(forwarding ?? Self.outbound(body), to: id)
        case .rest(let token):
            let limits = (self.configuration.mailboxMessages, self.configuration.mailboxBytes)
            let payload = body["payload"] ?? .null
            // No mailbox means the REST side left or its pairing is ending (its sides are told then).
            _ = try await self.updateMailbox(token, ttl: self.openMailboxTTL, context: context) { mailbox throws(RelayError) in
                try mailbox.append(
                    type: body["type"]?.stringValue ?? "",
                    payload: payload,
                    size: payload.estimatedSize,
                    maxMessages: limits.0,
                    maxBytes: limits.1
                )
            }
            self.doorbells.ring(Self.mailboxKey(token))
        }
    }

    /// A stored message body as a WebSocket message (same members; re-encoded).
    private static func outbound(_ body: JSONValue) -> OutboundMessage {
        .json(type: body["type"]?.stringValue ?? "", fields: body.objectValue ?? [:])
    }

    private static func outbound(_ body: [String: JSONValue]) -> OutboundMessage {
        Self.outbound(.object(body))
    }

    /// Records activity (at most every `touchInterval`): pushes the idle deadline and keeps the
    /// REST sides' mailboxes alive as long as the pairing.
    private func touch(_ pairing: Pairing, context: PluginContext) async {
        let now = context.clock.millisecondsSince1970
        guard pairing.isPaired, pairing.needsTouch(now: now, interval: self.touchInterval) else { return }
        guard let (touched, _) = try? await self.update(pairing.code, context: context, { $0.lastActivity = now }) else { return }
        for side in Pairing.Side.allCases {
            if case .rest(let token) = touched.peer(side) {
                _ = try? await self.updateMailbox(token, ttl: self.openMailboxTTL, context: context) { _ in }
            }
        }
    }

    // MARK: REST polling

    /// The messages for the REST side holding `token` after `after` (acknowledging every one up
    /// to `after`), waiting up to `wait` for one to arrive. An empty list means the wait ended.
    func poll(code: String, token: String, source: Pairing.Side?, after: Int, wait: Duration, context: PluginContext) async throws -> [JSONValue] {
        let key = Self.mailboxKey(token)
        try await self.locks.withLock(code) {
            guard let (mailbox, _) = try await self.loadMailbox(token, context: context) else {
                if try await self.loadLive(code, context: context) != nil {
                    throw RelayError(.forbidden, "this token is not a side of pairing '\(code)'")
                }
                throw Self.notFound(code)
            }
            guard mailbox.code == code else { throw RelayError(.forbidden, "this token is not a side of pairing '\(code)'") }
            if let source, source != mailbox.side {
                throw RelayError(.forbidden, "this token is the \(mailbox.side.rawValue) side of '\(code)', not the \(source.rawValue)")
            }
            var current = mailbox
            var probe = mailbox
            if try probe.acknowledge(upTo: after) {
                // Everything up to `after` was received: forget it.
                let ttl = mailbox.ended ? self.endedMailboxTTL : self.openMailboxTTL
                guard let (acknowledged, _) = try await self.updateMailbox(token, ttl: ttl, context: context, { (mailbox: inout Mailbox) throws(RelayError) in
                    _ = try mailbox.acknowledge(upTo: after)
                })
                else { throw RelayError(.notFound, "pairing '\(code)' has ended") }
                current = acknowledged
            }
            if !current.ended {
                if let (pairing, _) = try await self.loadLive(code, context: context) {
                    await self.touch(pairing, context: context)
                    return
                }
                // Expired just now (then it was ended and the mailbox holds the notice), or gone.
                guard let (again, _) = try await self.loadMailbox(token, context: context), again.ended else {
                    _ = try? await context.store.delete(key)
                    throw RelayError(.notFound, "pairing '\(code)' has ended")
                }
                current = again
            }
            if current.messages(after: after).isEmpty {
                _ = try? await context.store.delete(key)
                throw RelayError(.notFound, "pairing '\(code)' has ended")
            }
        }
        // The request is held open for real: the wait is measured in real time, not on `context.clock`.
        let deadline = ContinuousClock.now + wait
        let recheck = Duration.milliseconds(CameraPairingConfiguration.milliseconds(self.configuration.pollRecheckInterval))
        while true {
            let generation = self.doorbells.generation(key)
            guard let (mailbox, _) = try await self.loadMailbox(token, context: context) else {
                throw RelayError(.notFound, "pairing '\(code)' has ended")
            }
            let messages = mailbox.messages(after: after)
            if !messages.isEmpty { return messages.map { $0.wire(code: code) } }
            let remaining = deadline - ContinuousClock.now
            if remaining <= .zero || Task.isCancelled { return [] }
            await self.doorbells.wait(key, seen: generation, timeout: min(remaining, recheck))
        }
    }

    // MARK: Leaving

    /// The REST side holding `token` leaves `code`: the other side gets `cam-peer-left`.
    func leave(code: String, token: String, context: PluginContext) async throws {
        try await self.locks.withLock(code) {
            guard let (pairing, version) = try await self.loadLive(code, context: context) else { throw Self.notFound(code) }
            guard let side = pairing.side(of: .rest(token: token)) else {
                throw RelayError(.forbidden, "this token is not a side of pairing '\(code)'")
            }
            await self.end(pairing, version: version, because: .left, departed: side, context: context)
        }
    }

    /// A WebSocket client left for good: each of its pairings ends and the other side gets
    /// `cam-peer-left`.
    func clientLeft(_ id: ClientID, context: PluginContext) async {
        guard let codes = try? await self.clientCodes(id, context: context), !codes.isEmpty else { return }
        _ = try? await context.store.delete(Self.clientKey(id))
        for code in codes {
            await self.locks.withLock(code) {
                guard let (pairing, version) = try? await self.load(code, context: context), let side = pairing.side(of: .socket(id)) else {
                    return
                }
                await self.end(pairing, version: version, because: .left, departed: side, context: context)
            }
        }
    }

    /// Deletes a pairing and tells every side but `departed` (a departed REST side's mailbox
    /// goes too). Call holding the code's lock.
    private func end(_ pairing: Pairing, version: UInt64, because ending: Pairing.Ending, departed: Pairing.Side?, context: PluginContext) async {
        var current = pairing
        var currentVersion = version
        var deleted = false
        for _ in 0..<8 {
            if (try? await context.store.delete(Self.codeKey(pairing.code), expected: currentVersion)) == true {
                deleted = true
                break
            }
            // Changed meanwhile (another node): end what is there now, if it is still this pairing.
            guard let (again, againVersion) = try? await self.load(pairing.code, context: context), again.id == pairing.id else { return }
            current = again
            currentVersion = againVersion
        }
        guard deleted else { return }
        self.forgetCheck(code: pairing.code, pairing: pairing.id, context: context)
        for side in Pairing.Side.allCases {
            guard let peer = current.peer(side) else { continue }
            if side == departed {
                if case .rest(let token) = peer {
                    _ = try? await context.store.delete(Self.mailboxKey(token))
                    self.doorbells.ring(Self.mailboxKey(token))
                }
            } else {
                await self.notify(peer, type: ending.noticeType, code: current.code, reason: ending.rawValue, ends: true, context: context)
            }
        }
    }

    /// Sends a notice to a side: a message to a WebSocket side, a mailbox entry for a REST side
    /// (`ends`: the last one; the mailbox is then kept only `endedMailboxTTL`).
    private func notify(_ peer: Pairing.Peer, type: String, code: String, reason: String?, ends: Bool, context: PluginContext) async {
        switch peer {
        case .socket(let id):
            if let reason {
                context.send(.json(type: type, ["code": .string(code), "reason": .string(reason)]), to: id)
            } else {
                context.send(.json(type: type, ["code": .string(code)]), to: id)
            }
        case .rest(let token):
            _ = try? await self.updateMailbox(token, ttl: ends ? self.endedMailboxTTL : self.openMailboxTTL, context: context) { mailbox in
                mailbox.appendNotice(type: type, reason: reason)
                if ends { mailbox.ended = true }
            }
            self.doorbells.ring(Self.mailboxKey(token))
        }
    }

    // MARK: Expiry

    /// Arms the one expiry check of `pairing` at its deadline (replacing an earlier one).
    private func scheduleCheck(_ pairing: Pairing, context: PluginContext) {
        let delay = max(pairing.deadline(idle: self.idle) - context.clock.millisecondsSince1970, 0) + 20
        let handle = context.schedule(after: .milliseconds(delay)) { timerContext in
            await self.check(code: pairing.code, pairing: pairing.id, context: timerContext)
        }
        let previous = self.checks.withLock { checks in
            defer { checks[pairing.code] = (pairing.id, handle) }
            return checks[pairing.code]?.handle
        }
        if let previous { context.cancelTimer(previous) }
    }

    private func forgetCheck(code: String, pairing id: String, context: PluginContext) {
        let handle = self.checks.withLock { checks -> RelayTimers.Handle? in
            guard let entry = checks[code], entry.pairing == id else { return nil }
            checks[code] = nil
            return entry.handle
        }
        if let handle { context.cancelTimer(handle) }
    }

    private func check(code: String, pairing id: String, context: PluginContext) async {
        await self.locks.withLock(code) {
            guard let (pairing, version) = try? await self.load(code, context: context), pairing.id == id else {
                self.forgetCheck(code: code, pairing: id, context: context)
                return
            }
            if pairing.isExpired(now: context.clock.millisecondsSince1970, idle: self.idle) {
                await self.end(pairing, version: version, because: pairing.expiryEnding, departed: nil, context: context)
            } else {
                self.scheduleCheck(pairing, context: context)
            }
        }
    }

    // MARK: Store access

    private func load(_ code: String, context: PluginContext) async throws -> (Pairing, UInt64)? {
        guard let stored = try await context.store.get(Self.codeKey(code)), let pairing = Pairing(json: stored.value) else { return nil }
        return (pairing, stored.version)
    }

    /// The pairing if it has not expired; one that has is ended here (its sides are told).
    /// Call holding the code's lock.
    private func loadLive(_ code: String, context: PluginContext) async throws -> (Pairing, UInt64)? {
        guard let (pairing, version) = try await self.load(code, context: context) else { return nil }
        if pairing.isExpired(now: context.clock.millisecondsSince1970, idle: self.idle) {
            await self.end(pairing, version: version, because: pairing.expiryEnding, departed: nil, context: context)
            return nil
        }
        return (pairing, version)
    }

    private func write(_ pairing: Pairing, over version: UInt64, now: Int64, context: PluginContext) async throws -> UInt64? {
        try await context.store.compareAndSet(Self.codeKey(pairing.code), expected: version, pairing.json, ttl: self.ttl(of: pairing, now: now))
    }

    /// Applies `change` to the live pairing with compare-and-set (re-reading after a concurrent
    /// write); throws `not_found` when there is none. Call holding the code's lock.
    private func update(
        _ code: String,
        context: PluginContext,
        _ change: (inout Pairing) throws(RelayError) -> Void
    ) async throws -> (Pairing, UInt64) {
        for _ in 0..<16 {
            guard let (current, version) = try await self.loadLive(code, context: context) else { throw Self.notFound(code) }
            var pairing = current
            try change(&pairing)
            if let written = try await self.write(pairing, over: version, now: context.clock.millisecondsSince1970, context: context) {
                return (pairing, written)
            }
        }
        throw RelayError(.conflict, "pairing '\(code)' is changing too fast; try again")
    }

    private func loadMailbox(_ token: String, context: PluginContext) async throws -> (Mailbox, UInt64)? {
        guard let stored = try await context.store.get(Self.mailboxKey(token)), let mailbox = Mailbox(json: stored.value) else { return nil }
        return (mailbox, stored.version)
    }

    /// Applies `change` to a mailbox with compare-and-set; `nil` when there is no mailbox.
    private func updateMailbox(
        _ token: String,
        ttl: Duration,
        context: PluginContext,
        _ change: (inout Mailbox) throws(RelayError) -> Void
    ) async throws -> (Mailbox, UInt64)? {
        for _ in 0..<16 {
            guard let (current, version) = try await self.loadMailbox(token, context: context) else { return nil }
            var mailbox = current
            try change(&mailbox)
            if let written = try await context.store.compareAndSet(Self.mailboxKey(token), expected: version, mailbox.json, ttl: ttl) {
                return (mailbox, written)
            }
        }
        throw RelayError(.conflict, "mailbox is changing too fast; try again")
    }

    private func clientCodes(_ id: ClientID, context: PluginContext) async throws -> [String] {
        try await context.store.get(Self.clientKey(id))?.value["codes"]?.arrayValue?.compactMap(\.stringValue) ?? []
    }

    /// Remembers that client `id` is in `code` (dropping codes whose pairing is gone).
    private func addClientCode(_ code: String, to id: ClientID, context: PluginContext) async throws {
        let key = Self.clientKey(id)
        for _ in 0..<16 {
            let stored = try await context.store.get(key)
            var codes = stored?.value["codes"]?.arrayValue?.compactMap(\.stringValue) ?? []
            if codes.count >= 8 {
                var live: [String] = []
                for known in codes where try await self.load(known, context: context)?.0.side(of: .socket(id)) != nil {
                    live.append(known)
                }
                codes = live
            }
            if !codes.contains(code) { codes.append(code) }
            let value: JSONValue = ["codes": .array(codes.map(JSONValue.string))]
            if let stored {
                if try await context.store.compareAndSet(key, expected: stored.version, value, ttl: nil) != nil { return }
            } else if try await context.store.insert(key, value, ttl: nil) != nil {
                return
            }
        }
    }
}
