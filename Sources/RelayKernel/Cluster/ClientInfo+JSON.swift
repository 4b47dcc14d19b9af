extension ClientInfo {
    /// The client info as JSON (what the cluster keeps of a client).
    package var json: JSONValue {
        var object: [String: JSONValue] = [
            "id": .string(self.id.rawValue),
            "endpoint": .string(self.endpoint),
            "parameters": .object(self.parameters.mapValues(JSONValue.string)),
            "codec": .string(self.codec),
            "claims": .object(self.claims),
        ]
        if let userId { object["userId"] = .string(userId) }
        if let remoteAddress { object["remoteAddress"] = .string(remoteAddress) }
        if let namespace { object["namespace"] = .string(namespace) }
        if !self.handshake.isEmpty { object["handshake"] = .object(self.handshake) }
        return .object(object)
    }

    /// Reads ``json``; `nil` when required fields are missing.
    package init?(json: JSONValue) {
        guard let id = json["id"]?.stringValue, let endpoint = json["endpoint"]?.stringValue else { return nil }
        self.init(
            id: ClientID(id),
            userId: json["userId"]?.stringValue,
            claims: json["claims"]?.objectValue ?? [:],
            endpoint: endpoint,
            parameters: (json["parameters"]?.objectValue ?? [:]).compactMapValues(\.stringValue),
            codec: json["codec"]?.stringValue ?? "json",
            remoteAddress: json["remoteAddress"]?.stringValue,
            namespace: json["namespace"]?.stringValue,
            handshake: json["handshake"]?.objectValue ?? [:]
        )
    }
}
