import NIOCore

/// Splits a JSON array text into the raw bytes of its elements without decoding them, so
/// arguments are relayed exactly as they arrived.
enum JSONArrayScanner {
    /// The elements of a (valid) JSON array text, or `nil` when it is not an array.
    static func elements(of buffer: ByteBuffer) -> [ByteBuffer]? {
        let view = buffer.readableBytesView
        var index = view.startIndex
        func skipWhitespace() {
            while index < view.endIndex, WireForms.isWhitespace(view[index]) { index += 1 }
        }
        skipWhitespace()
        guard index < view.endIndex, view[index] == UInt8(ascii: "[") else { return nil }
        index += 1
        var elements: [ByteBuffer] = []
        var depth = 0
        var inString = false
        var escaped = false
        var start: Int?
        while index < view.endIndex {
            let byte = view[index]
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                index += 1
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                inString = true
                if start == nil { start = index }
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                if start == nil { start = index }
            case UInt8(ascii: "]") where depth == 0, UInt8(ascii: ",") where depth == 0:
                if let first = start {
                    elements.append(Self.slice(buffer, view: view, from: first, to: index))
                }
                start = nil
                if byte == UInt8(ascii: "]") { return elements }
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                depth -= 1
            default:
                if start == nil, !WireForms.isWhitespace(byte) { start = index }
            }
            index += 1
        }
        return nil
    }

    private static func slice(_ buffer: ByteBuffer, view: ByteBufferView, from start: Int, to end: Int) -> ByteBuffer {
        var last = end
        while last > start, WireForms.isWhitespace(view[last - 1]) { last -= 1 }
        let offset = start - view.startIndex
        return buffer.getSlice(at: buffer.readerIndex + offset, length: last - start) ?? ByteBuffer()
    }
}
