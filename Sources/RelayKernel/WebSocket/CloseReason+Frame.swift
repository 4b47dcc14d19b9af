import NIOCore
import NIOWebSocket

extension CloseReason {
    /// The close frame carrying this code and reason (the reason cut to fit a control frame).
    func frame(allocator: ByteBufferAllocator) -> WebSocketFrame {
        var reason = Substring(self.reason)
        while reason.utf8.count > 123 { reason = reason.dropLast() }
        var payload = allocator.buffer(capacity: 2 + reason.utf8.count)
        payload.writeInteger(self.code.rawValue)
        payload.writeString(String(reason))
        return WebSocketFrame(fin: true, opcode: .connectionClose, data: payload)
    }
}
