import FuzzSupport
import NIOCore
@testable import RelayKernel

@main
enum FuzzSocketIOPacketMain {
    static func main() { FuzzDriver.run(fuzzSocketIOPacket) }
}

/// libFuzzer target: what the `socketio` codec reads from a text frame: the Engine.IO packet,
/// the Socket.IO packet inside it, an event's arguments split without decoding, its name and
/// first argument, and a CONNECT payload; and the same input as a long-polling `POST` body
/// (packets joined by 0x1E, binary ones as `b` and base64), each packet read the same way.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSocketIOPacket(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let buffer = ByteBuffer(bytes: FuzzDriver.bytes(data, size))
    read(buffer)
    if let messages = try? EngineIOPayload.decode(buffer) {
        for message in messages where message.kind == .text {
            guard message.data.readableBytes > 0 else { fatalError("a long-polling payload split into an empty packet") }
            read(message.data)
        }
    }
    return 0
}

/// Reads `buffer` as one Engine.IO packet, as the codec does.
private func read(_ buffer: ByteBuffer) {
    guard case .message(let packet)? = try? SocketIOPacket.parse(buffer), let payload = packet.payload else { return }
    switch packet.kind {
    case .connect:
        _ = try? JSONParser.parse(payload.readableBytesView).objectValue
    case .event, .binaryEvent:
        guard let elements = JSONArrayScanner.elements(of: payload) else { return }
        _ = elements.first.flatMap { try? JSONParser.parse($0.readableBytesView) }?.stringValue
        _ = elements.dropFirst().first.flatMap { try? JSONParser.parse($0.readableBytesView).objectValue }
    default:
        break
    }
}
