import CompressNIO
import NIOCore

/// Message properties text (PROTOCOL.md 6.4): `key 0x01 value 0x02 …`, with or without a final 0x02.
public enum MessageProperties {
    /// Java's `string2messageProperties`: segments shorter than 3 characters, and pairs with an empty key or
    /// value, are dropped; later duplicates replace earlier ones (kept in first-seen position).
    ///
    /// Works on the UTF-8 bytes: 0x01 and 0x02 are control characters, always a Character of their own, so
    /// splitting the bytes splits the Characters. The 3-character minimum counts Characters, as before.
    public static func parse(_ text: String) -> [(key: String, value: String)] {
        var text = text
        return text.withUTF8 { parse(utf8: $0) }
    }

    private static func parse(utf8 bytes: UnsafeBufferPointer<UInt8>) -> [(key: String, value: String)] {
        var out: [(key: String, value: String)] = []
        out.reserveCapacity(8)
        var start = 0
        while start < bytes.count {
            var end = start
            var sep = -1
            var plain = true  // ASCII without CR: one Character per byte
            while end < bytes.count, bytes[end] != 0x02 {
                let b = bytes[end]
                if b == 0x01, sep < 0 { sep = end }
                if b >= 0x80 || b == 0x0D { plain = false }
                end += 1
            }
            defer { start = end + 1 }
            // Fewer than 3 bytes is fewer than 3 Characters; otherwise count Characters unless plain.
            guard end - start >= 3, sep >= 0 else { continue }
            let segment = UnsafeBufferPointer(rebasing: bytes[start..<end])
            if !plain && String(decoding: segment, as: UTF8.self).count < 3 { continue }
            guard sep > start, sep + 1 < end else { continue }
            let key = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<sep]), as: UTF8.self)
            let value = String(decoding: UnsafeBufferPointer(rebasing: bytes[(sep + 1)..<end]), as: UTF8.self)
            if let i = out.firstIndex(where: { $0.key == key }) { out[i].value = value } else { out.append((key, value)) }
        }
        return out
    }

    /// The value `parse` gives for one key (the last of duplicates), read in place without building the other
    /// pairs: for hot paths that need one property (the broker's TAGS on each send, a pulled message's UNIQ_KEY).
    public static func value(of key: String, in text: String) -> String? {
        var text = text
        return text.withUTF8 { value(of: key, inUTF8: UnsafeRawBufferPointer($0)) }
    }

    /// `value(of:in:)` over the text's UTF-8 bytes, where they are.
    public static func value(of key: String, inUTF8 raw: UnsafeRawBufferPointer) -> String? {
        var utf8 = key
        return utf8.withUTF8 { n -> String? in
            let count = raw.count, k = n.count
            // `parse` keeps no empty key, and an empty text has no property.
            guard k > 0, count > 0, let text = raw.baseAddress?.assumingMemoryBound(to: UInt8.self), let name = n.baseAddress else {
                return nil
            }
            let all = UnsafeBufferPointer(start: text, count: count)
            // Keys that `parse` could split differently (control bytes, CR, non-ASCII) take the parse.
            for i in 0..<k where name[i] >= 0x80 || name[i] == 0x01 || name[i] == 0x02 || name[i] == 0x0D {
                return parse(utf8: all).last { $0.key == key }?.value
            }
            var found: Range<Int>? = nil
            var start = 0
            while start < count {
                var end = start
                while end < count && text[end] != 0x02 { end += 1 }
                // A match needs a non-empty value (`parse` drops empty ones); its segment is then 3 bytes or more.
                if end - start > k + 1, text[start + k] == 0x01 {
                    var same = true
                    for i in 0..<k where text[start + i] != name[i] { same = false; break }
                    if same {
                        // Non-ASCII or CR in the segment: `parse` counts its Characters; take its answer.
                        for i in start..<end where text[i] >= 0x80 || text[i] == 0x0D {
                            return parse(utf8: all).last { $0.key == key }?.value
                        }
                        found = (start + k + 1)..<end
                    }
                }
                start = end + 1
            }
            return found.map { String(decoding: UnsafeBufferPointer(rebasing: all[$0]), as: UTF8.self) }
        }
    }

    /// Java's `messageProperties2String` of 4.9.1–5.1.4: no trailing separator.
    public static func encode(_ properties: [(key: String, value: String)], trailingSeparator: Bool = false) -> String {
        // One String written in place, sized once (each message a producer sends and each record a broker stores
        // builds one).
        guard !properties.isEmpty else { return "" }
        var length = trailingSeparator ? 1 : 0
        for p in properties { length += p.key.utf8.count + p.value.utf8.count + 2 }
        length -= 1
        return String(unsafeUninitializedCapacity: length) { out in
            var at = 0
            func put(_ text: String) {
                var text = text
                text.withUTF8 { u in
                    _ = UnsafeMutableBufferPointer(rebasing: out[at..<(at + u.count)]).initialize(from: u)
                    at += u.count
                }
            }
            for (i, p) in properties.enumerated() {
                if i > 0 { out[at] = 0x02; at += 1 }
                put(p.key)
                out[at] = 0x01
                at += 1
                put(p.value)
            }
            if trailingSeparator { out[at] = 0x02; at += 1 }
            return at
        }
    }
}

/// Big-endian stores at increasing offsets of memory reserved for a whole record.
package struct RecordWriter {
    package let base: UnsafeMutableRawPointer
    package var offset = 0
    package init(base: UnsafeMutableRawPointer) { self.base = base }
    @inline(__always) package mutating func put<T: FixedWidthInteger>(_ v: T) {
        (base + offset).storeBytes(of: v.bigEndian, as: T.self)
        offset += MemoryLayout<T>.size
    }
    /// A host's address bytes (4 or 16), big-endian.
    @inline(__always) package mutating func put(_ host: MessageHost) {
        if host.isIPv6 {
            put(host.high)
            put(host.low)
        } else {
            put(UInt32(truncatingIfNeeded: host.low))
        }
    }
    @inline(__always) package mutating func put(_ bytes: UnsafeRawBufferPointer) {
        if let b = bytes.baseAddress, bytes.count > 0 { (base + offset).copyMemory(from: b, byteCount: bytes.count) }
        offset += bytes.count
    }
    /// A String's UTF-8 bytes.
    @inline(__always) package mutating func put(_ s: String) {
        if s.utf8.withContiguousStorageIfAvailable({ put(UnsafeRawBufferPointer($0)) }) == nil {
            for b in s.utf8 { put(b) }
        }
    }
    /// The low `width` hex digits of `v`, upper case, zero-padded.
    @inline(__always) package mutating func putHex(_ v: UInt64, width: Int) {
        var v = v
        var i = width - 1
        while i >= 0 {
            (base + offset).storeBytes(of: MessageId.hexDigit(UInt8(truncatingIfNeeded: v & 0xF)), toByteOffset: i, as: UInt8.self)
            v >>= 4
            i -= 1
        }
        offset += width
    }
}

/// CRC-32 (IEEE, as zlib and `java.util.zip.CRC32`).
public enum CRC32 {
    /// Slicing-by-8 tables: table k at [256 k ..< 256 (k + 1)], table 0 the classic byte table.
    static let tables: [UInt32] = {
        var t = [UInt32](repeating: 0, count: 8 * 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            t[i] = c
        }
        for k in 1..<8 {
            for i in 0..<256 {
                let prev = t[(k - 1) * 256 + i]
                t[k * 256 + i] = (prev >> 8) ^ t[Int(prev & 0xFF)]
            }
        }
        return t
    }()
    static var table: ArraySlice<UInt32> { tables[0..<256] }

    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        tables.withUnsafeBufferPointer { t in
            var i = 0
            let n = bytes.count
            while i + 8 <= n {
                let one = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt32.self)) ^ c
                let two = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: i + 4, as: UInt32.self))
                c = t[7 * 256 + Int(one & 0xFF)] ^ t[6 * 256 + Int((one >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((one >> 16) & 0xFF)] ^ t[4 * 256 + Int(one >> 24)]
                    ^ t[3 * 256 + Int(two & 0xFF)] ^ t[2 * 256 + Int((two >> 8) & 0xFF)]
                    ^ t[1 * 256 + Int((two >> 16) & 0xFF)] ^ t[Int(two >> 24)]
                i += 8
            }
            while i < n {
                c = t[Int((c ^ UInt32(bytes[i])) & 0xFF)] ^ (c >> 8)
                i += 1
            }
        }
        return c ^ 0xFFFF_FFFF
    }
    public static func checksum<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        Array(bytes).withUnsafeBytes { checksum($0) }
    }
    /// RocketMQ's BODYCRC: CRC-32 masked with 0x7FFFFFFF.
    public static func rocketmq(_ bytes: UnsafeRawBufferPointer) -> Int32 {
        Int32(bitPattern: checksum(bytes) & 0x7FFF_FFFF)
    }
    /// RocketMQ's BODYCRC of any byte collection (copied into an array first).
    public static func rocketmq<C: Collection>(_ bytes: C) -> Int32 where C.Element == UInt8 {
        Array(bytes).withUnsafeBytes { rocketmq($0) }
    }
}

/// Stored-message SYSFLAG bits (PROTOCOL.md 6.3).
public struct MessageSysFlag: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    public static let compressed = MessageSysFlag(rawValue: 0x1)
    public static let multiTags = MessageSysFlag(rawValue: 0x2)
    public static let bornHostV6 = MessageSysFlag(rawValue: 0x10)
    public static let storeHostV6 = MessageSysFlag(rawValue: 0x20)
    public static let needUnwrap = MessageSysFlag(rawValue: 0x40)
    public static let innerBatch = MessageSysFlag(rawValue: 0x80)

    public enum Transaction: String, Sendable { case none = "NOT_TYPE", prepared = "PREPARED", commit = "COMMIT", rollback = "ROLLBACK" }
    public var transaction: Transaction {
        switch rawValue & 0xC {
        case 0x4: return .prepared
        case 0x8: return .commit
        case 0xC: return .rollback
        default: return .none
        }
    }
    public enum Compression: String, Sendable { case zlib = "ZLIB", lz4 = "LZ4", zstd = "ZSTD" }
    /// The compression of a compressed body: bits 0x700, where 0 (older writers) and 3 mean zlib.
    public var compression: Compression {
        switch (rawValue & 0x700) >> 8 {
        case 1: return .lz4
        case 2: return .zstd
        default: return .zlib
        }
    }
    public var description: String {
        var parts: [String] = []
        if contains(.compressed) { parts.append("COMPRESSED(\(compression.rawValue))") }
        if contains(.multiTags) { parts.append("MULTI_TAGS") }
        if transaction != .none { parts.append("TRANSACTION_\(transaction.rawValue)") }
        if contains(.bornHostV6) { parts.append("BORNHOST_V6") }
        if contains(.storeHostV6) { parts.append("STOREHOST_V6") }
        if contains(.needUnwrap) { parts.append("NEED_UNWRAP") }
        if contains(.innerBatch) { parts.append("INNER_BATCH") }
        return parts.isEmpty ? "0" : "\(rawValue) (" + parts.joined(separator: "|") + ")"
    }
}

/// A host in a stored record: an IPv4 or IPv6 address and a port, as a plain value (no heap storage: a pulled
/// message carries two, and as arrays of address bytes they were two allocations a message).
public struct MessageHost: Hashable, Sendable, CustomStringConvertible {
    /// The address bytes, big-endian: IPv4 in the low 32 bits of `low`, IPv6 as `high` then `low`.
    public var high: UInt64
    public var low: UInt64
    public var isIPv6: Bool
    public var port: Int32

    public init(ipv4: UInt32, port: Int32) {
        high = 0
        low = UInt64(ipv4)
        isIPv6 = false
        self.port = port
    }

    public init(ipv6High: UInt64, low: UInt64, port: Int32) {
        high = ipv6High
        self.low = low
        isIPv6 = true
        self.port = port
    }

    /// From address bytes: 16 make an IPv6 address; otherwise the first four (missing ones zero) an IPv4 one.
    public init(address: [UInt8], port: Int32) {
        func word(_ bytes: ArraySlice<UInt8>) -> UInt64 { bytes.reduce(0) { $0 << 8 | UInt64($1) } }
        if address.count == 16 {
            self.init(ipv6High: word(address[0..<8]), low: word(address[8..<16]), port: port)
        } else {
            let v4 = address.prefix(4)
            self.init(ipv4: UInt32(word(v4) << (8 * UInt64(4 - v4.count))), port: port)
        }
    }

    /// The number of address bytes: 4 or 16.
    public var addressCount: Int { isIPv6 ? 16 : 4 }

    /// The address bytes (4 or 16).
    public var address: [UInt8] {
        get {
            var a: [UInt8] = []
            a.reserveCapacity(addressCount)
            forEachAddressByte { a.append($0) }
            return a
        }
        set { self = MessageHost(address: newValue, port: port) }
    }

    /// Calls `body` with each address byte, in order, without making an array.
    @inline(__always) func forEachAddressByte(_ body: (UInt8) -> Void) {
        if isIPv6 {
            for s in stride(from: 56, through: 0, by: -8) { body(UInt8(truncatingIfNeeded: high >> UInt64(s))) }
            for s in stride(from: 56, through: 0, by: -8) { body(UInt8(truncatingIfNeeded: low >> UInt64(s))) }
        } else {
            for s in stride(from: 24, through: 0, by: -8) { body(UInt8(truncatingIfNeeded: low >> UInt64(s))) }
        }
    }

    public var description: String {
        let a = address
        if !isIPv6 { return a.map { String($0) }.joined(separator: ".") + ":\(port)" }
        var groups: [String] = []
        var i = 0
        while i + 1 < a.count {
            groups.append(String(UInt16(a[i]) << 8 | UInt16(a[i + 1]), radix: 16))
            i += 2
        }
        return "[" + groups.joined(separator: ":") + "]:\(port)"
    }
}

/// The body of a stored message after decompression.
public enum MessageBody: Hashable, Sendable {
    /// Plain bytes (or zlib bytes inflated).
    case bytes([UInt8])
    /// A body compressed with an algorithm we cannot inflate here (LZ4, ZSTD), with its stored length.
    case compressed(MessageSysFlag.Compression, storedLength: Int)

    public var bytes: [UInt8]? {
        if case .bytes(let b) = self { return b }
        return nil
    }
}

/// One stored-message record (PROTOCOL.md 6.1).
public struct StoredMessage: Hashable, Sendable {
    public var totalSize: Int32
    public var magicCode: Int32
    public var bodyCRC: Int32
    public var queueId: Int32
    public var flag: Int32
    public var queueOffset: Int64
    public var physicalOffset: Int64
    public var sysFlag: MessageSysFlag
    public var bornTimestamp: Int64
    public var bornHost: MessageHost
    public var storeTimestamp: Int64
    public var storeHost: MessageHost
    public var reconsumeTimes: Int32
    public var preparedTransactionOffset: Int64
    /// The body as stored (possibly compressed).
    public var storedBody: [UInt8]
    public var body: MessageBody
    public var topic: String
    /// Raw properties text.
    public var propertiesText: String
    /// The properties parsed from `propertiesText` when asked (a record keeps only its text: a pulled message
    /// costs no array and no String per property until someone reads them); setting them writes the text.
    public var properties: [(key: String, value: String)] {
        get { MessageProperties.parse(propertiesText) }
        set { propertiesText = MessageProperties.encode(newValue) }
    }
    /// Whether BODYCRC matches the stored body.
    public var crcMatches: Bool

    public static let magicV1: Int32 = Int32(bitPattern: 0xDAA3_20A7)
    public static let magicV2: Int32 = Int32(bitPattern: 0xDAA3_20AB)

    public var property: [String: String] { Dictionary(properties.map { ($0.key, $0.value) }, uniquingKeysWith: { _, b in b }) }
    /// One property as `properties` has it (the last of duplicates), read in place
    /// (`MessageProperties.value(of:in:)`).
    public func property(_ key: String) -> String? { MessageProperties.value(of: key, in: propertiesText) }
    public var tags: String? { property("TAGS") }
    public var keys: String? { property("KEYS") }
    public var uniqKey: String? { property("UNIQ_KEY") }

    /// offsetMsgId: store host address + port + physical offset, uppercase hex (6.2).
    public var offsetMsgId: String { MessageId.make(host: storeHost, physicalOffset: physicalOffset) }
    /// What the Java consumer calls msgId: UNIQ_KEY when present, else the offsetMsgId.
    public var msgId: String { uniqKey ?? offsetMsgId }

    public static func == (a: StoredMessage, b: StoredMessage) -> Bool {
        a.totalSize == b.totalSize && a.physicalOffset == b.physicalOffset && a.queueOffset == b.queueOffset
            && a.storedBody == b.storedBody && a.topic == b.topic && a.propertiesText == b.propertiesText
            && a.bornTimestamp == b.bornTimestamp && a.storeTimestamp == b.storeTimestamp && a.bodyCRC == b.bodyCRC
            && a.bornHost == b.bornHost && a.storeHost == b.storeHost && a.sysFlag == b.sysFlag && a.flag == b.flag
            && a.queueId == b.queueId && a.reconsumeTimes == b.reconsumeTimes && a.magicCode == b.magicCode
            && a.preparedTransactionOffset == b.preparedTransactionOffset
    }
    public func hash(into h: inout Hasher) {
        h.combine(physicalOffset)
        h.combine(queueOffset)
        h.combine(storedBody)
    }
}

public enum MessageId {
    public static func make(host: MessageHost, physicalOffset: Int64) -> String {
        // Written straight into the String's storage: the broker makes one per stored message.
        String(unsafeUninitializedCapacity: length(host)) { write(host: host, physicalOffset: physicalOffset, into: $0) }
    }

    /// Appends the id's characters to `bytes` (a batch's comma-separated ids, made into one String at the end
    /// instead of one String per message).
    public static func append(host: MessageHost, physicalOffset: Int64, to bytes: inout [UInt8]) {
        let n = length(host)
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: n))
        bytes.withUnsafeMutableBufferPointer { b in
            _ = write(host: host, physicalOffset: physicalOffset, into: UnsafeMutableBufferPointer(rebasing: b[start..<start + n]))
        }
    }

    /// Characters of an id: 32 for an IPv4 host, 56 for IPv6.
    @inline(__always) public static func length(_ host: MessageHost) -> Int { (host.addressCount + 12) * 2 }

    @inline(__always)
    static func write(host: MessageHost, physicalOffset: Int64, into out: UnsafeMutableBufferPointer<UInt8>) -> Int {
        var i = 0
        func put(_ b: UInt8) {
            out[i] = hexDigit(b >> 4)
            out[i + 1] = hexDigit(b & 0xF)
            i += 2
        }
        host.forEachAddressByte { put($0) }
        let p = UInt32(bitPattern: host.port)
        for s in stride(from: 24, through: 0, by: -8) { put(UInt8(truncatingIfNeeded: p >> UInt32(s))) }
        let o = UInt64(bitPattern: physicalOffset)
        for s in stride(from: 56, through: 0, by: -8) { put(UInt8(truncatingIfNeeded: o >> UInt64(s))) }
        return i
    }

    @inline(__always) static func hexDigit(_ v: UInt8) -> UInt8 { v < 10 ? 0x30 &+ v : 0x37 &+ v }

    /// Decodes an offsetMsgId: 32 hex characters for IPv4, 56 for IPv6.
    public static func decode(_ id: String) -> (host: MessageHost, physicalOffset: Int64)? {
        guard id.count == 32 || id.count == 56, let bytes = bytesFromHex(id) else { return nil }
        let addrLen = id.count == 32 ? 4 : 16
        let addr = Array(bytes[0..<addrLen])
        var port: UInt32 = 0
        for b in bytes[addrLen..<(addrLen + 4)] { port = port << 8 | UInt32(b) }
        var off: UInt64 = 0
        for b in bytes[(addrLen + 4)...] { off = off << 8 | UInt64(b) }
        return (MessageHost(address: addr, port: Int32(bitPattern: port)), Int64(bitPattern: off))
    }

    static func hexUpper(_ bytes: [UInt8]) -> String {
        String(unsafeUninitializedCapacity: bytes.count * 2) { out in
            for (i, b) in bytes.enumerated() {
                out[2 * i] = hexDigit(b >> 4)
                out[2 * i + 1] = hexDigit(b & 0xF)
            }
            return bytes.count * 2
        }
    }

    public static func bytesFromHex(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count / 2)
        var high: UInt8? = nil
        for c in text.utf8 {
            let v: UInt8
            switch c {
            case 0x30...0x39: v = c - 0x30
            case 0x41...0x46: v = c - 0x41 + 10
            case 0x61...0x66: v = c - 0x61 + 10
            default: return nil
            }
            if let h = high { out.append(h << 4 | v); high = nil } else { high = v }
        }
        return high == nil ? out : nil
    }
}

/// The records of a pull (or query/view) body. Decoding stops at the first record that cannot be parsed;
/// the records before it are kept and `error` says which record failed and where.
public struct StoredMessageBatch: Hashable, Sendable {
    public var messages: [StoredMessage]
    public var error: RemotingDecodingError?
}

public enum StoredMessageDecoder {
    /// Default bound on one inflated body (the broker's 4 MiB message limit, times 4 for compression).
    public static let defaultMaxInflatedBodySize = 16 * 1024 * 1024

    public static func decodeAll(_ body: ByteBuffer, maxInflatedBodySize: Int = defaultMaxInflatedBodySize,
                                 context: String = "pull body") -> StoredMessageBatch {
        var messages: [StoredMessage] = []
        messages.reserveCapacity(countRecords(body).count)
        var records = StoredMessageRecords(body, context: context)
        do {
            while let view = try records.next() {
                messages.append(try view.decoded(maxInflatedBodySize: maxInflatedBodySize, context: context,
                                                 topicOfPrevious: messages.last?.topic))
            }
            return StoredMessageBatch(messages: messages, error: nil)
        } catch let e as RemotingDecodingError {
            return StoredMessageBatch(messages: messages, error: e)
        } catch {
            return StoredMessageBatch(messages: messages, error: RemotingDecodingError(
                context, .record(index: messages.count, reason: "\(error)"), offset: records.offset))
        }
    }

    public static func decodeAll(_ bytes: UnsafeRawBufferPointer, maxInflatedBodySize: Int = defaultMaxInflatedBodySize,
                                 context: String = "pull body") -> StoredMessageBatch {
        decodeAll(ByteBuffer(bytes: bytes), maxInflatedBodySize: maxInflatedBodySize, context: context)
    }

    /// The records of a body as views, read in place (see `StoredMessageRecords`).
    public static func records(_ body: ByteBuffer, context: String = "pull body") -> StoredMessageRecords {
        StoredMessageRecords(body, context: context)
    }

    /// Counts records by walking TOTALSIZE only (cheap; for summaries). Returns the count and whether the
    /// walk ended exactly at the end of the body.
    public static func countRecords(_ body: ByteBuffer) -> (count: Int, clean: Bool) {
        var offset = body.readerIndex
        let end = body.writerIndex
        var n = 0
        while offset + 4 <= end, let size = body.getInteger(at: offset, as: Int32.self), size >= 84, offset + Int(size) <= end {
            offset += Int(size)
            n += 1
        }
        return (n, offset == end)
    }

    /// Validates one record at the start of `bytes` (the rest of the body) and returns the positions of its
    /// variable parts. Every check and error of the former eager decoder, without building anything.
    static func scanOne(_ bytes: UnsafeRawBufferPointer, index: Int, context: String, baseOffset: Int) throws -> RecordLayout {
        let ctx = ErrorContext(context, .record(index: index, offset: baseOffset))
        var r = BinaryReader(bytes: bytes, errorContext: ctx)
        func fail(_ reason: String, _ at: Int? = nil) -> RemotingDecodingError {
            RemotingDecodingError(context, .record(index: index, reason: reason), offset: baseOffset + (at ?? r.index))
        }
        let totalSize = try r.readInt32("TOTALSIZE")
        if totalSize < 84 { throw fail("TOTALSIZE \(totalSize) is smaller than the 84-byte minimum", 0) }
        if Int(totalSize) > bytes.count {
            throw fail("TOTALSIZE \(totalSize) runs past the end of the body (\(bytes.count) bytes left)", 0)
        }
        // Only the record's own bytes from here on.
        r = BinaryReader(bytes: UnsafeRawBufferPointer(rebasing: bytes[0..<Int(totalSize)]), errorContext: ctx)
        r.index = 4
        let magic = try r.readInt32("MAGICCODE")
        guard magic == StoredMessage.magicV1 || magic == StoredMessage.magicV2 else {
            throw fail("unknown MAGICCODE 0x\(String(UInt32(bitPattern: magic), radix: 16))", 4)
        }
        let bodyCRC = try r.readInt32("BODYCRC")
        let queueId = try r.readInt32("QUEUEID")
        let flag = try r.readInt32("FLAG")
        let queueOffset = try r.readInt64("QUEUEOFFSET")
        let physicalOffset = try r.readInt64("PHYSICALOFFSET")
        let sysFlag = MessageSysFlag(rawValue: try r.readInt32("SYSFLAG"))
        let bornTimestamp = try r.readInt64("BORNTIMESTAMP")
        let bornV6 = sysFlag.contains(.bornHostV6), storeV6 = sysFlag.contains(.storeHostV6)
        let bornHost = try readHost(&r, v6: bornV6, "BORNHOST", "BORNHOST port")
        let storeTimestamp = try r.readInt64("STORETIMESTAMP")
        let storeHost = try readHost(&r, v6: storeV6, "STOREHOST", "STOREHOST port")
        let reconsumeTimes = try r.readInt32("RECONSUMETIMES")
        let prepared = try r.readInt64("PREPARED TRANSACTION OFFSET")
        let bodyLength = try r.readInt32("BODY length")
        if bodyLength < 0 { throw fail("negative BODY length \(bodyLength)") }
        let bodyStart = r.index
        _ = try r.readBytes(Int(bodyLength), "BODY")
        let topicLength: Int
        if magic == StoredMessage.magicV2 {
            topicLength = Int(try r.readInt16("TOPIC length"))
        } else {
            topicLength = Int(Int8(bitPattern: try r.readUInt8("TOPIC length")))
        }
        if topicLength < 0 { throw fail("negative TOPIC length \(topicLength)") }
        let topic = try r.readText(length: topicLength, field: "TOPIC")
        let propertiesLength = Int(try r.readInt16("PROPERTIES length"))
        if propertiesLength < 0 { throw fail("negative PROPERTIES length \(propertiesLength)") }
        let propertiesStart = r.index
        if propertiesLength != 0 { _ = try r.readText(length: propertiesLength, field: "PROPERTIES") }
        if r.index != Int(totalSize) {
            throw fail("TOTALSIZE \(totalSize) but the fields end at \(r.index)")
        }
        return RecordLayout(totalSize: totalSize, magicCode: magic, bodyCRC: bodyCRC, queueId: queueId, flag: flag,
                            queueOffset: queueOffset, physicalOffset: physicalOffset, sysFlag: sysFlag,
                            bornTimestamp: bornTimestamp, bornHost: bornHost, storeTimestamp: storeTimestamp,
                            storeHost: storeHost, reconsumeTimes: reconsumeTimes, preparedTransactionOffset: prepared,
                            bodyStart: Int32(bodyStart), bodyLength: bodyLength, topicStart: Int32(topic.range.lowerBound),
                            topicLength: Int32(topicLength), propertiesStart: Int32(propertiesStart),
                            propertiesLength: Int32(propertiesLength))
    }

    @inline(__always)
    private static func readHost(_ r: inout BinaryReader, v6: Bool, _ field: String, _ portField: String) throws -> MessageHost {
        if v6 {
            let a = try r.readBytes(16, field)
            let high = UInt64(bigEndian: a.loadUnaligned(as: UInt64.self))
            let low = UInt64(bigEndian: a.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            return MessageHost(ipv6High: high, low: low, port: try r.readInt32(portField))
        }
        let a = try r.readBytes(4, field)
        return MessageHost(ipv4: UInt32(bigEndian: a.loadUnaligned(as: UInt32.self)), port: try r.readInt32(portField))
    }

    /// Encodes a record as `MessageDecoder.encode` does (v1 magic unless the topic is longer than 127 bytes).
    /// BODYCRC and TOTALSIZE are computed; `storedBody` is written as is.
    public static func encode(queueId: Int32, flag: Int32 = 0, queueOffset: Int64, physicalOffset: Int64,
                              sysFlag: MessageSysFlag = [], bornTimestamp: Int64, bornHost: MessageHost, storeTimestamp: Int64,
                              storeHost: MessageHost, reconsumeTimes: Int32 = 0, preparedTransactionOffset: Int64 = 0,
                              body: [UInt8], topic: String, propertiesText: String, propertiesSuffix: String = "",
                              into out: inout ByteBuffer) {
        var propertiesText = propertiesText
        propertiesText.withUTF8 { props in
            body.withUnsafeBytes { bodyBytes in
                encode(queueId: queueId, flag: flag, queueOffset: queueOffset, physicalOffset: physicalOffset, sysFlag: sysFlag,
                       bornTimestamp: bornTimestamp, bornHost: bornHost, storeTimestamp: storeTimestamp, storeHost: storeHost,
                       reconsumeTimes: reconsumeTimes, preparedTransactionOffset: preparedTransactionOffset, body: bodyBytes,
                       topic: topic, properties: UnsafeRawBufferPointer(props), propertiesSuffix: propertiesSuffix, into: &out)
            }
        }
    }

    /// `encode` with the body and the properties text as bytes (UTF-8), from where they are: a batch's records
    /// are stored from the request's bytes, without an array and a String per message.
    public static func encode(queueId: Int32, flag: Int32 = 0, queueOffset: Int64, physicalOffset: Int64,
                              sysFlag: MessageSysFlag = [], bornTimestamp: Int64, bornHost: MessageHost, storeTimestamp: Int64,
                              storeHost: MessageHost, reconsumeTimes: Int32 = 0, preparedTransactionOffset: Int64 = 0,
                              body bodyBytes: UnsafeRawBufferPointer, topic: String, properties propsBytes: UnsafeRawBufferPointer,
                              propertiesSuffix: String = "", into out: inout ByteBuffer) {
        var sysFlag = sysFlag
        if bornHost.isIPv6 { sysFlag.insert(.bornHostV6) }
        if storeHost.isIPv6 { sysFlag.insert(.storeHostV6) }
        let topicLength = topic.utf8.count
        let v2 = topicLength > 127
        // The properties are the text then `propertiesSuffix` (a batch's own properties after each message's),
        // written one after the other instead of joined into a String first.
        let propsLength = propsBytes.count + propertiesSuffix.utf8.count
        let total = 4 + 4 + 4 + 4 + 4 + 8 + 8 + 4 + 8 + bornHost.addressCount + 4 + 8 + storeHost.addressCount + 4 + 4 + 8
            + 4 + bodyBytes.count + (v2 ? 2 : 1) + topicLength + 2 + propsLength
        // One write of the whole record into space reserved for exactly its size (a buffer left to grow by doubling
        // keeps up to twice that, and the embedded broker holds every record it stores). Written field by field,
        // each write checked capacity and uniqueness: about a sixth of the broker's time under batched sends.
        var topic = topic, propertiesSuffix = propertiesSuffix
        _ = topic.withUTF8 { topicBytes in
            propertiesSuffix.withUTF8 { suffixBytes in
                out.writeWithUnsafeMutableBytes(minimumWritableBytes: total) { raw in
                    var w = RecordWriter(base: raw.baseAddress!)
                    w.put(Int32(total))
                    w.put(v2 ? StoredMessage.magicV2 : StoredMessage.magicV1)
                    w.put(CRC32.rocketmq(bodyBytes))
                    w.put(queueId)
                    w.put(flag)
                    w.put(queueOffset)
                    w.put(physicalOffset)
                    w.put(sysFlag.rawValue)
                    w.put(bornTimestamp)
                    w.put(bornHost)
                    w.put(bornHost.port)
                    w.put(storeTimestamp)
                    w.put(storeHost)
                    w.put(storeHost.port)
                    w.put(reconsumeTimes)
                    w.put(preparedTransactionOffset)
                    w.put(Int32(bodyBytes.count))
                    w.put(bodyBytes)
                    if v2 { w.put(Int16(topicLength)) } else { w.put(UInt8(topicLength)) }
                    w.put(UnsafeRawBufferPointer(topicBytes))
                    w.put(Int16(propsLength))
                    w.put(propsBytes)
                    w.put(UnsafeRawBufferPointer(suffixBytes))
                    precondition(w.offset == total, "stored record size")
                    return total
                }
            }
        }
    }
}
