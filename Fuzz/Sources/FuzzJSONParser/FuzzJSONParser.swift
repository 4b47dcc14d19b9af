import FuzzSupport
import NIOCore
@testable import RelayKernel

@main
enum FuzzJSONParserMain {
    static func main() { FuzzDriver.run(fuzzJSONParser) }
}

/// libFuzzer target: the kernel's JSON parser, and what the `json` codec makes of a text frame
/// (an object with a string `type`, or the error the protocol names). What the relay writes back
/// of a parsed value must parse again and write the same text.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSONParser(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = FuzzDriver.bytes(data, size)
    if let value = try? JSONParser.parse(bytes) {
        let text = value.encoded
        guard let again = try? JSONParser.parse(text.readableBytesView), again.encoded == text else {
            fatalError("the relay's JSON text of a parsed value does not parse back to itself: \(String(buffer: text))")
        }
    }
    _ = JSONInboundDecoder.decode(.text, ByteBuffer(bytes: bytes))
    return 0
}
