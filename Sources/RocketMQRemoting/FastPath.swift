import NIOCore

// The zero-copy path from frame bytes to typed headers.
//
// The JSON and binary header scanners (`JSONHeaderCodec.scan`, `BinaryHeaderCodec.scan`) validate a header
// and report each extFields entry to a `RawExtFieldVisitor` as byte ranges of the header, building no String.
// Two visitors exist: `ExtFieldsBuilder` materialises the `ExtFields` of a `RemotingCommand`
// (`RemotingFrame.decode`), and `RawFieldCollector` keeps the ranges so that `RawFieldReader` can decode the
// typed headers straight from the bytes (`RemotingFrame.decodeTyped`). Validation, errors and the Java
// parsing rules are therefore shared by both paths.

/// How the bytes of an extFields key or value are to be read as text.
enum RawTextKind: UInt8 {
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
struct RawExtField {
    var keyStart: Int32
    var keyCount: Int32
    var valueStart: Int32 = 0
    var valueCount: Int32 = 0
    /// `keySignature` of an ASCII key (0 otherwise): equal keys have equal signatures.
    var keySignature: UInt64 = 0
    var keyKind: RawTextKind
    var valueKind: RawTextKind = .ascii
    /// Set by `RawFieldReader` when a declared field asked for this key.
    var used = false

    init(key: Range<Int>, keyKind: RawTextKind, in bytes: UnsafeRawBufferPointer) {
        keyStart = Int32(truncatingIfNeeded: key.lowerBound)
        keyCount = Int32(truncatingIfNeeded: key.count)
        self.keyKind = keyKind
        if keyKind == .ascii { keySignature = Self.signature(UnsafeRawBufferPointer(rebasing: bytes[key])) }
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

    /// The value's bytes when they are its text (plain strings and scalars), nil when it must be decoded.
    @inline(__always) func directValue(in bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        switch valueKind {
        case .ascii, .utf8, .scalar: return valueBytes(in: bytes)
        case .escapedString, .nested: return nil
        }
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
        case .ascii, .utf8, .scalar:
            // Validated by the scanner.
            return range.withMemoryRebound(to: UInt8.self) { String(decoding: $0, as: UTF8.self) }
        case .escapedString:
            var c = JSONCursor(UnsafeRawBufferPointer(rebasing: bytes[start..<bytes.count]), context: "extFields")
            return (try? c.readString()) ?? ""
        case .nested:
            var c = JSONCursor(UnsafeRawBufferPointer(rebasing: bytes[start..<bytes.count]), context: "extFields")
            var p = JSONParser(options: .init(maxDepth: JSONHeaderCodec.maxDepth))
            return (try? p.parseValue(&c, depth: 2))?.compactText ?? ""
        }
    }

    /// Keys equal as `ExtFields` keys are compared by the JSON decoder: same UTF-8 length and String ==.
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

/// Whether all bytes are ASCII, eight at a time.
@inline(__always)
func isASCII(_ p: UnsafeRawBufferPointer) -> Bool {
    var i = 0
    var high: UInt64 = 0
    while i + 8 <= p.count {
        high |= p.loadUnaligned(fromByteOffset: i, as: UInt64.self)
        i += 8
    }
    while i < p.count {
        high |= UInt64(p[i])
        i += 1
    }
    return high & 0x8080_8080_8080_8080 == 0
}

@inline(__always)
func bytesEqual(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    guard a.count == b.count else { return false }
    var i = 0
    while i < a.count {
        if a[i] != b[i] { return false }
        i += 1
    }
    return true
}

/// Receives the extFields entries of a header, in wire order, from the header scanners.
protocol RawExtFieldVisitor {
    mutating func visit(_ field: RawExtField)
}

/// Materialises `ExtFields` (the `RemotingFrame.decode` path).
struct ExtFieldsBuilder: RawExtFieldVisitor {
    let bytes: UnsafeRawBufferPointer
    var entries: [(key: String, value: String)] = []

    init(bytes: UnsafeRawBufferPointer, serializeType: SerializeType) {
        self.bytes = bytes
    }

    mutating func visit(_ field: RawExtField) {
        if entries.isEmpty { entries.reserveCapacity(12) }
        entries.append((key: field.keyString(in: bytes), value: field.valueString(in: bytes)))
    }
}

/// Keeps the ranges in caller-provided storage (the `decodeTyped` path).
struct RawFieldCollector: RawExtFieldVisitor {
    let storage: UnsafeMutableBufferPointer<RawExtField>
    var count = 0
    /// More entries than the storage holds were reported (the extra ones are dropped).
    var overflowed = false

    mutating func visit(_ field: RawExtField) {
        if count < storage.count {
            storage[count] = field
            count += 1
        } else {
            overflowed = true
        }
    }
}

/// The reads a typed header makes, implemented over `ExtFields` (`HeaderFieldReader`) and over raw header
/// bytes (`RawFieldReader`) with the same rules and errors.
protocol HeaderFieldSource {
    var header: String { get }
    mutating func optString(_ key: String) -> String?
    mutating func optInt32(_ key: String) throws -> Int32?
    mutating func optInt64(_ key: String) throws -> Int64?
    mutating func optBool(_ key: String) -> Bool?
    func unused() -> ExtFields
}

extension HeaderFieldSource {
    private func missing(_ key: String) -> RemotingDecodingError {
        RemotingDecodingError(header, .missingField(field: key))
    }
    mutating func string(_ key: String) throws -> String {
        guard let v = optString(key) else { throw missing(key) }
        return v
    }
    mutating func int32(_ key: String) throws -> Int32 {
        guard let v = try optInt32(key) else { throw missing(key) }
        return v
    }
    mutating func int64(_ key: String) throws -> Int64 {
        guard let v = try optInt64(key) else { throw missing(key) }
        return v
    }
    mutating func bool(_ key: String) throws -> Bool {
        guard let v = optBool(key) else { throw missing(key) }
        return v
    }
}

extension HeaderFieldReader: HeaderFieldSource {}

/// `HeaderFieldReader` over raw entries: keys matched by length and bytes, integers parsed from the bytes,
/// Strings built only for String fields and for the keys left in `extra`.
struct RawFieldReader: HeaderFieldSource {
    let bytes: UnsafeRawBufferPointer
    let fields: UnsafeMutableBufferPointer<RawExtField>
    let header: String
    /// Open-addressing index of the entries by key signature (entry index + 1, 0 = empty), or nil when some
    /// key is not plain ASCII or there are too many entries (then lookups scan every entry).
    let table: UnsafeMutableBufferPointer<UInt8>?

    /// Slots of the signature index: a power of two, at least twice the entries it can hold.
    static let tableSize = 64

    init(bytes: UnsafeRawBufferPointer, fields: UnsafeMutableBufferPointer<RawExtField>, header: String,
         table: UnsafeMutableBufferPointer<UInt8>?) {
        self.bytes = bytes
        self.fields = fields
        self.header = header
        self.table = table
    }

    @inline(__always) static func slot(_ signature: UInt64, _ size: Int) -> Int {
        Int(truncatingIfNeeded: (signature &* 0x9E37_79B9_7F4A_7C15) >> 58) & (size - 1)
    }

    /// Fills `storage` (tableSize bytes) with the signature index of `fields`; nil when it cannot be used.
    static func buildTable(_ fields: UnsafeMutableBufferPointer<RawExtField>,
                           _ storage: UnsafeMutableBufferPointer<UInt8>) -> UnsafeMutableBufferPointer<UInt8>? {
        let size = storage.count
        guard size == tableSize, fields.count * 2 <= size else { return nil }
        for i in 0..<fields.count where fields[i].keyKind != .ascii { return nil }
        for i in 0..<size { storage[i] = 0 }
        for i in 0..<fields.count {
            var j = slot(fields[i].keySignature, size)
            while storage[j] != 0 { j = (j + 1) & (size - 1) }
            storage[j] = UInt8(truncatingIfNeeded: i + 1)
        }
        return storage
    }

    /// The last entry with `key` (as `ExtFields` and Java do); marks every entry with that key used.
    private func lookup(_ key: String) -> Int? {
        var k = key
        return k.withUTF8 { kp -> Int? in
            let keyBytes = UnsafeRawBufferPointer(kp)
            let ascii = isASCII(keyBytes)
            let wanted = RawExtField.signature(keyBytes)
            var found: Int? = nil
            if ascii, let table {
                // Entries with equal keys have equal signatures, so they all lie on this probe chain.
                let size = table.count
                var j = Self.slot(wanted, size)
                while table[j] != 0 {
                    let i = Int(table[j]) - 1
                    if fields[i].keySignature == wanted && Int(fields[i].keyCount) == kp.count
                        && (kp.count <= 7 || bytesEqual(fields[i].keyBytes(in: bytes), keyBytes)) {
                        fields[i].used = true
                        if i > (found ?? -1) { found = i }
                    }
                    j = (j + 1) & (size - 1)
                }
                return found
            }
            for i in 0..<fields.count {
                let match: Bool
                if ascii && fields[i].keyKind == .ascii {
                    // Two ASCII texts are equal Strings exactly when their bytes are equal.
                    match = fields[i].keySignature == wanted && Int(fields[i].keyCount) == kp.count
                        && (kp.count <= 7 || bytesEqual(fields[i].keyBytes(in: bytes), keyBytes))
                } else {
                    match = fields[i].keyString(in: bytes) == key
                }
                if match {
                    fields[i].used = true
                    found = i
                }
            }
            return found
        }
    }

    private func invalid(_ key: String, _ value: String, _ expected: String) -> RemotingDecodingError {
        RemotingDecodingError(header, .invalidField(field: key, value: value, expected: expected))
    }

    mutating func optString(_ key: String) -> String? {
        guard let i = lookup(key) else { return nil }
        return fields[i].valueString(in: bytes)
    }

    private func integer<T: FixedWidthInteger & SignedInteger>(_ key: String, _: T.Type, _ expected: String) throws -> T? {
        guard let i = lookup(key) else { return nil }
        let f = fields[i]
        if let raw = f.directValue(in: bytes) {
            if let v = HeaderFieldReader.parseDecimal(bytes: raw, as: T.self) { return v }
            throw invalid(key, f.valueString(in: bytes), expected)
        }
        let s = f.valueString(in: bytes)
        guard let v = HeaderFieldReader.parseDecimal(s, as: T.self) else { throw invalid(key, s, expected) }
        return v
    }

    mutating func optInt32(_ key: String) throws -> Int32? { try integer(key, Int32.self, "an Integer") }
    mutating func optInt64(_ key: String) throws -> Int64? { try integer(key, Int64.self, "a Long") }

    /// `Boolean.parseBoolean`.
    mutating func optBool(_ key: String) -> Bool? {
        guard let i = lookup(key) else { return nil }
        let f = fields[i]
        if f.valueKind == .ascii || f.valueKind == .scalar {
            let v = f.valueBytes(in: bytes)
            return v.count == 4 && v[0] | 0x20 == UInt8(ascii: "t") && v[1] | 0x20 == UInt8(ascii: "r")
                && v[2] | 0x20 == UInt8(ascii: "u") && v[3] | 0x20 == UInt8(ascii: "e")
        }
        return f.valueString(in: bytes).lowercased() == "true"
    }

    func unused() -> ExtFields {
        var rest = ExtFields()
        for f in fields where !f.used { rest.append(f.keyString(in: bytes), f.valueString(in: bytes)) }
        return rest
    }
}

/// A command without its extFields map: what `RemotingFrame.decodeTyped` returns next to the typed header.
/// The extFields stay in the frame's header bytes (`headerRange`); `extFields(in:)` materialises them.
public struct RemotingCommandHead: Hashable, Sendable {
    public var code: Int32 = 0
    public var language: LanguageCode = .java
    public var version: Int32 = 0
    public var opaque: Int32 = 0
    public var flag: Int32 = 0
    public var remark: String? = nil
    public var serializeType: SerializeType
    /// The header has an extFields map (possibly empty); `RemotingCommand.extFields` would be non-nil.
    public var hasExtFields = false
    public var jsonTrailingNewline = false
    public var jsonHasSerializeTypeCurrentRPC = false
    /// The header bytes within the frame, relative to the frame's reader index.
    public var headerRange: Range<Int> = 8..<8
    /// A slice of the frame, not a copy.
    public var body: ByteBuffer? = nil

    init(serializeType: SerializeType) {
        self.serializeType = serializeType
    }

    public var isResponse: Bool { flag & RemotingCommand.responseFlag != 0 }
    public var isOneway: Bool { flag & RemotingCommand.onewayFlag != 0 }
    public var kind: RemotingCommand.Kind { isResponse ? .response : (isOneway ? .oneway : .request) }
    public var bodyLength: Int { body?.readableBytes ?? 0 }

    /// The full command, with `extFields` as given (an empty list gives an empty map when the header has one).
    public func command(extFields: [(key: String, value: String)]) -> RemotingCommand {
        var cmd = RemotingCommand(code: code, language: language, version: version, opaque: opaque, flag: flag,
                                  remark: remark, extFields: hasExtFields ? ExtFields(extFields) : nil, body: body,
                                  serializeType: serializeType)
        cmd.jsonTrailingNewline = jsonTrailingNewline
        cmd.jsonHasSerializeTypeCurrentRPC = jsonHasSerializeTypeCurrentRPC
        return cmd
    }

    /// The extFields of this command, read again from `frame` (the frame this head was decoded from):
    /// exactly `RemotingFrame.decode(frame).extFields`.
    public func extFields(in frame: ByteBuffer) throws -> ExtFields? {
        guard hasExtFields else { return nil }
        return try RemotingFrame.decode(frame).extFields
    }

    /// The full `RemotingCommand`, as `RemotingFrame.decode(frame)` returns it.
    public func command(in frame: ByteBuffer) throws -> RemotingCommand {
        try RemotingFrame.decode(frame)
    }
}

extension RemotingFrame {
    /// The fast path: decodes one complete frame to its head and typed header, building no `ExtFields`.
    ///
    /// Frame and header validation is the one of `decode` (same errors). The typed header is that of
    /// `TypedHeader.decodeRequest(code:extFields:)` for a request or oneway command, and of
    /// `TypedHeader.decodeResponse(requestCode:responseCode:extFields:)` for a response when `requestCode`
    /// (the code of the request it answers) is given; nil for a response without `requestCode`. Results and
    /// errors are exactly those of `decode` followed by those calls. Strings are built only for String
    /// fields (short ones are small Strings, no allocation) and for keys the header does not declare.
    public static func decodeTyped(_ frame: ByteBuffer, requestCode: Int32? = nil,
                                   context: String = "frame") throws -> (head: RemotingCommandHead, header: TypedHeader?) {
        try decodeTyped(frame, context: context, requestCodeFor: { _ in requestCode })
    }

    /// As `decodeTyped(_:requestCode:context:)`, with the request code of a response chosen once the head is
    /// known (a decoder pairs the response by its opaque first); the header fields are scanned once.
    public static func decodeTyped(_ frame: ByteBuffer, context: String = "frame",
                                   requestCodeFor: (RemotingCommandHead) -> Int32?) throws -> (head: RemotingCommandHead, header: TypedHeader?) {
        let (type, headerLength, total) = try checkedPrefix(frame, context: context)
        let base = frame.readerIndex
        // Entries go to 1 KiB of stack; a header with more than 32 entries is decoded again with room for all
        // (every entry takes at least 5 header bytes: JSON `"":0,`, binary 6 length bytes).
        // `requestCodeFor` is called at most once: an overflowing pass returns before it.
        var result = try decodeTyped(frame, type: type, headerLength: headerLength, requestCodeFor: requestCodeFor,
                                     context: context, capacity: 32)
        if result == nil {
            result = try decodeTyped(frame, type: type, headerLength: headerLength, requestCodeFor: requestCodeFor,
                                     context: context, capacity: headerLength / 4 + 2)
        }
        guard var result else {
            throw RemotingDecodingError(context, .other("extFields entries exceed their bound"))
        }
        result.head.headerRange = 8..<(8 + headerLength)
        let bodyLength = total - 8 - headerLength
        if bodyLength > 0 {
            result.head.body = frame.getSlice(at: base + 8 + headerLength, length: bodyLength)
        }
        return result
    }

    /// nil when the header has more than `capacity` extFields entries.
    private static func decodeTyped(_ frame: ByteBuffer, type: SerializeType, headerLength: Int,
                                    requestCodeFor: (RemotingCommandHead) -> Int32?,
                                    context: String, capacity: Int) throws -> (head: RemotingCommandHead, header: TypedHeader?)? {
        try frame.withUnsafeReadableBytes { raw in
            let bytes = UnsafeRawBufferPointer(rebasing: raw[8..<(8 + headerLength)])
            return try withUnsafeTemporaryAllocation(of: RawExtField.self, capacity: capacity) { storage in
              try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: RawFieldReader.tableSize) { tableStorage in
                var collector = RawFieldCollector(storage: storage)
                let head: RemotingCommandHead
                switch type {
                case .json:
                    head = try JSONHeaderCodec.scan(bytes, errorContext: ErrorContext(context, .suffix(": JSON header")),
                                                    visitor: &collector)
                case .rocketmq:
                    head = try BinaryHeaderCodec.scan(bytes, errorContext: ErrorContext(context, .suffix(": ROCKETMQ header")),
                                                      visitor: &collector)
                }
                if collector.overflowed { return nil }
                let fields = UnsafeMutableBufferPointer(rebasing: storage[0..<collector.count])
                let table = RawFieldReader.buildTable(fields, tableStorage)
                let make = { (name: String) in RawFieldReader(bytes: bytes, fields: fields, header: name, table: table) }
                let header: TypedHeader?
                if !head.isResponse {
                    header = try TypedHeader.decodeRequest(code: head.code, reader: make)
                } else if let requestCode = requestCodeFor(head) {
                    header = try TypedHeader.decodeResponse(requestCode: requestCode, responseCode: head.code,
                                                            present: head.hasExtFields, reader: make)
                } else {
                    header = nil
                }
                return (head, header)
              }
            }
        }
    }
}
