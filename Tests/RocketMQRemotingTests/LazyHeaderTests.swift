import NIOCore
import Testing
@testable import RocketMQRemoting

/// The typed headers' String fields left as spans of the frame until read, checked against the Strings they
/// replace; and their integers (up to eight digits read at once, sixteen for a Long) against the byte loop's reading.
@Suite struct LazyHeaderTests {
    static let group = "GID_order-service_payment-consumer"
    static let topic = "TOPIC_order-service_payment-events"

    static func frame(_ fields: [(String, String)], _ type: SerializeType) -> ByteBuffer {
        RemotingFrame.encode(RemotingCommand.request(code: RequestCode.pullMessage, opaque: 7, extFields: ExtFields(fields),
                                                     serializeType: type))
    }

    static func pullFields(queueOffset: String = "1284663", group: String = group, topic: String = topic,
                           subscription: String = "TagA || TagB || TagC") -> [(String, String)] {
        [("consumerGroup", group), ("topic", topic), ("queueId", "3"), ("queueOffset", queueOffset), ("maxMsgNums", "32"),
         ("sysFlag", "7"), ("commitOffset", "1284631"), ("suspendTimeoutMillis", "15000"), ("subscription", subscription),
         ("subVersion", "1718012345678"), ("expressionType", "TAG")]
    }

    @Test(arguments: [SerializeType.json, .rocketmq])
    func longTextStaysASpanUntilRead(_ type: SerializeType) throws {
        let h = try RemotingFrame.decode(Self.frame(Self.pullFields(), type)).header(PullMessageRequestHeader.self)
        guard case .span = h._consumerGroup, case .span = h._topic, case .span? = h._subscription else {
            Issue.record("long plain text was made a String at decode: \(h._consumerGroup) \(h._topic)")
            return
        }
        guard case .string("TAG")? = h._expressionType else {
            Issue.record("a small String is made at once: \(String(describing: h._expressionType))")
            return
        }
        #expect(h.consumerGroup == Self.group && h.topic == Self.topic && h.subscription == "TagA || TagB || TagC")
        // Equal to the header built in code (all Strings), with the same hash; a write replaces the span.
        let built = PullMessageRequestHeader(consumerGroup: Self.group, topic: Self.topic, queueId: 3, queueOffset: 1_284_663,
                                             sysFlag: [.commitOffset, .suspend, .subscription], commitOffset: 1_284_631,
                                             subscription: "TagA || TagB || TagC", subVersion: 1_718_012_345_678)
        #expect(h == built && h.hashValue == built.hashValue)
        var changed = h
        changed.topic = "another-topic-longer-than-fifteen"
        #expect(changed.topic == "another-topic-longer-than-fifteen" && changed.consumerGroup == Self.group && changed != h)
        #expect(h.extFields == built.extFields)
    }

    @Test(arguments: [SerializeType.json, .rocketmq])
    func textThatMustBeDecodedIsAStringAtOnce(_ type: SerializeType) throws {
        // Non-ASCII text (a span of validated UTF-8), and JSON escapes (decoded at once).
        let group = "gruppe-für-bestellungen-ünd-zahlungen"
        let topic = "quoted \"topic\" with\\backslash"
        let h = try RemotingFrame.decode(Self.frame(Self.pullFields(group: group, topic: topic), type)).header(PullMessageRequestHeader.self)
        #expect(h.consumerGroup == group && h.topic == topic)
        if type == .json, case .span = h._topic { Issue.record("an escaped JSON string kept as a span") }
    }

    @Test func headerOutlivesTheFrameBufferItCameFrom() throws {
        var header: PullMessageRequestHeader?
        do {
            var buf = Self.frame(Self.pullFields(), .rocketmq)
            header = try RemotingFrame.decode(buf).header(PullMessageRequestHeader.self)
            buf.clear()
            buf.writeRepeatingByte(0x41, count: buf.capacity)  // copy-on-write: the header's slice is not touched
        }
        #expect(header?.consumerGroup == Self.group)
    }

    /// Integers of every length, and what is not plain digits, in the middle of the header and at its very end,
    /// read as `HeaderFieldReader.parseDecimal` (Java's parseInt/parseLong rules) reads their text.
    @Test(arguments: [SerializeType.json, .rocketmq])
    func integersAgreeWithTheByteLoop(_ type: SerializeType) throws {
        var rng = SystemRandomNumberGenerator()
        var values = ["0", "7", "00000000", "99999999", "100000000", "9999999999999999", "99999999999999999",
                      "1718012345678", "0000000000000001", "123456789", "12345678a", "a23456789", "1234567890123456",
                      "9223372036854775807", "9223372036854775808", "-1", "+42", "-9223372036854775808", "", " 1", "1 ",
                      "12a4", "1234567:", "/", "0x10", "١٢٣", "12345678901234567890"]
        for _ in 0..<2000 {
            let n = Int.random(in: 1...19, using: &rng)
            var s = String((0..<n).map { _ in Character(String(Int.random(in: 0...9, using: &rng))) })
            if Int.random(in: 0..<5, using: &rng) == 0 {
                let i = s.index(s.startIndex, offsetBy: Int.random(in: 0..<n, using: &rng))
                s.replaceSubrange(i...i, with: String(Character(Unicode.Scalar(UInt8.random(in: 0x20...0x7E, using: &rng)))))
            }
            values.append(s)
        }
        for v in values {
            // queueOffset (a Long) in the middle of the header, and last (where eight bytes may not follow it).
            for last in [false, true] {
                var fields = Self.pullFields(queueOffset: v)
                if last { fields.append(fields.remove(at: 3)) }
                let expected = HeaderFieldReader.parseDecimal(v, as: Int64.self)
                let decoded = try? RemotingFrame.decode(Self.frame(fields, type)).header(PullMessageRequestHeader.self)
                #expect(decoded?.queueOffset == expected, "queueOffset \"\(v)\" (\(type), last: \(last))")
            }
            // queueId (an Integer).
            var fields = Self.pullFields()
            fields[2].1 = v
            let expected = HeaderFieldReader.parseDecimal(v, as: Int32.self)
            let decoded = try? RemotingFrame.decode(Self.frame(fields, type)).header(PullMessageRequestHeader.self)
            #expect(decoded?.queueId == expected, "queueId \"\(v)\" (\(type))")
        }
    }

    /// The eight-byte digit read: the last `count` bytes of a word, whatever the bytes before them.
    @Test func digitsOfEveryLength() {
        for count in 1...8 {
            for _ in 0..<500 {
                let before = (0..<(8 - count)).map { _ in UInt8.random(in: 0...255) }
                let digits = (0..<count).map { _ in UInt8.random(in: 0x30...0x39) }
                var bytes = before + digits
                func word() -> UInt64 { UInt64(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }) }
                #expect(HeaderValue.digits(word(), count: count) == UInt64(String(decoding: digits, as: UTF8.self)))
                bytes[8 - count + Int.random(in: 0..<count)] = [0x2F, 0x3A, 0x2D, 0x2B, 0x20, 0xB0, 0x00, 0x41].randomElement()!
                #expect(HeaderValue.digits(word(), count: count) == nil)
            }
        }
    }

    /// With `ownRequestText`, a request's typed header keeps none of the frame's bytes (a tracker holds pending
    /// requests; their frames are slices of mapped capture windows); a response's is decoded as usual.
    @Test func requestsWithTextOfTheirOwn() throws {
        let frame = Self.frame(Self.pullFields(), .rocketmq)
        guard case .pullMessage(let owned)? = try RemotingFrame.decodeTyped(frame, ownRequestText: true, requestCodeFor: { _ in nil }).header,
              case .pullMessage(let spans)? = try RemotingFrame.decodeTyped(frame, requestCodeFor: { _ in nil }).header else {
            Issue.record("not a PULL_MESSAGE header")
            return
        }
        guard case .string = owned._consumerGroup, case .string = owned._topic, case .string? = owned._subscription,
              owned._source.readableBytes == 0 else {
            Issue.record("a span of the frame in a header decoded with text of its own")
            return
        }
        guard case .span = spans._consumerGroup else {
            Issue.record("no span by default")
            return
        }
        #expect(owned == spans && owned.consumerGroup == Self.group)
        // Every request code's header, SEARCH_OFFSET_BY_TIMESTAMP's (checked by hand after decoding) too.
        let search = RemotingFrame.encode(RemotingCommand.request(
            code: RequestCode.searchOffsetByTimestamp, opaque: 9,
            extFields: ExtFields([("topic", Self.topic), ("queueId", "1"), ("timestamp", "1718012345678")]), serializeType: .rocketmq))
        guard case .queueOffset(let q)? = try RemotingFrame.decodeTyped(search, ownRequestText: true, requestCodeFor: { _ in nil }).header,
              case .string(Self.topic) = q._topic, q._source.readableBytes == 0, q.timestamp == 1_718_012_345_678 else {
            Issue.record("SEARCH_OFFSET_BY_TIMESTAMP's topic kept as a span")
            return
        }
        var response = RemotingCommand.response(to: try RemotingFrame.decode(frame), code: ResponseCode.success,
                                                extFields: SendMessageResponseHeader(msgId: String(repeating: "A", count: 32), queueId: 1, queueOffset: 2).extFields)
        response.serializeType = .rocketmq
        guard case .sendMessageResponse(let r)? = try RemotingFrame.decodeTyped(RemotingFrame.encode(response), ownRequestText: true,
                                                                                 requestCodeFor: { _ in RequestCode.sendMessage }).header,
              case .span = r._msgId else {
            Issue.record("a response's text is a span as usual")
            return
        }
    }

    /// A detached command's typed header points into the command's copy, not into the frame (the tracker
    /// detaches a command before decoding its header).
    @Test func detachedCommandHeadersPointIntoTheCopy() throws {
        func base(_ b: ByteBuffer) -> UInt { b.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress!) } }
        let frame = Self.frame(Self.pullFields(), .json)
        let frameRange = base(frame)..<(base(frame) + UInt(frame.readableBytes))
        var cmd = try RemotingFrame.decode(frame)
        #expect(frameRange.contains(base(cmd.wireFields.bytes)))
        cmd.detach()
        let copy = base(cmd.wireFields.bytes)
        #expect(!frameRange.contains(copy))
        let h = try cmd.header(PullMessageRequestHeader.self)
        #expect(base(h._source) == copy && h.consumerGroup == Self.group)
    }
}
