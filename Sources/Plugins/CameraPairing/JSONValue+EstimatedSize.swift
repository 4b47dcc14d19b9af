import RelayKernel

extension JSONValue {
    /// About how many bytes the compact JSON text of this value takes (exact for ASCII text
    /// without escapes; used for the hold and mailbox bounds).
    var estimatedSize: Int {
        switch self {
        case .null: 4
        case .bool(let value): value ? 4 : 5
        case .int(let value): String(value).utf8.count
        case .double(let value): String(value).utf8.count
        case .string(let value): Self.quotedSize(value)
        case .array(let elements): 2 + elements.reduce(max(0, elements.count - 1)) { $0 + $1.estimatedSize }
        case .object(let members):
            2 + members.reduce(max(0, members.count - 1)) { $0 + Self.quotedSize($1.key) + 1 + $1.value.estimatedSize }
        }
    }

    private static func quotedSize(_ text: String) -> Int {
        var size = 2
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), 0x08, 0x09, 0x0A, 0x0C, 0x0D: size += 2
            case 0..<0x20: size += 6
            default: size += 1
            }
        }
        return size
    }
}
