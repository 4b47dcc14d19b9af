import NIOCore

/// One complete data message a peer sent: its fragments joined, decompressed and, for text,
/// checked to be UTF-8.
///
/// The payload comes first: 24 bytes in all, so that passing a message down the pipeline (in an
/// `NIOAny`) allocates nothing.
struct WebSocketMessage {
    /// The payload.
    var data: ByteBuffer
    /// Text or binary.
    var kind: RelayMessage.Kind

    init(kind: RelayMessage.Kind, data: ByteBuffer) {
        self.data = data
        self.kind = kind
    }
}
