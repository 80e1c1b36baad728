import NIOCore

/// Frame layout (PROTOCOL.md 1.2): i32 L = bytes after this field; i32 W = serialize type << 24 | header
/// length H; H header bytes; L - 4 - H body bytes.
public enum RemotingFrame {
    /// Java's default `com.rocketmq.remoting.frameMaxLength`: 16 MiB including the 4-byte length field.
    public static let defaultMaxFrameLength = 16 * 1024 * 1024

    /// The checks Java applies to the first 8 bytes of a frame, without touching the rest. Returns the total
    /// frame size (L + 4) when the words are plausible.
    public static func validatePrefix(length: Int32, headerWord: UInt32?, maxFrameLength: Int = defaultMaxFrameLength,
                                      context: String = "frame") throws -> Int {
        if length < 4 { throw RemotingDecodingError(context, .frameLengthInvalid(length), offset: 0) }
        let total = Int64(length) + 4
        if total > Int64(maxFrameLength) {
            throw RemotingDecodingError(context, .frameTooLarge(totalLength: total, maximum: maxFrameLength), offset: 0)
        }
        if let w = headerWord {
            let type = UInt8(w >> 24)
            let h = Int(w & 0x00FF_FFFF)
            if type > 1 { throw RemotingDecodingError(context, .unknownSerializeType(type), offset: 4) }
            if h > Int(length) - 4 {
                throw RemotingDecodingError(context, .headerLengthBeyondFrame(headerLength: h, frameLength: Int(length)), offset: 4)
            }
        }
        return Int(total)
    }

    /// Decodes one complete frame (length field included): the whole header is validated (the same checks and
    /// errors whatever is read later), its extFields entries are kept as byte ranges of a slice of `frame`
    /// (`RemotingCommand.fields`), and the body is a slice of `frame`. Nothing is copied; the only allocations
    /// are the entry list and the remark text when it is longer than a small string.
    public static func decode(_ frame: ByteBuffer, context: String = "frame") throws -> RemotingCommand {
        let base = frame.readerIndex
        let (head, entries, type, headerLength, total) = try frame.withUnsafeReadableBytes {
            raw -> (ScannedHead, [RawExtField], SerializeType, Int, Int) in
            // The prefix checks of `checkedPrefix`, on the bytes already in hand (it gives the errors).
            guard raw.count >= 8 else {
                _ = try checkedPrefix(frame, context: context)
                throw RemotingDecodingError(context, .truncated(field: "frame", needed: 8, available: raw.count), offset: 0)
            }
            let length = Int32(bitPattern: UInt32(bigEndian: raw.loadUnaligned(as: UInt32.self)))
            let word = UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
            let total = try validatePrefix(length: length, headerWord: word, maxFrameLength: Int.max, context: context)
            guard raw.count >= total else {
                throw RemotingDecodingError(context, .truncated(field: "frame", needed: total, available: raw.count), offset: 0)
            }
            let type: SerializeType = word >> 24 == 1 ? .rocketmq : .json
            let headerLength = Int(word & 0x00FF_FFFF)
            let bytes = UnsafeRawBufferPointer(rebasing: raw[8..<(8 + headerLength)])
            var list = RawFieldList()
            let head: ScannedHead
            switch type {
            case .json:
                head = try JSONHeaderCodec.scan(bytes, errorContext: ErrorContext(context, .suffix(": JSON header")), visitor: &list)
            case .rocketmq:
                head = try BinaryHeaderCodec.scan(bytes, errorContext: ErrorContext(context, .suffix(": ROCKETMQ header")), visitor: &list)
            }
            return (head, list.entries, type, headerLength, total)
        }
        let fields = head.hasExtFields
            ? ExtFieldsView(bytes: frame.getSlice(at: base + 8, length: headerLength) ?? ByteBuffer(), entries: entries)
            : nil
        let bodyLength = total - 8 - headerLength
        let body = bodyLength > 0 ? frame.getSlice(at: base + 8 + headerLength, length: bodyLength) : nil
        return RemotingCommand.decoded(head: head, fields: fields, body: body, serializeType: type)
    }

    /// Decodes one frame and its typed header: `decode` followed by `RemotingCommand.typedHeader(requestCode:)`
    /// (the request header for a request or oneway command, the answer's header for a response when
    /// `requestCode`, the code of the request it answers, is given).
    public static func decodeTyped(_ frame: ByteBuffer, requestCode: Int32? = nil,
                                   context: String = "frame") throws -> (head: RemotingCommand, header: TypedHeader?) {
        let cmd = try decode(frame, context: context)
        let header = try cmd.typedHeader(requestCode: requestCode)
        return (cmd, header)
    }

    /// As `decodeTyped(_:requestCode:context:)`, with the request code of a response chosen once the command is
    /// known (a decoder pairs the response by its opaque first). `requestCodeFor` is called once, for
    /// responses only, and only when the frame itself decoded.
    ///
    /// With `ownRequestText`, a request's typed header holds its String fields as Strings of their own rather
    /// than as spans of `frame` until read: for a caller that keeps requests until they are answered while
    /// `frame` is a slice of a large buffer (a mapped capture window, a reassembly buffer), which the spans
    /// would keep alive.
    public static func decodeTyped(_ frame: ByteBuffer, context: String = "frame", ownRequestText: Bool = false,
                                   requestCodeFor: (RemotingCommand) -> Int32?) throws -> (head: RemotingCommand, header: TypedHeader?) {
        let cmd = try decode(frame, context: context)
        // The header first, then the command moved into the result (returned beside its own header, it was copied).
        let header = cmd.isResponse ? try cmd.typedHeader(requestCode: requestCodeFor(cmd))
            : try cmd.typedHeader(ownRequestText: ownRequestText)
        return (cmd, header)
    }

    /// The prefix checks of `decode`: serialize type, header length H and total frame size.
    static func checkedPrefix(_ frame: ByteBuffer, context: String) throws -> (SerializeType, Int, Int) {
        let base = frame.readerIndex
        guard let length = frame.getInteger(at: base, as: Int32.self) else {
            throw RemotingDecodingError(context, .truncated(field: "frame length", needed: 4, available: frame.readableBytes), offset: 0)
        }
        guard let word = frame.getInteger(at: base + 4, as: UInt32.self) else {
            _ = try validatePrefix(length: length, headerWord: nil, context: context)
            throw RemotingDecodingError(context, .truncated(field: "header length", needed: 8, available: frame.readableBytes), offset: 4)
        }
        let total = try validatePrefix(length: length, headerWord: word, maxFrameLength: Int.max, context: context)
        guard frame.readableBytes >= total else {
            throw RemotingDecodingError(context, .truncated(field: "frame", needed: total, available: frame.readableBytes), offset: 0)
        }
        let type = SerializeType(rawValue: UInt8(word >> 24)) ?? .json
        let headerLength = Int(word & 0x00FF_FFFF)
        return (type, headerLength, total)
    }

    /// Decodes one frame given as bytes.
    public static func decode(bytes: [UInt8], context: String = "frame") throws -> RemotingCommand {
        var buf = ByteBuffer()
        buf.writeBytes(bytes)
        return try decode(buf, context: context)
    }

    /// Encodes `command` as Java does: the JSON header with sorted top-level keys, or the binary layout of
    /// PROTOCOL.md section 3 (extFields in their stored order).
    public static func encode(_ command: RemotingCommand, into out: inout ByteBuffer) {
        let start = out.writerIndex
        out.writeInteger(Int32(0))
        out.writeInteger(UInt32(0))
        let headerStart = out.writerIndex
        switch command.serializeType {
        case .json: JSONHeaderCodec.encode(command, into: &out)
        case .rocketmq: BinaryHeaderCodec.encode(command, into: &out)
        }
        let headerLength = out.writerIndex - headerStart
        if var body = command.body { out.writeBuffer(&body) }
        let length = out.writerIndex - start - 4
        out.setInteger(Int32(truncatingIfNeeded: length), at: start)
        out.setInteger(UInt32(command.serializeType.rawValue) << 24 | (UInt32(truncatingIfNeeded: headerLength) & 0x00FF_FFFF), at: start + 4)
    }

    public static func encode(_ command: RemotingCommand) -> ByteBuffer {
        var out = ByteBuffer()
        out.reserveCapacity(256 + command.bodyLength)
        encode(command, into: &out)
        return out
    }
}

/// An incremental frame decoder for a channel or for a reassembled byte stream. It enforces the maximum
/// frame size before buffering a frame, so a hostile length field never makes it allocate.
public struct RemotingFrameDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = RemotingCommand

    public let maxFrameLength: Int
    /// Bytes of the stream consumed so far: names the offset of a bad frame in errors.
    public private(set) var streamOffset: Int = 0
    public private(set) var framesDecoded: Int = 0

    public init(maxFrameLength: Int = RemotingFrame.defaultMaxFrameLength) {
        self.maxFrameLength = maxFrameLength
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> RemotingCommand? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: Int32.self) else { return nil }
        let context = "frame \(framesDecoded) at stream offset \(streamOffset)"
        let word = buffer.getInteger(at: buffer.readerIndex + 4, as: UInt32.self)
        let total = try RemotingFrame.validatePrefix(length: length, headerWord: word, maxFrameLength: maxFrameLength, context: context)
        guard buffer.readableBytes >= total, let frame = buffer.readSlice(length: total) else { return nil }
        let cmd = try RemotingFrame.decode(frame, context: context)
        streamOffset += total
        framesDecoded += 1
        return cmd
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> RemotingCommand? {
        if let cmd = try decode(buffer: &buffer) { return cmd }
        if buffer.readableBytes > 0 {
            let needed = buffer.getInteger(at: buffer.readerIndex, as: Int32.self).map { Int($0) + 4 } ?? 4
            let available = buffer.readableBytes
            buffer.moveReaderIndex(forwardBy: available)
            throw RemotingDecodingError("frame \(framesDecoded) at stream offset \(streamOffset)",
                                        .truncated(field: "frame", needed: needed, available: available), offset: 0)
        }
        return nil
    }
}

/// Writes RemotingCommands to a channel.
public struct RemotingFrameEncoder: MessageToByteEncoder {
    public typealias OutboundIn = RemotingCommand
    public init() {}
    public func encode(data: RemotingCommand, out: inout ByteBuffer) throws {
        RemotingFrame.encode(data, into: &out)
    }
}
