extension ConnectionHandler {
    /// Refuses the client: logs and counts why (a ``Refusal``), then closes with `close`.
    func refuse(_ reason: Refusal.Reason, _ close: CloseReason, user: String? = nil) {
        guard self.phase != .closing else { return }
        Refusal(
            reason: reason,
            detail: close.reason,
            path: self.endpoint.settings.path,
            origin: self.origin,
            clientAddress: self.remoteAddress,
            user: user ?? self.identity?.userId
        ).record(metrics: self.metrics, logger: self.logger)
        self.close(close)
    }
}
