
extension PluginContext {
    /// The errors that count as a failed attempt by default: the thing guessed does not exist,
    /// is taken, or the credentials are wrong.
    public static let failedAttemptCodes: Set<RelayError.Code> = [.notFound, .conflict, .forbidden, .unauthenticated]

    /// Runs `attempt` for the client at `address` unless that address already failed
    /// `limit.failures` times (attempts named `name`, of this plugin instance) within the window;
    /// an `attempt` that throws a ``RelayError`` with one of `failureCodes` counts as a failure.
    ///
    /// A refused attempt throws `rate_limited` with ``RelayError/retryAfter`` (HTTP 429 with
    /// `Retry-After` for REST) and is logged and counted as a refusal
    /// (`relay_refusals_total{reason="too_many_failures"}`); failures are counted in
    /// `relay_failed_attempts_total{plugin, attempt}`. The counts live in the relay's shared store,
    /// so REST and WebSocket attempts and, in a cluster, every node count together.
    public func limitingFailedAttempts<Value: Sendable>(
        _ name: String,
        from address: String?,
        limit: FailedAttemptLimit,
        failureCodes: Set<RelayError.Code> = Self.failedAttemptCodes,
        _ attempt: () async throws -> Value
    ) async throws -> Value {
        let key = "relay.attempts:\(self.instance):\(name):\(address ?? "unknown")"
        let store = self.runtime.store
        let now = self.clock.preciseMillisecondsSince1970 / 1000
        if let stored = try await store.get(key), let count = stored.value["count"]?.intValue, let until = stored.value["until"]?.doubleValue,
            count >= limit.failures, until > now
        {
            let retry = Duration.milliseconds(Int64(((until - now) * 1000).rounded(.up)))
            let error = RelayError(.rateLimited, "too many failed attempts from this address; try again later", retryAfter: retry)
            Refusal(reason: .tooManyFailures, detail: "\(self.instance) \(name): \(count) failed attempts", clientAddress: address, user: self.client?.userId)
                .record(metrics: self.runtime.hub.metrics, logger: self.runtime.logger)
            throw error
        }
        do {
            return try await attempt()
        } catch let error as RelayError where failureCodes.contains(error.code) {
            self.runtime.hub.metrics.failedAttempt(plugin: self.instance, attempt: name)
            try await Self.countFailure(key, in: store, limit: limit, clock: self.clock)
            throw error
        }
    }

    /// Adds one failure to `key`'s window (opening a window at the first, or when the last ended).
    private static func countFailure(_ key: String, in store: any KeyValueStore, limit: FailedAttemptLimit, clock: RelayClock) async throws {
        for _ in 0..<8 {
            let now = clock.preciseMillisecondsSince1970 / 1000
            let opening: JSONValue = ["count": 1, "until": .double(now + limit.window / .seconds(1))]
            guard let stored = try await store.get(key) else {
                if try await store.insert(key, opening, ttl: limit.window) != nil { return }
                continue
            }
            var next = (value: opening, ttl: limit.window)
            if let count = stored.value["count"]?.intValue, let until = stored.value["until"]?.doubleValue, until > now {
                next = (["count": .int(count + 1), "until": .double(until)], .milliseconds(Int64(((until - now) * 1000).rounded(.up))))
            }
            if try await store.compareAndSet(key, expected: stored.version, next.value, ttl: next.ttl) != nil { return }
        }
    }
}
