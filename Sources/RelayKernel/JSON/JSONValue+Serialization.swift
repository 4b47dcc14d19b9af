public import NIOCore

extension JSONValue {
    /// Compact JSON text of this value, written straight into a buffer.
    public func write(into buffer: inout ByteBuffer) {
        switch self {
        case .null: buffer.writeStaticString("null")
        case .bool(let value): buffer.writeStaticString(value ? "true" : "false")
        case .int(let value): buffer.writeString(String(value))
        case .double(let value):
            if value.isFinite {
                if value.rounded() == value, abs(value) < 1e15 {
                    buffer.writeString(String(Int(value)))
                } else {
                    buffer.writeString(String(value))
                }
            } else {
                buffer.writeStaticString("null")
            }
        case .string(let value): Self.writeString(value, into: &buffer)
        case .array(let elements):
            buffer.writeInteger(UInt8(ascii: "["))
            for (offset, element) in elements.enumerated() {
                if offset > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
                element.write(into: &buffer)
            }
            buffer.writeInteger(UInt8(ascii: "]"))
        case .object(let members):
            buffer.writeInteger(UInt8(ascii: "{"))
            var first = true
            for key in members.keys.sorted() {
                if !first { buffer.writeInteger(UInt8(ascii: ",")) }
                first = false
                Self.writeString(key, into: &buffer)
                buffer.writeInteger(UInt8(ascii: ":"))
                members[key]!.write(into: &buffer)
            }
            buffer.writeInteger(UInt8(ascii: "}"))
        }
    }

    /// Compact JSON text of this value.
    public var jsonText: String {
        var buffer = ByteBuffer()
        self.write(into: &buffer)
        return String(buffer: buffer)
    }

    /// Writes `string` as a JSON string literal.
    public static func writeString(_ string: String, into buffer: inout ByteBuffer) {
        var string = string
        string.makeContiguousUTF8()
        string.utf8.withContiguousStorageIfAvailable { bytes in
            buffer.reserveCapacity(minimumWritableBytes: bytes.count + 2)
            buffer.writeInteger(UInt8(ascii: "\""))
            var pending = 0
            for index in bytes.indices {
                let byte = bytes[index]
                guard byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20 else { continue }
                buffer.writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[pending..<index])))
                Self.writeEscape(byte, into: &buffer)
                pending = index + 1
            }
            buffer.writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[pending...])))
            buffer.writeInteger(UInt8(ascii: "\""))
        }
    }

    /// The escape sequence of a byte that may not appear raw in a JSON string.
    private static func writeEscape(_ byte: UInt8, into buffer: inout ByteBuffer) {
        switch byte {
        case UInt8(ascii: "\""): buffer.writeStaticString("\\\"")
        case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
        case 0x0A: buffer.writeStaticString("\\n")
        case 0x0D: buffer.writeStaticString("\\r")
        case 0x09: buffer.writeStaticString("\\t")
        default:
            let hex: StaticString = "0123456789abcdef"
            buffer.writeStaticString("\\u00")
            buffer.writeInteger(hex.utf8Start[Int(byte >> 4)])
            buffer.writeInteger(hex.utf8Start[Int(byte & 0xF)])
        }
    }
}
