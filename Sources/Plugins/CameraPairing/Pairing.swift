import RelayKernel

/// One pairing as the store holds it (key `code:<CODE>`): the desktop that created the code,
/// the phone once it joined, and what the desktop sent before the phone was there.
///
/// Sides are addressed by ``ClientID`` (WebSocket) or by their REST token, never by a socket,
/// so a side that reconnects and resumes keeps receiving (seed 001's stale-socket bug cannot
/// happen). Plain data: the transitions live in `Pairing+StateMachine.swift`.
struct Pairing: Sendable, Equatable {
    /// The two sides of a pairing.
    enum Side: String, Sendable, CaseIterable {
        /// The side that created the code.
        case desktop
        /// The side that joined with the code.
        case phone

        var other: Side { self == .desktop ? .phone : .desktop }
    }

    /// How a side is reached.
    enum Peer: Sendable, Equatable {
        /// A WebSocket client, by its resumable identity.
        case socket(ClientID)
        /// A REST side, by the secret token it got from create/join (its mailbox key).
        case rest(token: String)
    }

    /// Random id of this pairing (a code can be reused after its pairing ended).
    let id: String
    let code: String
    /// Wall-clock milliseconds.
    let createdAt: Int64
    /// Until when the unpaired code can be joined (wall-clock ms).
    let expiresAt: Int64
    /// Last signaling message, join or REST poll (wall-clock ms).
    var lastActivity: Int64
    var desktop: Peer
    var phone: Peer?
    /// Bodies of the messages sent to the phone before it joined, oldest first.
    var held: [JSONValue] = []
    /// Approximate JSON size of ``held``.
    var heldBytes = 0

    var isPaired: Bool { self.phone != nil }

    /// The peer on `side`, if it joined.
    func peer(_ side: Side) -> Peer? {
        switch side {
        case .desktop: self.desktop
        case .phone: self.phone
        }
    }
}

extension Pairing.Peer {
    var json: JSONValue {
        switch self {
        case .socket(let id): ["socket": .string(id.rawValue)]
        case .rest(let token): ["rest": .string(token)]
        }
    }

    init?(json: JSONValue) {
        if let id = json["socket"]?.stringValue {
            self = .socket(ClientID(id))
        } else if let token = json["rest"]?.stringValue {
            self = .rest(token: token)
        } else {
            return nil
        }
    }

    /// The same side, compared in constant time for tokens.
    func matches(_ other: Pairing.Peer) -> Bool {
        switch (self, other) {
        case (.socket(let left), .socket(let right)): left == right
        case (.rest(let left), .rest(let right)): constantTimeEquals(left, right)
        default: false
        }
    }
}

extension Pairing {
    /// The stored form.
    var json: JSONValue {
        [
            "id": .string(self.id),
            "code": .string(self.code),
            "createdAt": .int(Int(self.createdAt)),
            "expiresAt": .int(Int(self.expiresAt)),
            "lastActivity": .int(Int(self.lastActivity)),
            "desktop": self.desktop.json,
            "phone": self.phone?.json ?? .null,
            "held": .array(self.held),
            "heldBytes": .int(self.heldBytes),
        ]
    }

    /// Reads the stored form; `nil` when it is not a pairing.
    init?(json: JSONValue) {
        guard
            let id = json["id"]?.stringValue,
            let code = json["code"]?.stringValue,
            let createdAt = json["createdAt"]?.intValue,
            let expiresAt = json["expiresAt"]?.intValue,
            let lastActivity = json["lastActivity"]?.intValue,
            let desktop = json["desktop"].flatMap(Peer.init(json:))
        else { return nil }
        self.id = id
        self.code = code
        self.createdAt = Int64(createdAt)
        self.expiresAt = Int64(expiresAt)
        self.lastActivity = Int64(lastActivity)
        self.desktop = desktop
        self.phone = json["phone"].flatMap(Peer.init(json:))
        self.held = json["held"]?.arrayValue ?? []
        self.heldBytes = json["heldBytes"]?.intValue ?? 0
    }
}
