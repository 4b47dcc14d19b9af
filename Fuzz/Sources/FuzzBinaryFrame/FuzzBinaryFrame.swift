import FuzzSupport
import NIOCore
@testable import RelayKernel

@main
enum FuzzBinaryFrameMain {
    static func main() { FuzzDriver.run(fuzzBinaryFrame) }
}

/// libFuzzer target: the binary media frame a `json` endpoint reads (a 4-byte big-endian header
/// length, a JSON header with `type`, the payload).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBinaryFrame(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let buffer = ByteBuffer(bytes: FuzzDriver.bytes(data, size))
    if case .message(_, _, let payload) = JSONInboundDecoder.decode(.binary, buffer) {
        guard let payload, payload.readableBytes <= size else { fatalError("a binary frame's payload is missing or longer than the frame") }
    }
    return 0
}
