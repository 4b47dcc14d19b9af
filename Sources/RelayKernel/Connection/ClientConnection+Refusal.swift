extension ClientConnection {
    /// Refuses the client: logs and counts the refusal (``Refusal``), then closes with `close`.
    func refuse(_ reason: Refusal.Reason, _ close: CloseReason, user: String? = nil) {
        guard self.phase != .closing else { return }
        self.recordRefusal(reason, detail: close.reason, user: user)
        self.close(close)
    }

    /// Logs and counts a refusal that leaves the connection open (a Socket.IO CONNECT refused
    /// over long-polling, where the session waits for another CONNECT until its time-out).
    func recordRefusal(_ reason: Refusal.Reason, detail: String, user: String? = nil) {
        Refusal(
            reason: reason,
            detail: detail,
            path: self.endpoint.settings.path,
            origin: self.origin,
            clientAddress: self.remoteAddress,
            user: user ?? self.identity?.userId
        ).record(metrics: self.metrics, logger: self.logger)
    }
}
