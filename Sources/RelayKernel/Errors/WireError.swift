import Logging

/// What an error that ends a client's request becomes on the wire, decided in one place for
/// WebSocket messages, refused joins and REST answers.
///
/// A ``RelayError`` is answered (the connection stays; REST gets its HTTP status); a store that
/// is unreachable is answered `unavailable`; anything else is an internal error: logged, and the
/// connection closes with 1011 (REST: HTTP 500).
enum WireError: Error, Equatable {
    /// Answer with this error; the connection stays open.
    case answer(RelayError)
    /// Close the connection.
    case close(CloseReason)

    /// Classifies what a plugin threw (`plugin` names it in the log).
    init(_ error: any Error, plugin: String, logger: Logger) {
        switch error {
        case let error as RelayError:
            self = .answer(error)
        case let error as StoreUnavailableError:
            logger.warning("store unreachable", metadata: ["relay.plugin": "\(plugin)", "error.type": "\(error)"])
            self = .answer(RelayError(.unavailable, "the store is unreachable; try again"))
        case let reason as CloseReason:
            self = .close(reason)
        default:
            logger.warning("plugin failed", metadata: ["relay.plugin": "\(plugin)", "error.type": "\(error)"])
            self = .close(CloseReason(.internalError, "internal error"))
        }
    }

    /// The close for a client a plugin refused to let join: 1008 with the plugin's message, or
    /// 1011 for an internal error.
    var joinRefusal: CloseReason {
        switch self {
        case .answer(let error): CloseReason(.policyViolation, error.message)
        case .close(let reason): reason
        }
    }

}
