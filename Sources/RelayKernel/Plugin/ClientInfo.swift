/// What plugins know about a client: its identity, claims and where it connected.
public struct ClientInfo: Sendable, Hashable {
    /// The stable client id.
    public let id: ClientID
    /// The authenticated user (`sub` or the configured user claim), `nil` when anonymous.
    public let userId: String?
    /// The verified token's claims (empty when anonymous).
    public let claims: [String: JSONValue]
    /// The endpoint's path template, e.g. `/ws/portal-view/:portalViewId`.
    public let endpoint: String
    /// Values of the endpoint's `:name` segments.
    public let parameters: [String: String]
    /// The codec the client speaks (`json`).
    public let codec: String
    /// The peer address, when known.
    public let remoteAddress: String?
    /// The Socket.IO namespace, for `socketio` clients.
    public let namespace: String?
    /// The Socket.IO CONNECT payload (`auth`), for `socketio` clients.
    public let handshake: [String: JSONValue]

    /// Creates client info (kernel and test harnesses).
    public init(
        id: ClientID,
        userId: String?,
        claims: [String: JSONValue],
        endpoint: String,
        parameters: [String: String],
        codec: String = "json",
        remoteAddress: String? = nil,
        namespace: String? = nil,
        handshake: [String: JSONValue] = [:]
    ) {
        self.id = id
        self.userId = userId
        self.claims = claims
        self.endpoint = endpoint
        self.parameters = parameters
        self.codec = codec
        self.remoteAddress = remoteAddress
        self.namespace = namespace
        self.handshake = handshake
    }
}

extension ClientInfo {
    /// The same client with other claims (after a token refresh).
    func replacingClaims(_ claims: [String: JSONValue]) -> ClientInfo {
        ClientInfo(
            id: self.id,
            userId: self.userId,
            claims: claims,
            endpoint: self.endpoint,
            parameters: self.parameters,
            codec: self.codec,
            remoteAddress: self.remoteAddress,
            namespace: self.namespace,
            handshake: self.handshake
        )
    }
}
