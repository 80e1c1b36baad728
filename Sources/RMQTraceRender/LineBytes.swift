/// Text lines written as UTF-8 bytes. The timeline's hot lines (a pull and its answer on every frame pair) are
/// built here rather than by String appends: each `String +=` cost about 400 instructions, and a pull line
/// has two dozen pieces.
extension Array where Element == UInt8 {
    @inline(__always) mutating func put(_ s: String) { append(contentsOf: s.utf8) }
    @inline(__always) mutating func put(_ s: StaticString) {
        s.withUTF8Buffer { append(contentsOf: $0) }
    }
    /// `label` then the decimal digits of `v`: ` next=42`.
    @inline(__always) mutating func put<I: FixedWidthInteger>(_ label: StaticString, _ v: I) {
        put(label)
        put(decimal: v)
    }
    /// The decimal digits of `v` (as `String(v)` writes them).
    mutating func put<I: FixedWidthInteger>(decimal v: I) {
        if v < 0 {
            append(UInt8(ascii: "-"))
            put(magnitude: UInt64(v.magnitude))
        } else {
            put(magnitude: UInt64(v))
        }
    }
    private mutating func put(magnitude v: UInt64) {
        if v < 10 {
            append(48 + UInt8(v))
            return
        }
        var digits: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)  // 32 bytes, room for 20 digits
        var n = 0
        var x = v
        Swift.withUnsafeMutableBytes(of: &digits) { b in
            while x > 0 {
                b[31 - n] = 48 + UInt8(x % 10)
                x /= 10
                n += 1
            }
            append(contentsOf: UnsafeRawBufferPointer(rebasing: b[(32 - n)...]))
        }
    }
}

extension String {
    /// A line built as bytes by the writers above (valid UTF-8: only Strings and ASCII went in).
    init(lineBytes: [UInt8]) { self = String(decoding: lineBytes, as: UTF8.self) }
}
