import NIOCore

/// A minimal scanner over one JSON object's top level: it finds the values of a few named
/// fields without building any document. Values of other fields are skipped byte-wise (strings
/// with their escapes, nested objects and arrays by depth), and the scan stops as soon as every
/// wanted field was seen, so a frame that puts `seq` and `bt` before its `data` costs a few
/// dozen bytes of scanning however large the payload is.
///
/// It is meant for well-formed input from a server; on malformed input it returns what it found
/// so far and never reads out of bounds.
public struct JSONTopLevelScan {
    /// Where a string value lies (without its quotes; escapes left as they are).
    public struct Found {
        public var start: Int = -1
        public var end: Int = -1
        public var isString = false
        public var present: Bool { self.start >= 0 }
    }

    /// Scans `bytes` (one JSON object) for `keys`; returns one `Found` per key, in order.
    /// `keys` are compared byte for byte with the raw key text.
    public static func scan(_ bytes: UnsafeRawBufferPointer, keys: [[UInt8]]) -> [Found] {
        var found = [Found](repeating: Found(), count: keys.count)
        var remaining = keys.count
        let n = bytes.count
        var i = 0
        @inline(__always) func skipWS() {
            while i < n {
                let c = bytes[i]
                if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { i += 1 } else { break }
            }
        }
        /// i at the opening quote; leaves i after the closing quote; returns the content range.
        @inline(__always) func skipString() -> (Int, Int) {
            i += 1
            let start = i
            while i < n {
                let c = bytes[i]
                if c == 0x5C { i += 2; continue }  // backslash
                if c == 0x22 { let end = i; i += 1; return (start, end) }
                i += 1
            }
            return (start, n)
        }
        func skipValue() {
            guard i < n else { return }
            let c = bytes[i]
            if c == 0x22 { _ = skipString(); return }
            if c == 0x7B || c == 0x5B {  // { or [
                var depth = 0
                while i < n {
                    let d = bytes[i]
                    if d == 0x22 { _ = skipString(); continue }
                    if d == 0x7B || d == 0x5B { depth += 1 } else if d == 0x7D || d == 0x5D {
                        depth -= 1
                        if depth == 0 { i += 1; return }
                    }
                    i += 1
                }
                return
            }
            // number or literal
            while i < n {
                let d = bytes[i]
                if d == 0x2C || d == 0x7D || d == 0x5D || d == 0x20 || d == 0x0A || d == 0x0D || d == 0x09 { return }
                i += 1
            }
        }
        skipWS()
        guard i < n, bytes[i] == 0x7B else { return found }
        i += 1
        while i < n && remaining > 0 {
            skipWS()
            guard i < n else { break }
            if bytes[i] == 0x7D { break }
            if bytes[i] == 0x2C { i += 1; continue }
            guard bytes[i] == 0x22 else { break }
            let (ks, ke) = skipString()
            skipWS()
            guard i < n, bytes[i] == 0x3A else { break }
            i += 1
            skipWS()
            var match = -1
            let klen = ke - ks
            for (index, key) in keys.enumerated() where key.count == klen && !found[index].present {
                var equal = true
                for j in 0..<klen where bytes[ks + j] != key[j] { equal = false; break }
                if equal { match = index; break }
            }
            if match >= 0 {
                if i < n, bytes[i] == 0x22 {
                    let (s, e) = skipString()
                    found[match] = Found(start: s, end: e, isString: true)
                } else {
                    let s = i
                    skipValue()
                    found[match] = Found(start: s, end: i, isString: false)
                }
                remaining -= 1
            } else {
                skipValue()
            }
        }
        return found
    }

    /// The unsigned integer at `found` (digits only), or nil.
    @inline(__always)
    public static func uint(_ bytes: UnsafeRawBufferPointer, _ found: Found) -> UInt64? {
        guard found.present, !found.isString, found.end > found.start else { return nil }
        var value: UInt64 = 0
        for j in found.start..<found.end {
            let c = bytes[j]
            guard c >= 0x30 && c <= 0x39 else { return j > found.start ? value : nil }
            value = value &* 10 &+ UInt64(c - 0x30)
        }
        return value
    }

    /// Whether the string at `found` equals `literal` byte for byte.
    @inline(__always)
    public static func equals(_ bytes: UnsafeRawBufferPointer, _ found: Found, _ literal: [UInt8]) -> Bool {
        guard found.present, found.isString, found.end - found.start == literal.count else { return false }
        for j in 0..<literal.count where bytes[found.start + j] != literal[j] { return false }
        return true
    }

    /// The string at `found` (escapes kept raw; the fields read here carry none).
    public static func string(_ bytes: UnsafeRawBufferPointer, _ found: Found) -> String? {
        guard found.present, found.isString else { return nil }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[found.start..<found.end]), as: UTF8.self)
    }
}

/// The binary media frame of seed 004 / SPEC §3a: uint32 big-endian header length, a UTF-8
/// JSON header, then raw payload bytes.
public enum BinaryMediaFrame {
    /// The header's byte range inside `bytes`, or nil when the frame is malformed.
    @inline(__always)
    public static func headerRange(_ bytes: UnsafeRawBufferPointer) -> Range<Int>? {
        guard bytes.count >= 4 else { return nil }
        let length = Int(bytes[0]) << 24 | Int(bytes[1]) << 16 | Int(bytes[2]) << 8 | Int(bytes[3])
        guard length > 0, 4 + length <= bytes.count else { return nil }
        return 4..<(4 + length)
    }
}

extension Array where Element == UInt8 {
    /// The UTF-8 bytes of `string`.
    public init(ascii string: StaticString) {
        self = Array(UnsafeBufferPointer(start: string.utf8Start, count: string.utf8CodeUnitCount))
    }
}

extension ByteBuffer {
    /// Writes `value` in decimal ASCII.
    @inline(__always)
    @discardableResult
    public mutating func writeDecimal(_ value: UInt64) -> Int {
        if value == 0 { return self.writeInteger(UInt8(0x30)) }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        var v = value
        withUnsafeMutableBytes(of: &digits) { raw in
            while v > 0 {
                raw[19 - count] = UInt8(v % 10) + 0x30
                v /= 10
                count += 1
            }
        }
        return withUnsafeBytes(of: &digits) { raw in
            self.writeBytes(UnsafeRawBufferPointer(rebasing: raw[(20 - count)...]))
        }
    }
}
