import NIOCore
import WSCore

/// Joins WebSocket frames into messages, enforcing the endpoint's size limit as bytes arrive.
struct MessageAssembler {
    enum Output {
        case incomplete
        case message(RelayMessage.Kind, ByteBuffer)
        case close(CloseReason)
    }

    let maxSize: Int
    private var kind: RelayMessage.Kind?
    private var buffer = ByteBuffer()

    init(maxSize: Int) {
        self.maxSize = maxSize
    }

    mutating func append(_ frame: WebSocketDataFrame) -> Output {
        switch frame.opcode {
        case .text, .binary:
            guard self.kind == nil else { return .close(CloseReason(.protocolError, "new message inside a fragmented one")) }
            guard frame.data.readableBytes <= self.maxSize else { return .close(CloseReason(.messageTooBig, "message too large")) }
            let kind: RelayMessage.Kind = frame.opcode == .text ? .text : .binary
            if frame.fin { return .message(kind, frame.data) }
            self.kind = kind
            self.buffer = frame.data
            return .incomplete
        case .continuation:
            guard let kind = self.kind else { return .close(CloseReason(.protocolError, "continuation without a message")) }
            guard self.buffer.readableBytes + frame.data.readableBytes <= self.maxSize else {
                return .close(CloseReason(.messageTooBig, "message too large"))
            }
            var data = frame.data
            self.buffer.writeBuffer(&data)
            guard frame.fin else { return .incomplete }
            self.kind = nil
            let message = self.buffer
            self.buffer = ByteBuffer()
            return .message(kind, message)
        }
    }
}
