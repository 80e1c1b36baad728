import CompressNIO
import NIOCore

/// Where the variable parts of a validated stored record are (offsets relative to the record's first byte).
struct RecordLayout: Sendable {
    var totalSize: Int32
    var magicCode: Int32
    var bodyCRC: Int32
    var queueId: Int32
    var flag: Int32
    var queueOffset: Int64
    var physicalOffset: Int64
    var sysFlag: MessageSysFlag
    var bornTimestamp: Int64
    var bornHost: MessageHost
    var storeTimestamp: Int64
    var storeHost: MessageHost
    var reconsumeTimes: Int32
    var preparedTransactionOffset: Int64
    var bodyStart: Int32
    var bodyLength: Int32
    var topicStart: Int32
    var topicLength: Int32
    var propertiesStart: Int32
    var propertiesLength: Int32
}

/// One stored-message record (PROTOCOL.md 6.1), read in place: fixed fields are read from the bytes when
/// asked, hosts are values, the body is a slice, topic and properties become Strings only when asked, and the
/// CRC is checked over the bytes where they are. `decoded()` builds the eager `StoredMessage`.
public struct StoredMessageView: Sendable {
    /// The record's bytes (a slice of the body).
    public let bytes: ByteBuffer
    /// The record's position in the body: index and byte offset.
    public let index: Int
    public let offsetInBody: Int
    let layout: RecordLayout

    // The fixed fields, read from the record's bytes by the validating scan.
    public var totalSize: Int32 { layout.totalSize }
    public var magicCode: Int32 { layout.magicCode }
    public var bodyCRC: Int32 { layout.bodyCRC }
    public var queueId: Int32 { layout.queueId }
    public var flag: Int32 { layout.flag }
    public var queueOffset: Int64 { layout.queueOffset }
    public var physicalOffset: Int64 { layout.physicalOffset }
    public var sysFlag: MessageSysFlag { layout.sysFlag }
    public var bornTimestamp: Int64 { layout.bornTimestamp }
    public var bornHost: MessageHost { layout.bornHost }
    public var storeTimestamp: Int64 { layout.storeTimestamp }
    public var storeHost: MessageHost { layout.storeHost }
    public var reconsumeTimes: Int32 { layout.reconsumeTimes }
    public var preparedTransactionOffset: Int64 { layout.preparedTransactionOffset }

    /// The body as stored (possibly compressed): a slice of the record.
    public var storedBody: ByteBuffer {
        bytes.getSlice(at: bytes.readerIndex + Int(layout.bodyStart), length: Int(layout.bodyLength)) ?? ByteBuffer()
    }
    public var storedBodyLength: Int { Int(layout.bodyLength) }

    /// Calls `body` with the topic's UTF-8 bytes (validated), building no String.
    public func withTopicUTF8<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try bytes.withUnsafeReadableBytes { raw in
            try body(UnsafeRawBufferPointer(rebasing: raw[Int(layout.topicStart)..<Int(layout.topicStart + layout.topicLength)]))
        }
    }
    public var topic: String { withTopicUTF8 { String(decoding: $0, as: UTF8.self) } }
    /// The topic, as `known` itself when its bytes are the same (the records of one pull share a topic: one
    /// String for all of them instead of one each, when the name is too long to be stored inline).
    public func topic(reusing known: String?) -> String {
        guard var known else { return topic }
        return withTopicUTF8 { raw in
            known.withUTF8 { raw.elementsEqual($0) } ? known : String(decoding: raw, as: UTF8.self)
        }
    }

    /// Calls `body` with the raw properties text (validated UTF-8).
    public func withPropertiesUTF8<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try bytes.withUnsafeReadableBytes { raw in
            try body(UnsafeRawBufferPointer(rebasing: raw[Int(layout.propertiesStart)..<Int(layout.propertiesStart + layout.propertiesLength)]))
        }
    }
    public var propertiesText: String { withPropertiesUTF8 { String(decoding: $0, as: UTF8.self) } }
    /// The properties, parsed (Java's `string2messageProperties`).
    public var properties: [(key: String, value: String)] { MessageProperties.parse(propertiesText) }

    /// One property (the last of duplicates), found in the text without parsing the others
    /// (`MessageProperties.value(of:inUTF8:)`).
    public func property(_ name: String) -> String? { withPropertiesUTF8 { MessageProperties.value(of: name, inUTF8: $0) } }

    public var tags: String? { property("TAGS") }
    public var keys: String? { property("KEYS") }
    public var uniqKey: String? { property("UNIQ_KEY") }

    /// offsetMsgId: store host address + port + physical offset, uppercase hex (6.2).
    public var offsetMsgId: String { MessageId.make(host: storeHost, physicalOffset: physicalOffset) }
    /// What the Java consumer calls msgId: UNIQ_KEY when present, else the offsetMsgId.
    public var msgId: String { uniqKey ?? offsetMsgId }

    /// Whether BODYCRC matches the stored body, computed over the record's bytes in place.
    public var crcMatches: Bool {
        bytes.withUnsafeReadableBytes { raw in
            let body = UnsafeRawBufferPointer(rebasing: raw[Int(layout.bodyStart)..<Int(layout.bodyStart + layout.bodyLength)])
            return Int32(bitPattern: CRC32.checksum(body) & 0x7FFF_FFFF) == bodyCRC
        }
    }

    /// The eager record: body copied (and a zlib body inflated within `maxInflatedBodySize`), topic and
    /// properties as Strings, the CRC checked.
    public func decoded(maxInflatedBodySize: Int = StoredMessageDecoder.defaultMaxInflatedBodySize,
                        context: String = "pull body") throws -> StoredMessage {
        try decoded(maxInflatedBodySize: maxInflatedBodySize, context: context, topicOfPrevious: nil)
    }

    /// `decoded()`, the topic shared with the previous record's (`topicOfPrevious`) when it is the same.
    func decoded(maxInflatedBodySize: Int, context: String, topicOfPrevious: String?) throws -> StoredMessage {
        var m = storedMessage(topicOfPrevious: topicOfPrevious)
        if sysFlag.contains(.compressed), sysFlag.compression == .zlib {
            var buf = ByteBuffer(bytes: m.storedBody)
            do {
                var out = try buf.decompress(with: .zlib(), maxSize: maxInflatedBodySize)
                m.body = .bytes(out.readBytes(length: out.readableBytes) ?? [])
            } catch {
                throw RemotingDecodingError(context, .decompression("record \(index): zlib body of \(m.storedBody.count) bytes: \(error)"),
                                            offset: offsetInBody)
            }
        }
        return m
    }

    /// The record as a `StoredMessage` without inflating its body: a compressed body (zlib too) is
    /// `.compressed`. Never fails: the scan validated the record.
    public func storedMessage(topicOfPrevious: String? = nil) -> StoredMessage {
        let stored = bytes.getBytes(at: bytes.readerIndex + Int(layout.bodyStart), length: Int(layout.bodyLength)) ?? []
        let sysFlag = self.sysFlag
        let body = sysFlag.contains(.compressed) ? MessageBody.compressed(sysFlag.compression, storedLength: stored.count) : .bytes(stored)
        return StoredMessage(
            totalSize: totalSize, magicCode: magicCode, bodyCRC: bodyCRC, queueId: queueId, flag: flag, queueOffset: queueOffset,
            physicalOffset: physicalOffset, sysFlag: sysFlag, bornTimestamp: bornTimestamp, bornHost: bornHost,
            storeTimestamp: storeTimestamp, storeHost: storeHost, reconsumeTimes: reconsumeTimes,
            preparedTransactionOffset: preparedTransactionOffset, storedBody: stored, body: body, topic: topic(reusing: topicOfPrevious),
            propertiesText: propertiesText, crcMatches: crcMatches)
    }
}

/// The records of a pull (or query/view/pop) body as views, in order. `next()` validates each record as the
/// eager decoder does (same errors) and throws at the first bad one; the records before it were returned.
///
///     var records = StoredMessageDecoder.records(body)
///     while let r = try records.next() { … r.queueOffset, r.tags … }
public struct StoredMessageRecords: Sendable {
    public let body: ByteBuffer
    public let context: String
    /// Byte offset of the next record within the body.
    public private(set) var offset = 0
    /// Index of the next record.
    public private(set) var index = 0

    public init(_ body: ByteBuffer, context: String = "pull body") {
        self.body = body
        self.context = context
    }

    public mutating func next() throws -> StoredMessageView? {
        let remaining = body.readableBytes - offset
        guard remaining > 0 else { return nil }
        let at = offset, i = index
        let layout = try body.withUnsafeReadableBytes { raw in
            try StoredMessageDecoder.scanOne(UnsafeRawBufferPointer(rebasing: raw[at...]), index: i, context: context, baseOffset: at)
        }
        let size = Int(layout.totalSize)
        let record = body.getSlice(at: body.readerIndex + at, length: size) ?? ByteBuffer()
        offset += size
        index += 1
        return StoredMessageView(bytes: record, index: i, offsetInBody: at, layout: layout)
    }

    /// Every record, eagerly; on a bad record the views before it and the error.
    public static func all(_ body: ByteBuffer, context: String = "pull body") -> (records: [StoredMessageView], error: RemotingDecodingError?) {
        var it = StoredMessageRecords(body, context: context)
        var out: [StoredMessageView] = []
        do {
            while let r = try it.next() { out.append(r) }
            return (out, nil)
        } catch let e as RemotingDecodingError {
            return (out, e)
        } catch {
            return (out, RemotingDecodingError(context, .other("\(error)")))
        }
    }
}
