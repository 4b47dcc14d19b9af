/// A server API call every node answers for its own clients (``ClusterControl`` carries it to
/// the other nodes as JSON).
enum ControlRequest: Sendable, Equatable {
    /// The live clients of a user.
    case clients(userId: String)
    /// Connection and session counts.
    case info
    /// Close the selected clients' connections with `close`, and end their identities.
    case disconnect(ClientSelector, close: CloseReason)

    /// The request as JSON.
    var json: JSONValue {
        switch self {
        case .clients(let user):
            return ["op": "clients", "userId": .string(user)]
        case .info:
            return ["op": "info"]
        case .disconnect(let selector, let close):
            var object: [String: JSONValue] = ["op": "disconnect", "code": .int(Int(close.code.rawValue)), "reason": .string(close.reason)]
            switch selector {
            case .user(let user): object["userId"] = .string(user)
            case .client(let id): object["clientId"] = .string(id.rawValue)
            }
            return .object(object)
        }
    }

    /// Reads ``json``; `nil` for anything else.
    init?(json: JSONValue) {
        switch json["op"]?.stringValue {
        case "clients":
            guard let user = json["userId"]?.stringValue else { return nil }
            self = .clients(userId: user)
        case "info":
            self = .info
        case "disconnect":
            let selector: ClientSelector
            if let user = json["userId"]?.stringValue {
                selector = .user(user)
            } else if let id = json["clientId"]?.stringValue {
                selector = .client(ClientID(id))
            } else {
                return nil
            }
            guard let number = json["code"]?.intValue, let code = UInt16(exactly: number).flatMap(CloseCode.init(rawValue:)),
                let reason = json["reason"]?.stringValue
            else { return nil }
            self = .disconnect(selector, close: CloseReason(code, reason))
        default:
            return nil
        }
    }
}
