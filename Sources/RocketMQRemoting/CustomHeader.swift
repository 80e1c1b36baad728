/// Typed custom headers: the fields a command carries in extFields (PROTOCOL.md 2.3 and section 5).
///
/// Every header is declared once, in the table of `scripts/gen-headers.py`, which generates its struct,
/// decoder, encoder, display fields and consume-flow keys (Generated/Headers.generated.swift).
///
/// Decoding follows the Java receiver: required (`@CFNotNull`) fields must be present, numbers are parsed as
/// Java parses them (`Integer.parseInt`, `Long.parseLong`), booleans as `Boolean.parseBoolean`. Keys a header
/// does not declare (`bname`, `ns`, ACL keys, broker-added keys) are kept in `extra`. Encoding writes the
/// fields in Java HashMap iteration order, so the map matches what the Java code produces.
public protocol CustomHeader: Sendable, Hashable, ConsumeFlowKeys {
    /// The Java class name, used in error messages.
    static var javaName: String { get }
    init(extFields: ExtFields) throws
    /// Decodes from the lazy fields of a command, in one pass over the wire keys.
    init(fields: borrowing ExtFieldsView) throws
    /// The declared fields in declaration order, non-null only (before HashMap ordering).
    var declaredFields: [(key: String, value: String)] { get }
    /// The extFields Java would send for this header: declared fields in HashMap order, then the extras.
    var extFields: ExtFields { get }
    /// Named fields for display: declared fields with flag bits and properties spelled out.
    var displayFields: [(key: String, value: String)] { get }
    /// Keys present on the wire that this header does not declare.
    var extra: ExtFields { get set }
}

extension CustomHeader {
    /// For a conforming type written by hand: decodes from the map the view builds.
    public init(fields: borrowing ExtFieldsView) throws { try self.init(extFields: fields.extFields) }
    /// For a conforming type written by hand: the declared fields sorted into Java HashMap order at each call.
    public var extFields: ExtFields {
        var e = ExtFields(JavaHashMapOrder.ordered(declaredFields))
        for x in extra.entries { e.append(x.key, x.value) }
        return e
    }
    public var displayFields: [(key: String, value: String)] { declaredFields }
}

/// The keys the consume-flow analysis follows, for any header that has them (nil otherwise): the topic, the
/// consumer group, the producer group, the queue id and the client id a header names.
public protocol ConsumeFlowKeys {
    var flowTopic: String? { get }
    var flowConsumerGroup: String? { get }
    var flowProducerGroup: String? { get }
    var flowQueueId: Int32? { get }
    var flowClientID: String? { get }
}

extension ConsumeFlowKeys {
    public var flowTopic: String? { nil }
    public var flowConsumerGroup: String? { nil }
    public var flowProducerGroup: String? { nil }
    public var flowQueueId: Int32? { nil }
    public var flowClientID: String? { nil }
}

/// The Java receiver's parsing of one field value (used by the generated decoders).
enum HeaderValue {
    @inline(__always)
    static func int32(_ f: RawExtField, _ bytes: UnsafeRawBufferPointer, key: @autoclosure () -> String,
                      header: @autoclosure () -> String) throws -> Int32 {
        try integer(f, bytes, Int32.self, key: key, header: header, expected: "an Integer")
    }

    @inline(__always)
    static func int64(_ f: RawExtField, _ bytes: UnsafeRawBufferPointer, key: @autoclosure () -> String,
                      header: @autoclosure () -> String) throws -> Int64 {
        try integer(f, bytes, Int64.self, key: key, header: header, expected: "a Long")
    }

    @inline(__always)
    static func integer<T: FixedWidthInteger & SignedInteger>(_ f: RawExtField, _ bytes: UnsafeRawBufferPointer, _: T.Type,
                                                              key: () -> String, header: () -> String,
                                                              expected: StaticString) throws -> T {
        if let raw = f.directValue(in: bytes) {
            if let v = HeaderFieldReader.parseDecimal(bytes: raw, as: T.self) { return v }
        } else if let v = HeaderFieldReader.parseDecimal(f.valueString(in: bytes), as: T.self) {
            return v
        }
        throw invalid(key(), f.valueString(in: bytes), "\(expected)", header: header())
    }

    /// A value of one to eight plain digits, from the eight header bytes that end with it (read at once; the
    /// bytes before it are part of the header too: its length and key). nil for anything else, which the
    /// generated decoders then read with `int32`/`int64` (the byte loop, which decides and gives the errors).
    @inline(__always)
    static func quickDigits(_ f: RawExtField, _ bytes: UnsafeRawBufferPointer) -> UInt64? {
        let n = Int(f.valueCount), end = Int(f.valueStart) &+ n
        guard n &- 1 < 8 && end >= 8 && (f.valueKind == .ascii || f.valueKind == .scalar) else { return nil }
        return digits(UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: end &- 8, as: UInt64.self)), count: n)
    }
    @inline(__always)
    static func quickInt32(_ f: RawExtField, _ bytes: UnsafeRawBufferPointer) -> Int32? {
        quickDigits(f, bytes).map { Int32(truncatingIfNeeded: $0) }
    }
    /// `quickDigits`, and values of nine to sixteen plain digits (a millisecond timestamp such as a
    /// subscription's version, a large offset) from two eight-byte reads: the last eight digits, then the ones
    /// before them. Sixteen digits stay below `Int64.max`; longer values go to the byte loop.
    @inline(__always)
    static func quickInt64(_ f: RawExtField, _ bytes: UnsafeRawBufferPointer) -> Int64? {
        let n = Int(f.valueCount)
        if n &- 1 < 8 { return quickDigits(f, bytes).map { Int64(truncatingIfNeeded: $0) } }
        let end = Int(f.valueStart) &+ n
        guard n <= 16 && end >= 16 && (f.valueKind == .ascii || f.valueKind == .scalar),
              let low = digits(UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: end &- 8, as: UInt64.self)), count: 8),
              let high = digits(UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: end &- 16, as: UInt64.self)), count: n &- 8)
        else { return nil }
        return Int64(truncatingIfNeeded: high &* 100_000_000 &+ low)
    }

    /// The value of the last `count` (1...8) of eight bytes (loaded little-endian: the text's last byte
    /// highest) when they are all ASCII digits, nil otherwise. The bytes before them become '0's; the digits are
    /// then combined in three multiplications (Lemire's eight-digit parse), with no chain of one step per digit.
    @inline(__always)
    static func digits(_ word: UInt64, count: Int) -> UInt64? {
        let shift = UInt64(truncatingIfNeeded: 8 &- count) &* 8
        let low: UInt64 = (1 &<< shift) &- 1
        var x = word & ~low | 0x3030_3030_3030_3030 & low
        // Every byte 0x30...0x39: its high nibble is 3, and adding 6 keeps it 3 (no byte can carry: each is < 0x40).
        guard x & 0xF0F0_F0F0_F0F0_F0F0 == 0x3030_3030_3030_3030,
              (x &+ 0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0 == 0x3030_3030_3030_3030 else { return nil }
        x &-= 0x3030_3030_3030_3030
        x = x &* 10 &+ (x &>> 8)
        x = ((x & 0x0000_00FF_0000_00FF) &* 0x000F_4240_0000_0064
            &+ ((x &>> 16) & 0x0000_00FF_0000_00FF) &* 0x0000_2710_0000_0001) &>> 32
        return x
    }

    /// `Boolean.parseBoolean`: "true" in any case is true, anything else false.
    @inline(__always)
    static func bool(_ f: RawExtField, _ bytes: UnsafeRawBufferPointer) -> Bool {
        if f.valueKind == .ascii || f.valueKind == .scalar {
            let v = f.valueBytes(in: bytes)
            return v.count == 4 && v[0] | 0x20 == UInt8(ascii: "t") && v[1] | 0x20 == UInt8(ascii: "r")
                && v[2] | 0x20 == UInt8(ascii: "u") && v[3] | 0x20 == UInt8(ascii: "e")
        }
        return f.valueString(in: bytes).lowercased() == "true"
    }

    @inline(never)
    static func missing(_ key: String, header: String) -> RemotingDecodingError {
        RemotingDecodingError(header, .missingField(field: key))
    }

    @inline(never)
    static func invalid(_ key: String, _ value: String, _ expected: String, header: String) -> RemotingDecodingError {
        RemotingDecodingError(header, .invalidField(field: key, value: value, expected: expected))
    }
}

extension UnsafeRawBufferPointer {
    /// Little-endian loads for the generated key switches.
    @inline(__always) func le64(_ offset: Int) -> UInt64 {
        UInt64(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
    @inline(__always) func le32(_ offset: Int) -> UInt32 {
        UInt32(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }
    @inline(__always) func le16(_ offset: Int) -> UInt16 {
        UInt16(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }
}

/// Java `HashMap<String, String>` iteration order for a map filled by `put` in the given order (default
/// capacity 16, load factor 0.75, doubling; within a bucket, insertion order).
public enum JavaHashMapOrder {
    /// Java `String.hashCode()` over UTF-16 code units (over the UTF-8 bytes when all are ASCII: the same units).
    public static func javaHashCode(_ s: String) -> Int32 {
        let ascii = s.utf8.withContiguousStorageIfAvailable { bytes -> Int32? in
            var h: Int32 = 0
            for b in bytes {
                if b >= 0x80 { return nil }
                h = h &* 31 &+ Int32(b)
            }
            return h
        }
        if let ascii, let h = ascii { return h }
        var h: Int32 = 0
        for u in s.utf16 { h = h &* 31 &+ Int32(u) }
        return h
    }

    /// `entries` in the iteration order of a Java HashMap filled with them in this order (no resize beyond the
    /// table size their count needs; equal buckets keep insertion order). Sorted through one word per entry
    /// (bucket, then index) on the stack, not through copies of the entries.
    public static func ordered(_ entries: [(key: String, value: String)]) -> [(key: String, value: String)] {
        let n = entries.count
        if n < 2 { return entries }
        var capacity = 16
        while Double(n) > Double(capacity) * 0.75 { capacity *= 2 }
        return withUnsafeTemporaryAllocation(of: Int.self, capacity: n) { keys in
            for i in 0..<n {
                let h = UInt32(bitPattern: javaHashCode(entries[i].key))
                keys[i] = Int((h ^ (h >> 16)) & UInt32(capacity - 1)) << 32 | i
            }
            if n <= 32 {
                for i in 1..<n {
                    let k = keys[i]
                    var j = i - 1
                    while j >= 0 && keys[j] > k {
                        keys[j + 1] = keys[j]
                        j -= 1
                    }
                    keys[j + 1] = k
                }
            } else {
                var all = keys
                all.sort()
            }
            var inOrder = true
            for i in 0..<n where keys[i] & 0xFFFF_FFFF != i {
                inOrder = false
                break
            }
            if inOrder { return entries }
            var out: [(key: String, value: String)] = []
            out.reserveCapacity(n)
            for i in 0..<n { out.append(entries[keys[i] & 0xFFFF_FFFF]) }
            return out
        }
    }
}

/// Reads declared fields out of an `ExtFields` map with the Java receiver's parsing rules (key by key; the
/// generated headers decode in one pass instead, and give the same results).
public struct HeaderFieldReader {
    public let fields: ExtFields
    public let header: String
    /// Entries some read asked for (by key, so every duplicate of a read key counts): bit i for entry i < 64,
    /// and a flag array only for the rare map with more entries.
    private var usedLow: UInt64 = 0
    private var usedHigh: [Bool] = []
    /// Bit i: the key of entry i (i < 64) is ASCII. Two ASCII keys can only be equal with equal byte counts;
    /// other keys go through String == (canonical equivalence), as a Set<String> lookup would.
    private let asciiKeys: UInt64

    public init(_ fields: ExtFields, header: String) {
        self.fields = fields
        self.header = header
        var mask: UInt64 = 0
        for (i, e) in fields.entries.prefix(64).enumerated() where Self.isASCII(e.key) { mask |= 1 << UInt64(i) }
        asciiKeys = mask
    }

    private static func isASCII(_ s: String) -> Bool {
        let fast = s.utf8.withContiguousStorageIfAvailable { bytes -> Bool in
            var high: UInt8 = 0
            for b in bytes { high |= b }
            return high < 0x80
        }
        return fast ?? s.utf8.allSatisfy { $0 < 0x80 }
    }

    private mutating func markUsed(_ i: Int) {
        if i < 64 {
            usedLow |= 1 << UInt64(i)
        } else {
            if usedHigh.isEmpty { usedHigh = Array(repeating: false, count: fields.entries.count - 64) }
            usedHigh[i - 64] = true
        }
    }
    private func isUsed(_ i: Int) -> Bool {
        i < 64 ? usedLow & (1 << UInt64(i)) != 0 : (!usedHigh.isEmpty && usedHigh[i - 64])
    }

    private func missing(_ key: String) -> RemotingDecodingError {
        RemotingDecodingError(header, .missingField(field: key))
    }
    private func invalid(_ key: String, _ value: String, _ expected: String) -> RemotingDecodingError {
        RemotingDecodingError(header, .invalidField(field: key, value: value, expected: expected))
    }

    public mutating func string(_ key: String) throws -> String {
        guard let v = optString(key) else { throw missing(key) }
        return v
    }
    /// The value of `key` (the last one when the key is duplicated, as `ExtFields` and Java do).
    public mutating func optString(_ key: String) -> String? {
        var value: String? = nil
        let entries = fields.entries
        let count = key.utf8.count
        // Entries whose count alone rules them out: ASCII keys of another length, when `key` is ASCII too.
        let skippable = Self.isASCII(key) ? asciiKeys : 0
        for i in entries.indices {
            if i < 64, skippable & (1 << UInt64(i)) != 0, entries[i].key.utf8.count != count { continue }
            if entries[i].key == key {
                markUsed(i)
                value = entries[i].value
            }
        }
        return value
    }
    public mutating func int32(_ key: String) throws -> Int32 {
        guard let v = try optInt32(key) else { throw missing(key) }
        return v
    }
    public mutating func optInt32(_ key: String) throws -> Int32? {
        guard let s = optString(key) else { return nil }
        guard let v = Self.parseDecimal(s, as: Int32.self) else { throw invalid(key, s, "an Integer") }
        return v
    }
    public mutating func int64(_ key: String) throws -> Int64 {
        guard let v = try optInt64(key) else { throw missing(key) }
        return v
    }
    public mutating func optInt64(_ key: String) throws -> Int64? {
        guard let s = optString(key) else { return nil }
        guard let v = Self.parseDecimal(s, as: Int64.self) else { throw invalid(key, s, "a Long") }
        return v
    }
    /// `Boolean.parseBoolean`: "true" in any case is true, anything else false.
    public mutating func bool(_ key: String) throws -> Bool {
        guard let v = optBool(key) else { throw missing(key) }
        return v
    }
    public mutating func optBool(_ key: String) -> Bool? {
        guard let s = optString(key) else { return nil }
        return s.lowercased() == "true"
    }
    /// `T(s)` (radix 10) over the UTF-8 bytes: an optional `+` or `-`, then one or more ASCII digits, nil on
    /// anything else or on overflow. Negative values accumulate downwards so that `T.min` parses.
    static func parseDecimal<T: FixedWidthInteger & SignedInteger>(_ s: String, as: T.Type) -> T? {
        var s = s
        return s.withUTF8 { parseDecimal(bytes: UnsafeRawBufferPointer($0), as: T.self) }
    }

    /// `parseDecimal` over UTF-8 bytes.
    @inline(__always)
    static func parseDecimal<T: FixedWidthInteger & SignedInteger>(bytes: UnsafeRawBufferPointer, as: T.Type) -> T? {
        // Fast path: unsigned digits too few to overflow (9 for Int32, 18 for Int64), no overflow checks.
        let n = bytes.count
        if n > 0 && n <= (T.bitWidth >= 64 ? 18 : 9) {
            var v: T = 0
            var i = 0
            while i < n {
                let d = bytes[i] &- 0x30
                if d >= 10 { break }
                v = v &* 10 &+ T(d)
                i += 1
            }
            if i == n { return v }
        }
        do {
            guard var i = bytes.indices.first else { return nil }
            let negative = bytes[i] == UInt8(ascii: "-")
            if negative || bytes[i] == UInt8(ascii: "+") { i += 1 }
            guard i < bytes.count else { return nil }
            var v: T = 0
            while i < bytes.count {
                let d = bytes[i] &- 0x30
                guard d < 10 else { return nil }
                let (m, o1) = v.multipliedReportingOverflow(by: 10)
                let (r, o2) = negative ? m.subtractingReportingOverflow(T(d)) : m.addingReportingOverflow(T(d))
                guard !o1, !o2 else { return nil }
                v = r
                i += 1
            }
            return v
        }
    }

    /// Keys that no read asked for, in wire order.
    public func unused() -> ExtFields {
        var rest = ExtFields()
        for (i, e) in fields.entries.enumerated() where !isUsed(i) { rest.append(e.key, e.value) }
        return rest
    }
}

/// Builds the declared-field list, skipping nil values, with Java's `String.valueOf` formatting.
public struct HeaderFieldWriter {
    public private(set) var entries: [(key: String, value: String)] = []
    public init() {}
    public mutating func add(_ key: String, _ value: String?) {
        if let value { entries.append((key: key, value: value)) }
    }
    public mutating func add<T: BinaryInteger>(_ key: String, _ value: T?) {
        if let value { entries.append((key: key, value: String(value))) }
    }
    public mutating func add(_ key: String, _ value: Bool?) {
        if let value { entries.append((key: key, value: value ? "true" : "false")) }
    }
}
