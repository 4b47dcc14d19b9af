import Testing
import NIOCore
import NIOEmbedded
import NIOWebSocket
@testable import WSCore
@testable import RelayKernel

@Test func smokeImports() {
    let channel = EmbeddedChannel()
    let frame = WebSocketDataFrame(from: WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: "x")))
    #expect(frame?.opcode == .text)
    _ = ConnectionControl(channel: channel)
}
