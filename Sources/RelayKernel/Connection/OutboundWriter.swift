import NIOCore

/// The sessions a connection writes for (one per Socket.IO namespace, one for `json`), taken in
/// turns, and whether the socket has stopped taking what waits.
struct OutboundWriter {
    /// A session whose queue this connection writes, since the attachment numbered `generation`.
    struct Attachment {
        let namespace: String
        let session: ClientSession
        let generation: Int
    }

    /// What the writer takes next.
    enum Next {
        case frame(QueuedFrame, namespace: String)
        /// Nothing waits.
        case empty
        /// Every session this connection wrote for resumed elsewhere: it must close.
        case superseded
    }

    private var attachments: [Attachment] = []
    private var turn = 0
    /// Since when frames wait for a socket that does not take them.
    var blockedSince: NIODeadline?

    /// Writes `session`'s queue (in `namespace`) from now on, replacing that namespace's session.
    mutating func attach(_ session: ClientSession, generation: Int, namespace: String) {
        self.attachments.removeAll { $0.namespace == namespace }
        self.attachments.append(Attachment(namespace: namespace, session: session, generation: generation))
    }

    /// Stops writing the session of `namespace`.
    mutating func detach(namespace: String) {
        self.attachments.removeAll { $0.namespace == namespace }
    }

    /// The next frame, taking the sessions in turns.
    mutating func next() -> Next {
        var visited = 0
        while visited < self.attachments.count {
            let position = (self.turn + visited) % self.attachments.count
            let attachment = self.attachments[position]
            switch attachment.session.popForWriter(generation: attachment.generation) {
            case .frame(let frame):
                self.turn = position + 1
                return .frame(frame, namespace: attachment.namespace)
            case .empty:
                visited += 1
            case .superseded:
                // The sessions after it move up one place: the turn keeps pointing at the same one.
                self.attachments.remove(at: position)
                if position < self.turn { self.turn -= 1 }
                if self.attachments.isEmpty { return .superseded }
            }
        }
        return .empty
    }

    /// Whether any attached session still has frames waiting.
    var hasWaiting: Bool {
        self.attachments.contains { $0.session.pendingCount > 0 }
    }
}
