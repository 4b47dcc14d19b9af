import NIOCore
import NIOWebSocket

extension OutboundMessage {
    /// Calls `body` with each WebSocket frame that carries this message: one frame on a `json`
    /// connection; on a Socket.IO connection (`socketIONamespace` set), the packet and its
    /// binary attachments.
    func forEachWebSocketFrame(socketIONamespace namespace: String?, _ body: (WebSocketFrame) throws -> Void) rethrows {
        guard let namespace else {
            try body(WebSocketFrame(fin: true, opcode: self.kind == .text ? .text : .binary, data: self.bytes))
            return
        }
        for frame in self.forms.socketIO(of: self, namespace: namespace.isEmpty ? "/" : namespace) {
            try body(WebSocketFrame(fin: true, opcode: frame.isText ? .text : .binary, data: frame.bytes))
        }
    }
}
