import NIOCore

/// One complete data message a peer sent: its fragments joined, decompressed and, for text,
/// checked to be UTF-8.
struct WebSocketMessage {
    /// Text or binary.
    var kind: RelayMessage.Kind
    /// The payload.
    var data: ByteBuffer
}
