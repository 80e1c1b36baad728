import NIOCore
import NIOTestUtils
import Testing
@testable import RocketMQRemoting

/// Random commands in both serializations survive encode → decode, whole and through the incremental decoder
/// fed byte by byte and in odd chunks.
@Suite struct RoundTripTests {
    static func randomString(_ rng: inout SplitMix64, maxLength: Int) -> String {
        let alphabet: [Character] = Array("abcXYZ019_%@#:.-/ \"\\\u{01}\u{02}\té中🚀")
        let n = Int.random(in: 0...maxLength, using: &rng)
        return String((0..<n).map { _ in alphabet.randomElement(using: &rng)! })
    }

    static func randomCommand(_ rng: inout SplitMix64) -> RemotingCommand {
        let type: SerializeType = Bool.random(using: &rng) ? .json : .rocketmq
        let code = Int32.random(in: -32768...32767, using: &rng)
        var cmd = RemotingCommand(code: code, language: LanguageCode(code: UInt8.random(in: 0...13, using: &rng)),
                                  version: Int32.random(in: 0...32767, using: &rng), opaque: Int32.random(in: .min ... .max, using: &rng),
                                  flag: Int32.random(in: 0...3, using: &rng), serializeType: type)
        if Bool.random(using: &rng) {
            let r = randomString(&rng, maxLength: 40)
            // Binary headers cannot tell an empty remark from none.
            cmd.remark = (type == .rocketmq && r.isEmpty) ? nil : r
        }
        if Bool.random(using: &rng) {
            var ext = ExtFields()
            for i in 0..<Int.random(in: 0...12, using: &rng) {
                var v = randomString(&rng, maxLength: 30)
                if type == .rocketmq && v.isEmpty { v = "x" }
                ext.append("k\(i)" + randomString(&rng, maxLength: 8), v)
            }
            cmd.extFields = (type == .rocketmq && ext.isEmpty) ? nil : ext
        }
        if Bool.random(using: &rng) {
            cmd.body = ByteBuffer(bytes: (0..<Int.random(in: 1...300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) })
        }
        if type == .json {
            cmd.jsonTrailingNewline = Bool.random(using: &rng)
            cmd.jsonHasSerializeTypeCurrentRPC = Bool.random(using: &rng)
        }
        return cmd
    }

    @Test func randomCommandsRoundTrip() throws {
        var rng = SplitMix64(seed: 0x5EED)
        for _ in 0..<2000 {
            let cmd = Self.randomCommand(&rng)
            let decoded = try RemotingFrame.decode(RemotingFrame.encode(cmd))
            #expect(decoded == cmd)
        }
    }

    @Test func decoderVerifierBothSerializations() throws {
        var rng = SplitMix64(seed: 42)
        var pairs: [(ByteBuffer, [RemotingCommand])] = []
        for _ in 0..<40 {
            var buf = ByteBuffer()
            var cmds: [RemotingCommand] = []
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let c = Self.randomCommand(&rng)
                cmds.append(c)
                RemotingFrame.encode(c, into: &buf)
            }
            pairs.append((buf, cmds))
        }
        for vector in [Vectors.cap1, Vectors.cap11, Vectors.cap12, Vectors.jarp, Vectors.jarc] {
            let b = buffer(hex: vector)
            pairs.append((b, [try RemotingFrame.decode(b)]))
        }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) { RemotingFrameDecoder() }
    }

    @Test func randomChunksThroughSingleStepProcessor() throws {
        var rng = SplitMix64(seed: 7)
        var stream = ByteBuffer()
        var expected: [RemotingCommand] = []
        for _ in 0..<200 {
            let c = Self.randomCommand(&rng)
            expected.append(c)
            RemotingFrame.encode(c, into: &stream)
        }
        let processor = NIOSingleStepByteToMessageProcessor(RemotingFrameDecoder())
        var got: [RemotingCommand] = []
        while stream.readableBytes > 0 {
            let n = min(stream.readableBytes, Int.random(in: 1...700, using: &rng))
            let chunk = stream.readSlice(length: n)!
            try processor.process(buffer: chunk) { got.append($0) }
        }
        try processor.finishProcessing(seenEOF: true) { got.append($0) }
        #expect(got == expected)
    }

    @Test func typedHeadersRoundTripThroughExtFields() throws {
        let pull = PullMessageRequestHeader(consumerGroup: "g", topic: "t", queueId: 3, queueOffset: 99, sysFlag: [.commitOffset, .suspend],
                                            commitOffset: 98, subVersion: 5, maxMsgBytes: 262_144)
        #expect(try PullMessageRequestHeader(extFields: pull.extFields) == pull)
        let send = SendMessageRequestHeader(producerGroup: "p", topic: "t", queueId: 1, bornTimestamp: 7, properties: "TAGS\u{01}A")
        #expect(try SendMessageRequestHeader(extFields: send.v2ExtFields, v2: true) == send)
        #expect(try SendMessageRequestHeader(extFields: send.extFields) == send)
        let back = ConsumerSendMsgBackRequestHeader(offset: 10, group: "g", delayLevel: 0, originMsgId: "X", originTopic: "t", maxReconsumeTimes: 16)
        #expect(try ConsumerSendMsgBackRequestHeader(extFields: back.extFields) == back)
        let search = QueueOffsetRequestHeader(topic: "t", queueId: 1, timestamp: 5, boundaryType: "LOWER")
        #expect(try TypedHeader.decodeRequest(code: 29, extFields: search.extFields) == .queueOffset(search))
        let info = GetConsumerRunningInfoRequestHeader(consumerGroup: "g", clientId: "c", jstackEnable: true)
        #expect(try TypedHeader.decodeRequest(code: 307, extFields: info.extFields) == .getConsumerRunningInfo(info))
        let unreg = UnregisterClientRequestHeader(clientID: "c", consumerGroup: "g")
        #expect(try TypedHeader.decodeRequest(code: 35, extFields: unreg.extFields) == .unregisterClient(unreg))
        #expect(try TypedHeader.decodeRequest(code: 40, extFields: ["consumerGroup": "g"]) == .notifyConsumerIdsChanged(.init(consumerGroup: "g")))
        let q = QueryConsumerOffsetRequestHeader(consumerGroup: "g", topic: "t", queueId: 2)
        #expect(try TypedHeader.decodeRequest(code: 14, extFields: q.extFields) == .queryConsumerOffset(q))
        let resp = PullMessageResponseHeader(nextBeginOffset: 5, minOffset: 0, maxOffset: 9, offsetDelta: 1, forbiddenType: 2)
        #expect(try TypedHeader.decodeResponse(requestCode: 11, responseCode: 21, extFields: resp.extFields) == .pullMessageResponse(resp))
    }

    @Test func cppClientTolerances() throws {
        // jsoncpp: numbers as extFields values, a trailing newline counted in H, no serializeTypeCurrentRPC.
        let header = #"{"code":11,"extFields":{"AccessKey":"","OnsChannel":"","Signature":"","commitOffset":0,"consumerGroup":"g","maxMsgNums":32,"queueId":1,"queueOffset":5,"subVersion":1,"suspendTimeoutMillis":15000,"sysFlag":2,"topic":"t"},"flag":0,"language":"CPP","opaque":1,"remark":null,"version":333}"# + "\n"
        var frame = ByteBuffer()
        frame.writeInteger(Int32(4 + header.utf8.count))
        frame.writeInteger(Int32(header.utf8.count))
        frame.writeString(header)
        let cmd = try RemotingFrame.decode(frame)
        #expect(cmd.language == .cpp && cmd.jsonTrailingNewline && !cmd.jsonHasSerializeTypeCurrentRPC && cmd.remark == nil)
        guard case .pullMessage(let h)? = try TypedHeader.decodeRequest(code: 11, extFields: cmd.extFields) else {
            Issue.record("no header"); return
        }
        #expect(h.queueId == 1 && h.maxMsgNums == 32 && h.sysFlag == .suspend && h.extra["AccessKey"] == "")
        // Old name servers' topicSynFlag and null members are accepted.
        let unknownLang = try RemotingFrame.decode(RemotingFrame.encode(RemotingCommand(code: 1, language: LanguageCode(name: "KOTLIN"), opaque: 1)))
        #expect(unknownLang.language.name == "KOTLIN" && unknownLang.language.code == nil)
        let nulls = #"{"code":0,"extFields":null,"flag":1,"language":"GO","opaque":3,"remark":"","version":317}"#
        var f2 = ByteBuffer()
        f2.writeInteger(Int32(4 + nulls.utf8.count))
        f2.writeInteger(Int32(nulls.utf8.count))
        f2.writeString(nulls)
        let go = try RemotingFrame.decode(f2)
        #expect(go.extFields == nil && go.remark == "" && go.language == .go && go.codeName == "SUCCESS")
        #expect(RemotingCommand(code: 99_999, opaque: 1).codeName == "UNKNOWN_REQUEST(99999)")
    }
}

/// `JSONWriter.writeString` (eight bytes at a time between escapes, short plain texts in one append) against a
/// byte-at-a-time reference, on texts with quotes, backslashes, controls, DEL and non-ASCII at every position of
/// runs longer than a word, and on plain texts either side of the one-append limit.
@Test func jsonStringEscapingMatchesAByteLoop() {
    func reference(_ s: String) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "\"")]
        let hex = Array("0123456789abcdef".utf8)
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), b]
            case 0x08: out += Array("\\b".utf8)
            case 0x0C: out += Array("\\f".utf8)
            case 0x0A: out += Array("\\n".utf8)
            case 0x0D: out += Array("\\r".utf8)
            case 0x09: out += Array("\\t".utf8)
            case 0..<0x20, 0x7F: out += Array("\\u00".utf8) + [hex[Int(b >> 4)], hex[Int(b & 0xF)]]
            default: out.append(b)
            }
        }
        return out + [UInt8(ascii: "\"")]
    }
    let specials = ["\"", "\\", "\n", "\u{01}", "\u{1F}", "\u{7F}", "é", "€", " ", "~"]
    var rng = SystemRandomNumberGenerator()
    // Up to 120 bytes with nothing to escape take the one-append path: lengths around it, with escapes and
    // without (one sample in four is plain).
    for length in Array(0..<40) + Array(112..<130) + [250] {
        for sample in 0..<20 {
            var s = ""
            let plain = sample % 4 == 0
            for _ in 0..<length { s += !plain && Int.random(in: 0..<4, using: &rng) == 0 ? specials.randomElement(using: &rng)! : "abcXYZ09"[Int.random(in: 0..<8, using: &rng)] }
            var out: [UInt8] = []
            JSONWriter.writeString(s, into: &out)
            #expect(out == reference(s), "\(Array(s.utf8))")
        }
    }
}

private extension String {
    subscript(i: Int) -> String { String(self[index(startIndex, offsetBy: i)]) }
}

/// The properties text of a stored message: key 0x01 value, pairs joined by 0x02, a trailing 0x02 on request.
@Test func messagePropertiesEncodeExactly() {
    #expect(MessageProperties.encode([]) == "")
    #expect(MessageProperties.encode([], trailingSeparator: true) == "")
    #expect(MessageProperties.encode([(key: "TAGS", value: "TagA")]) == "TAGS\u{01}TagA")
    #expect(MessageProperties.encode([(key: "KEYS", value: "k é"), (key: "WAIT", value: "true")], trailingSeparator: true)
            == "KEYS\u{01}k é\u{02}WAIT\u{01}true\u{02}")
    #expect(Array(MessageProperties.encode([(key: "A", value: ""), (key: "", value: "B")]).utf8) == [65, 1, 2, 1, 66])
}
