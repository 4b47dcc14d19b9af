/// The connection caps one connection holds a place in: the server's total, its IP address's and
/// its user's; all given back when it ends.
struct ConnectionSlots {
    private var total = false
    private var address: String?
    private var user: String?

    /// Takes a place in the server's total (`limit` > 0).
    mutating func acquireTotal(_ counter: ConnectionCounter, limit: Int) -> Bool {
        self.total = counter.acquireTotal(limit: limit)
        return self.total
    }

    /// Takes a place for `address` (`limit` 0 is unlimited).
    mutating func acquire(address: String, _ counter: ConnectionCounter, limit: Int) -> Bool {
        guard counter.acquire(.address(address), limit: limit) else { return false }
        self.address = address
        return true
    }

    /// Takes a place for `user` (`limit` 0 is unlimited); a connection holds one user at most.
    mutating func acquire(user: String, _ counter: ConnectionCounter, limit: Int) -> Bool {
        guard self.user == nil else { return true }
        guard counter.acquire(.user(user), limit: limit) else { return false }
        self.user = user
        return true
    }

    /// Gives every place back.
    mutating func release(_ counter: ConnectionCounter) {
        if self.total { counter.releaseTotal() }
        if let address = self.address { counter.release(.address(address)) }
        if let user = self.user { counter.release(.user(user)) }
        self = ConnectionSlots()
    }
}
