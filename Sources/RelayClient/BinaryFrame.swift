import Foundation

/// The relay's binary frame layout: `uint32` big-endian header length, the UTF-8 JSON header
/// (with `type`), then the raw payload bytes (SPEC §3a).
enum BinaryFrame {
    /// The frame for `header` and `payload`.
    static func encode(header: Data, payload: Data) -> Data {
        var frame = Data(capacity: 4 + header.count + payload.count)
        let length = UInt32(header.count)
        frame.append(contentsOf: [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)])
        frame.append(header)
        frame.append(payload)
        return frame
    }

    /// The header's JSON and the payload of `frame`; `nil` when the length prefix does not fit.
    static func decode(_ frame: Data) -> (header: Data, payload: Data)? {
        let bytes = [UInt8](frame)
        guard bytes.count >= 4 else { return nil }
        let length = Int(bytes[0]) << 24 | Int(bytes[1]) << 16 | Int(bytes[2]) << 8 | Int(bytes[3])
        guard 4 + length <= bytes.count else { return nil }
        return (Data(bytes[4..<4 + length]), Data(bytes[(4 + length)...]))
    }
}
