import RelayKernel

/// What a `register` or `subscribe` declares: the message kinds it produces and consumes, and
/// the video form it wants.
struct MLStreamInterest: Sendable, Equatable {
    /// The kinds a client can produce or consume.
    enum Kind: String, CaseIterable, Sendable {
        case videoFrame = "video-frame"
        case alert
    }

    var produces: [Kind]
    var consumes: [Kind]
    var form: MLVideoForm

    /// Reads `produces`, `consumes` and `format` of `message`, with the given defaults.
    init(_ message: RelayMessage, produces defaultProduces: [Kind], consumes defaultConsumes: [Kind]) throws(RelayError) {
        self.produces = try Self.kinds(message, "produces") ?? defaultProduces
        self.consumes = try Self.kinds(message, "consumes") ?? defaultConsumes
        let format = message["format"]
        guard format == nil || format == .null || format?.stringValue != nil,
            let form = MLVideoForm(format: format?.stringValue)
        else {
            throw RelayError.invalidField("format", expected: "json, binary or auto")
        }
        self.form = form
    }

    private static func kinds(_ message: RelayMessage, _ field: String) throws(RelayError) -> [Kind]? {
        guard let value = message[field], value != .null else { return nil }
        let expected = "a list of \(Kind.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))"
        guard let elements = value.arrayValue else { throw RelayError.invalidField(field, expected: expected) }
        var kinds: [Kind] = []
        for element in elements {
            guard let kind = element.stringValue.flatMap(Kind.init(rawValue:)) else { throw RelayError.invalidField(field, expected: expected) }
            if !kinds.contains(kind) { kinds.append(kind) }
        }
        return kinds
    }

    /// `kinds` as a JSON list.
    static func json(_ kinds: [Kind]) -> JSONValue {
        .array(kinds.map { .string($0.rawValue) })
    }
}
