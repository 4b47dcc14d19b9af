/// The codecs the kernel speaks, by the name route files use.
enum CodecRegistry {
    /// Every codec type.
    static let all: [any Codec.Type] = [JSONCodec.self, SocketIOCodec.self]

    /// The names, for validation messages.
    static var names: [String] { Self.all.map { $0.name } }

    /// The codec named `name`.
    static func codec(named name: String) -> (any Codec.Type)? {
        Self.all.first { $0.name == name }
    }
}
