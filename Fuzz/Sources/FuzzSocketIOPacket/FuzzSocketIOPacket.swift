import FuzzSupport
import NIOCore
@testable import RelayKernel

@main
enum FuzzSocketIOPacketMain {
    static func main() { FuzzDriver.run(fuzzSocketIOPacket) }
}

/// libFuzzer target: what the `socketio` codec reads from a text frame: the Engine.IO packet,
/// the Socket.IO packet inside it, an event's arguments split without decoding, its name and
/// first argument, and a CONNECT payload.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSocketIOPacket(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let buffer = ByteBuffer(bytes: FuzzDriver.bytes(data, size))
    guard case .message(let packet)? = try? SocketIOPacket.parse(buffer), let payload = packet.payload else { return 0 }
    switch packet.kind {
    case .connect:
        _ = try? JSONParser.parse(payload.readableBytesView).objectValue
    case .event, .binaryEvent:
        guard let elements = JSONArrayScanner.elements(of: payload) else { return 0 }
        _ = elements.first.flatMap { try? JSONParser.parse($0.readableBytesView) }?.stringValue
        _ = elements.dropFirst().first.flatMap { try? JSONParser.parse($0.readableBytesView).objectValue }
    default:
        break
    }
    return 0
}
