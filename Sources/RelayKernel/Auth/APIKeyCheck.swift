import Logging

/// The server API key check, for the server API and for plugins' REST routes alike: the key a
/// request gave (`X-API-Key`, or `Authorization: Bearer`) against the configured one, compared in
/// constant time.
enum APIKeyCheck {
    /// Throws `unauthenticated` when `given` is missing or is not `expected` (or no key is
    /// configured), after recording the refusal (`relay_refusals_total{reason="api_key"}`, one
    /// WARN line) with the request's `path`, `origin` and `clientAddress`.
    static func require(
        given: String?,
        expected: String?,
        path: String,
        origin: String?,
        clientAddress: String?,
        metrics: RelayMetrics,
        logger: Logger
    ) throws(RelayError) {
        guard let expected, let given, constantTimeEquals(given, expected) else {
            let problem = expected == nil ? "no server API key is configured (RELAY_API_KEY)" : "wrong or missing API key"
            Refusal(reason: .apiKey, detail: problem, path: path, origin: origin, clientAddress: clientAddress).record(metrics: metrics, logger: logger)
            throw RelayError(.unauthenticated, problem)
        }
    }
}
