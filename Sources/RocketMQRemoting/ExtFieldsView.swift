import NIOCore

// The lazy extFields of a command: byte ranges of the header, Strings only when asked.
//
// The JSON and binary header scanners (`JSONHeaderCodec.scan`, `BinaryHeaderCodec.scan`) validate a header
// and report each extFields entry as byte ranges of the header (`RawExtField`), building no String.
// `RemotingFrame.decode` keeps those ranges next to a slice of the header bytes: an `ExtFieldsView`. The typed
// headers (generated, Generated/Headers.generated.swift) decode from a view in one pass, and a map built in
// code is turned into a view over its own bytes, so there is one decoding path for both.

/// How the bytes of an extFields key or value are to be read as text.
enum RawTextKind: UInt8, Sendable {
    /// Plain ASCII: the range is the text itself.
    case ascii
    /// Plain, non-ASCII, already validated UTF-8: the range is the text itself.
    case utf8
    /// JSON string with escapes: the range starts at the opening quote; `JSONCursor.readString` decodes it.
    case escapedString
    /// JSON number, `true` or `false`: the range is the literal text (ASCII).
    case scalar
    /// JSON object or array: the range is its source text; the value is its compact JSON text.
    case nested
}

/// One extFields entry as byte ranges of the header (offsets relative to the header's first byte).
struct RawExtField: Sendable {
    var keyStart: Int32
    var keyCount: Int32
    var valueStart: Int32 = 0
    var valueCount: Int32 = 0
    /// `signature` of an ASCII key (0 otherwise): equal keys have equal signatures.
    var keySignature: UInt64 = 0
    var keyKind: RawTextKind
    var valueKind: RawTextKind = .ascii
    /// The typed header whose declared field the binary scanner found this key to be (`KeySlots.owner`; 0: not
    /// dispatched) and that field's index, which its decoder then takes instead of matching the key again (see
    /// `BinaryHeaderCodec.scanASCIIBlock`).
    var slotOwner: UInt8 = 0
    var slot: Int8 = -1

    /// With the key's signature (the JSON scanner checks duplicate keys with it).
    @inline(__always)
    init(key: Range<Int>, keyKind: RawTextKind, in bytes: UnsafeRawBufferPointer) {
        keyStart = Int32(truncatingIfNeeded: key.lowerBound)
        keyCount = Int32(truncatingIfNeeded: key.count)
        self.keyKind = keyKind
        if keyKind == .ascii { keySignature = Self.signature(in: bytes, start: key.lowerBound, count: key.count) }
    }

    /// Without a signature (binary headers: duplicate keys are allowed, nothing compares them).
    init(key: Range<Int>, keyKind: RawTextKind) {
        keyStart = Int32(truncatingIfNeeded: key.lowerBound)
        keyCount = Int32(truncatingIfNeeded: key.count)
        self.keyKind = keyKind
    }

    /// The length and the first 7 bytes of a key, packed: a one-compare filter before comparing bytes.
    @inline(__always) static func signature(_ p: UnsafeRawBufferPointer) -> UInt64 {
        let count = UInt64(truncatingIfNeeded: p.count) & 0xFF
        if p.count >= 8 {
            return UInt64(littleEndian: p.loadUnaligned(as: UInt64.self)) &<< 8 | count
        }
        var s = count
        var i = 0
        var shift: UInt64 = 8
        while i < p.count {
            s |= UInt64(p[i]) &<< shift
            i &+= 1
            shift &+= 8
        }
        return s
    }

    /// `signature` of the `count` bytes at `start`, from one eight-byte load (masked to the key's bytes) where
    /// the buffer has eight bytes from `start`; the byte loop of `signature(_:)` otherwise. Same value.
    @inline(__always) static func signature(in bytes: UnsafeRawBufferPointer, start: Int, count: Int) -> UInt64 {
        guard start &+ 8 <= bytes.count else {
            return signature(UnsafeRawBufferPointer(rebasing: bytes[start..<(start + count)]))
        }
        let w = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: start, as: UInt64.self))
        let kept = count >= 8 ? w : w & ((1 &<< UInt64(truncatingIfNeeded: count &* 8)) &- 1)
        return kept &<< 8 | (UInt64(truncatingIfNeeded: count) & 0xFF)
    }

    /// Two bits of 64 chosen by the key's signature: the JSON scanners' filter of keys already seen (a key
    /// whose bits are not both set in the filter cannot equal an earlier ASCII key). Two bits rather than one
    /// keep the ten keys of a PULL_MESSAGE request from colliding most of the time.
    @inline(__always) var keyFilterMask: UInt64 {
        let h = keySignature &* 0x9E37_79B9_7F4A_7C15
        return 1 &<< (h >> 58) | 1 &<< ((h >> 52) & 63)
    }

    mutating func setValue(_ range: Range<Int>, _ kind: RawTextKind) {
        valueStart = Int32(truncatingIfNeeded: range.lowerBound)
        valueCount = Int32(truncatingIfNeeded: range.count)
        valueKind = kind
    }

    @inline(__always) func keyBytes(in bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[Int(keyStart)..<(Int(keyStart) + Int(keyCount))])
    }
    @inline(__always) func valueBytes(in bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[Int(valueStart)..<(Int(valueStart) + Int(valueCount))])
    }

    /// The key's bytes when they are its text (plain strings), nil when it must be decoded.
    @inline(__always) func directKey(in bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        keyKind == .ascii || keyKind == .utf8 ? keyBytes(in: bytes) : nil
    }

    /// The value's bytes when they are its text (plain strings and scalars), nil when it must be decoded.
    @inline(__always) func directValue(in bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        switch valueKind {
        case .ascii, .utf8, .scalar: return valueBytes(in: bytes)
        case .escapedString, .nested: return nil
        }
    }

    /// Whether the key is a credential (`Redaction.isSecret`), from its bytes where they are its text.
    func hasSecretKey(in bytes: UnsafeRawBufferPointer) -> Bool {
        directKey(in: bytes).map(Redaction.isSecret(utf8:)) ?? Redaction.isSecret(keyString(in: bytes))
    }
    func keyString(in bytes: UnsafeRawBufferPointer) -> String {
        Self.text(keyBytes(in: bytes), keyKind, in: bytes, start: Int(keyStart))
    }
    func valueString(in bytes: UnsafeRawBufferPointer) -> String {
        Self.text(valueBytes(in: bytes), valueKind, in: bytes, start: Int(valueStart))
    }

    private static func text(_ range: UnsafeRawBufferPointer, _ kind: RawTextKind, in bytes: UnsafeRawBufferPointer,
                             start: Int) -> String {
        switch kind {
        case .ascii, .scalar:
            return String(validatedUTF8: range, isASCII: true)
        case .utf8:
            return String(validatedUTF8: range, isASCII: false)
        case .escapedString:
            var c = JSONCursor(UnsafeRawBufferPointer(rebasing: bytes[start..<bytes.count]), context: "extFields")
            return (try? c.readString()) ?? ""
        case .nested:
            var c = JSONCursor(UnsafeRawBufferPointer(rebasing: bytes[start..<bytes.count]), context: "extFields")
            var p = JSONParser(options: .init(maxDepth: JSONHeaderCodec.maxDepth))
            return (try? p.parseValue(&c, depth: 2))?.compactText ?? ""
        }
    }

    /// Keys equal as `ExtFields` keys are compared: same UTF-8 length and String ==.
    @inline(__always)
    static func sameKey(_ a: RawExtField, _ b: RawExtField, in bytes: UnsafeRawBufferPointer) -> Bool {
        if a.keyKind == .ascii && b.keyKind == .ascii {
            return a.keySignature == b.keySignature && a.keyCount == b.keyCount
                && (a.keyCount <= 7 || bytesEqual(a.keyBytes(in: bytes), b.keyBytes(in: bytes)))
        }
        return sameKeySlow(a, b, in: bytes)
    }

    @inline(never)
    static func sameKeySlow(_ a: RawExtField, _ b: RawExtField, in bytes: UnsafeRawBufferPointer) -> Bool {
        let x = a.keyString(in: bytes), y = b.keyString(in: bytes)
        return x.utf8.count == y.utf8.count && x == y
    }
}

extension String {
    /// A String of bytes a scanner has already validated as UTF-8 (as ASCII when `isASCII`): copied without
    /// validating them again (`String(decoding:as:)` would check them a second time).
    @inline(__always)
    init(validatedUTF8 bytes: UnsafeRawBufferPointer, isASCII: Bool) {
        if #available(macOS 26, *) {
            let span = unsafe Span<UInt8>(_unsafeBytes: bytes)
            self = String(copying: unsafe UTF8Span(unchecked: span, isKnownASCII: isASCII))
        } else {
            self = bytes.withMemoryRebound(to: UInt8.self) { String(decoding: $0, as: UTF8.self) }
        }
    }
}

/// Whether all bytes are ASCII, eight at a time (the tail with overlapping loads, no byte loop).
@inline(__always)
func isASCII(_ p: UnsafeRawBufferPointer) -> Bool {
    let n = p.count
    if n >= 8 {
        var high: UInt64 = p.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)
        var i = 0
        while i + 8 <= n {
            high |= p.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            i += 8
        }
        return high & 0x8080_8080_8080_8080 == 0
    }
    if n >= 4 {
        return (p.loadUnaligned(as: UInt32.self) | p.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self)) & 0x8080_8080 == 0
    }
    if n >= 2 {
        return (p.loadUnaligned(as: UInt16.self) | p.loadUnaligned(fromByteOffset: n - 2, as: UInt16.self)) & 0x8080 == 0
    }
    return n == 0 || p[0] < 0x80
}

@inline(__always)
func bytesEqual(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    guard a.count == b.count else { return false }
    var i = 0
    while i + 8 <= a.count {
        if a.loadUnaligned(fromByteOffset: i, as: UInt64.self) != b.loadUnaligned(fromByteOffset: i, as: UInt64.self) { return false }
        i += 8
    }
    while i < a.count {
        if a[i] != b[i] { return false }
        i += 1
    }
    return true
}

/// The extFields entries of a header, in wire order, as the header scanners report them.
struct RawFieldList {
    var entries: [RawExtField] = []
    @inline(__always) mutating func visit(_ field: RawExtField) {
        if entries.isEmpty { entries.reserveCapacity(16) }
        entries.append(field)
    }
}

/// The extFields of a command as an ordered, lazy view: the entries' byte ranges over the header bytes (a
/// slice of the frame for a decoded command, or bytes of its own for a map built in code). Keys and values
/// become Strings only when asked; typed headers decode straight from the bytes.
public struct ExtFieldsView: Sendable, Sequence, CustomStringConvertible {
    /// The bytes the ranges refer to (the header of the frame).
    let bytes: ByteBuffer
    let entries: [RawExtField]

    /// A view with no entries.
    public static let empty = ExtFieldsView(bytes: ByteBuffer(), entries: [])

    init(bytes: ByteBuffer, entries: [RawExtField]) {
        self.bytes = bytes
        self.entries = entries
    }

    /// A view over a map built in code: its keys and values written once into bytes of its own.
    public init(_ fields: ExtFields) {
        var size = 0
        for e in fields.entries { size += e.key.utf8.count + e.value.utf8.count }
        var buf = ByteBuffer()
        buf.reserveCapacity(size)
        var ranges: [(Range<Int>, Range<Int>)] = []
        ranges.reserveCapacity(fields.count)
        for e in fields.entries {
            let k = buf.writerIndex
            buf.writeString(e.key)
            let v = buf.writerIndex
            buf.writeString(e.value)
            ranges.append((k..<v, v..<buf.writerIndex))
        }
        var entries: [RawExtField] = []
        entries.reserveCapacity(ranges.count)
        buf.withUnsafeReadableBytes { bytes in
            for (k, v) in ranges {
                let kb = UnsafeRawBufferPointer(rebasing: bytes[k]), vb = UnsafeRawBufferPointer(rebasing: bytes[v])
                var f = RawExtField(key: k, keyKind: isASCII(kb) ? .ascii : .utf8, in: bytes)
                f.setValue(v, isASCII(vb) ? .ascii : .utf8)
                entries.append(f)
            }
        }
        self.init(bytes: buf, entries: entries)
    }

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }

    @inline(__always)
    func withUnsafeFields<R>(_ body: (UnsafeRawBufferPointer, UnsafeBufferPointer<RawExtField>) throws -> R) rethrows -> R {
        try bytes.withUnsafeReadableBytes { raw in
            try entries.withUnsafeBufferPointer { try body(raw, $0) }
        }
    }

    /// `withUnsafeFields`, with the bytes the ranges refer to also given as the buffer (borrowed, not copied),
    /// for a typed header that keeps spans of them.
    @inline(__always)
    func withUnsafeFieldsAndSource<R>(_ body: (UnsafeRawBufferPointer, UnsafeBufferPointer<RawExtField>, borrowing ByteBuffer) throws -> R) rethrows -> R {
        try bytes.withUnsafeReadableBytes { raw in
            try entries.withUnsafeBufferPointer { try body(raw, $0, bytes) }
        }
    }

    /// The key of entry `i` (wire order).
    public func key(at i: Int) -> String { withUnsafeFields { b, f in f[i].keyString(in: b) } }
    /// The value of entry `i` as `ExtFields` holds it (JSON escapes decoded, numbers as written, nested JSON
    /// as compact text).
    public func value(at i: Int) -> String { withUnsafeFields { b, f in f[i].valueString(in: b) } }

    /// The UTF-8 bytes of the key of entry `i` (the key as text).
    public func keyUTF8(at i: Int) -> [UInt8] {
        withUnsafeFields { b, f in f[i].directKey(in: b).map { Array($0) } ?? Array(f[i].keyString(in: b).utf8) }
    }
    /// The UTF-8 bytes of the value of entry `i` (the value as text).
    public func valueUTF8(at i: Int) -> [UInt8] {
        withUnsafeFields { b, f in f[i].directValue(in: b).map { Array($0) } ?? Array(f[i].valueString(in: b).utf8) }
    }

    /// The index of the last entry whose key equals `key` (String ==, as `ExtFields` compares).
    public func lastIndex(of key: String) -> Int? {
        var utf8 = key
        return utf8.withUTF8 { kp in
            let wanted = UnsafeRawBufferPointer(kp)
            let ascii = isASCII(wanted)
            return withUnsafeFields { b, f -> Int? in
                var i = f.count - 1
                while i >= 0 {
                    let e = f[i]
                    if ascii && e.keyKind == .ascii {
                        if Int(e.keyCount) == wanted.count && bytesEqual(e.keyBytes(in: b), wanted) { return i }
                    } else if e.keyString(in: b) == key {
                        return i
                    }
                    i -= 1
                }
                return nil
            }
        }
    }

    /// The value of a key; with duplicate keys the last one wins, as in Java.
    public subscript(key: String) -> String? {
        lastIndex(of: key).map { value(at: $0) }
    }

    /// The eager map, in wire order.
    public var extFields: ExtFields {
        withUnsafeFields { b, f in
            var out: [(key: String, value: String)] = []
            out.reserveCapacity(f.count)
            for e in f { out.append((key: e.keyString(in: b), value: e.valueString(in: b))) }
            return ExtFields(out)
        }
    }

    /// Whether any key is a credential (`ExtFields.hasSecrets`), read from the key bytes.
    public var hasSecrets: Bool {
        withUnsafeFields { b, f in
            f.contains { $0.hasSecretKey(in: b) }
        }
    }

    /// Writes the entries as one JSON object of strings (`{"key":"value",…}`, wire order) into `out`, straight
    /// from the frame bytes where they are the text; credential values are redacted as `ExtFields.redacted()`
    /// does.
    public func writeJSONObject(into out: inout [UInt8]) { writeJSONObject(to: &out) }

    func writeJSONObject<Sink: JSONByteSink>(to out: inout Sink) {
        out.append(UInt8(ascii: "{"))
        withUnsafeFields { b, f in
            for (i, e) in f.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                if let key = e.directKey(in: b) { JSONWriter.writeString(utf8: key, to: &out) } else { JSONWriter.writeString(e.keyString(in: b), to: &out) }
                out.append(UInt8(ascii: ":"))
                if e.hasSecretKey(in: b) {
                    JSONWriter.writeString(Redaction.redact(e.valueString(in: b)), to: &out)
                } else if let v = e.directValue(in: b) {
                    JSONWriter.writeString(utf8: v, to: &out)
                } else {
                    JSONWriter.writeString(e.valueString(in: b), to: &out)
                }
            }
        }
        out.append(UInt8(ascii: "}"))
    }

    public struct Iterator: IteratorProtocol {
        let view: ExtFieldsView
        var index = 0
        public mutating func next() -> (key: String, value: String)? {
            guard index < view.count else { return nil }
            defer { index += 1 }
            return (key: view.key(at: index), value: view.value(at: index))
        }
    }
    public func makeIterator() -> Iterator { Iterator(view: self) }

    /// The same view over a copy of the bytes (no reference to the frame).
    public func detached() -> ExtFieldsView {
        var copy = ByteBuffer()
        copy.reserveCapacity(bytes.readableBytes)
        var b = bytes
        copy.writeBuffer(&b)
        return ExtFieldsView(bytes: copy, entries: entries)
    }

    public var description: String { extFields.description }
}
