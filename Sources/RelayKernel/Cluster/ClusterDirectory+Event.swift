extension ClusterDirectory.Event {
    /// The event as JSON, for a broadcast to every node.
    package var json: JSONValue {
        switch self {
        case .clientUp(let info, let node):
            ["k": "up", "i": info.json, "n": .string(node)]
        case .clientDown(let id):
            ["k": "down", "c": .string(id.rawValue)]
        case .joined(let room, let id, let node):
            ["k": "join", "r": .string(room), "c": .string(id.rawValue), "n": .string(node)]
        case .left(let room, let id):
            ["k": "leave", "r": .string(room), "c": .string(id.rawValue)]
        case .moved(let info, let node, let rooms):
            ["k": "moved", "i": info.json, "n": .string(node), "r": .array(rooms.map(JSONValue.string))]
        case .nodeDied(let node):
            ["k": "dead", "n": .string(node)]
        }
    }

    /// Reads ``json``; `nil` for anything else.
    package init?(json: JSONValue) {
        let node = json["n"]?.stringValue
        let client = json["c"]?.stringValue.map(ClientID.init)
        let room = json["r"]?.stringValue
        switch json["k"]?.stringValue {
        case "up":
            guard let info = json["i"].flatMap(ClientInfo.init(json:)), let node else { return nil }
            self = .clientUp(info, node: node)
        case "down":
            guard let client else { return nil }
            self = .clientDown(client)
        case "join":
            guard let room, let client, let node else { return nil }
            self = .joined(room: room, client, node: node)
        case "leave":
            guard let room, let client else { return nil }
            self = .left(room: room, client)
        case "moved":
            guard let info = json["i"].flatMap(ClientInfo.init(json:)), let node else { return nil }
            self = .moved(info, node: node, rooms: json["r"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        case "dead":
            guard let node else { return nil }
            self = .nodeDied(node)
        default:
            return nil
        }
    }
}

extension ClusterChange {
    /// The directory event other nodes apply for this change made on `node`, if any.
    package func event(node: String) -> ClusterDirectory.Event? {
        switch self {
        case .clientUp(let info, _, _): .clientUp(info, node: node)
        case .resumeToken: nil
        case .clientDown(let id): .clientDown(id)
        case .joined(let room, let id): .joined(room: room, id, node: node)
        case .left(let room, let id): .left(room: room, id)
        }
    }
}
