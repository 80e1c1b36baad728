import NIOCore
import Testing
@testable import RocketMQRemoting

/// Lazy against eager: `RemotingFrame.decodeTyped` (the typed header decoded from the command's fields, byte
/// ranges of the frame) gives exactly what `RemotingFrame.decode`, the `ExtFields` map built from it, and
/// `TypedHeader.decodeRequest` / `decodeResponse` over that map give: the same command fields and typed header,
/// or the same error text.
@Suite struct FastPathTests {
    static let requestCodes: [Int32] = [
        RequestCode.pullMessage, RequestCode.litePullMessage, RequestCode.sendMessage, RequestCode.sendMessageV2,
        RequestCode.sendBatchMessage, RequestCode.sendReplyMessage, RequestCode.sendReplyMessageV2,
        RequestCode.queryConsumerOffset, RequestCode.updateConsumerOffset, RequestCode.getRouteInfoByTopic,
        RequestCode.unregisterClient, RequestCode.getConsumerListByGroup, RequestCode.notifyConsumerIdsChanged,
        RequestCode.consumerSendMsgBack, RequestCode.getMaxOffset, RequestCode.getMinOffset,
        RequestCode.getEarliestMsgStoretime, RequestCode.searchOffsetByTimestamp, RequestCode.getConsumerRunningInfo, 34, 0,
    ]
    static let responseCodes: [Int32] = [0, 1, 10, 11, 12, 19, 20, 21, 22, 17]

    /// Every declared key of every typed header, plus the V2 letters and keys no header declares.
    static let keys: [String] = [
        "topic", "acceptStandardJsonOnly", "clientID", "producerGroup", "consumerGroup", "queueId", "setZeroIfNotFound",
        "offset", "commitOffset", "queueOffset", "maxMsgNums", "sysFlag", "suspendTimeoutMillis", "subscription",
        "subVersion", "expressionType", "maxMsgBytes", "requestSource", "proxyFrowardClientId", "suggestWhichBrokerId",
        "nextBeginOffset", "minOffset", "maxOffset", "offsetDelta", "topicSysFlag", "groupSysFlag", "forbiddenType",
        "defaultTopic", "defaultTopicQueueNums", "bornTimestamp", "flag", "properties", "reconsumeTimes", "unitMode",
        "batch", "maxReconsumeTimes", "brokerName", "msgId", "transactionId", "batchUniqId", "recallHandle", "group",
        "delayLevel", "originMsgId", "originTopic", "timestamp", "boundaryType", "committed", "clientId", "jstackEnable",
        "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n",
        "bname", "ns", "lo", "", "topi\u{212A}", "\u{212A}", "K", "é", "e\u{301}", "top\u{0131}c", "ñtopic",
    ]
    static let values: [String] = [
        "0", "1", "-1", "+7", "-0", "+", "-", "", "2147483647", "2147483648", "-2147483648", "-2147483649",
        "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "1.5", " 1",
        "1 ", "0x10", "\u{FF11}", "１２", "true", "TRUE", "tRuE", "false", "yes", "truee", "İ", "TopicTest",
        "GID_order-service_payment-consumer", "TagA || TagB", "é", "中文", "🚀", "a\"b", "a\\b", "line\nbreak", "\u{01}",
        "TOPIC_order-service_payment-events_with_a_longer_name",
    ]

    typealias Outcome = (head: RemotingCommandHead, header: TypedHeader?)

    static func slow(_ frame: ByteBuffer, requestCode: Int32?) -> Result<(RemotingCommand, TypedHeader?), RemotingDecodingError> {
        do {
            let cmd = try RemotingFrame.decode(frame)
            let header: TypedHeader?
            if !cmd.isResponse {
                header = try TypedHeader.decodeRequest(code: cmd.code, extFields: cmd.extFields)
            } else if let requestCode {
                header = try TypedHeader.decodeResponse(requestCode: requestCode, responseCode: cmd.code, extFields: cmd.extFields)
            } else {
                header = nil
            }
            return .success((cmd, header))
        } catch let e as RemotingDecodingError {
            return .failure(e)
        } catch {
            return .failure(RemotingDecodingError("unexpected", .other("\(error)")))
        }
    }

    static func fast(_ frame: ByteBuffer, requestCode: Int32?) -> Result<Outcome, RemotingDecodingError> {
        do {
            return .success(try RemotingFrame.decodeTyped(frame, requestCode: requestCode))
        } catch let e as RemotingDecodingError {
            return .failure(e)
        } catch {
            return .failure(RemotingDecodingError("unexpected", .other("\(error)")))
        }
    }

    /// Both paths agree on `frame`; returns whether it decoded.
    @discardableResult
    static func check(_ frame: ByteBuffer, requestCode: Int32?, checkExtFields: Bool = false,
                      sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
        switch (slow(frame, requestCode: requestCode), fast(frame, requestCode: requestCode)) {
        case (.success(let (cmd, header)), .success(let out)):
            let h = out.head
            #expect(out.header == header, "\(hexString(frame)) requestCode \(String(describing: requestCode))",
                    sourceLocation: sourceLocation)
            #expect(h.code == cmd.code && h.language == cmd.language && h.version == cmd.version && h.opaque == cmd.opaque
                        && h.flag == cmd.flag && h.remark == cmd.remark && h.serializeType == cmd.serializeType
                        && h.jsonTrailingNewline == cmd.jsonTrailingNewline
                        && h.jsonHasSerializeTypeCurrentRPC == cmd.jsonHasSerializeTypeCurrentRPC
                        && h.hasExtFields == (cmd.extFields != nil) && h.body == cmd.body && h.kind == cmd.kind,
                    "\(hexString(frame))", sourceLocation: sourceLocation)
            if checkExtFields {
                #expect((try? h.extFields(in: frame)) == cmd.extFields, sourceLocation: sourceLocation)
                #expect((try? h.command(in: frame)) == cmd, sourceLocation: sourceLocation)
            }
            return true
        case (.failure(let a), .failure(let b)):
            #expect(a.description == b.description, "\(hexString(frame))", sourceLocation: sourceLocation)
            #expect(a == b, sourceLocation: sourceLocation)
            return false
        case (.success(let s), .failure(let e)):
            Issue.record("slow path decoded \(s), fast path failed: \(e) — \(hexString(frame))", sourceLocation: sourceLocation)
            return false
        case (.failure(let e), .success(let f)):
            Issue.record("slow path failed: \(e), fast path decoded \(f) — \(hexString(frame))", sourceLocation: sourceLocation)
            return false
        }
    }

    static func frame(type: UInt8, header: [UInt8], body: [UInt8] = []) -> ByteBuffer {
        var b = ByteBuffer()
        b.writeInteger(Int32(4 + header.count + body.count))
        b.writeInteger(UInt32(type) << 24 | UInt32(header.count))
        b.writeBytes(header)
        b.writeBytes(body)
        return b
    }

    @Test func knownAnswerVectors() throws {
        let frames = [Vectors.cap1, Vectors.cap2, Vectors.cap3, Vectors.cap4, Vectors.cap5, Vectors.cap6, Vectors.cap7,
                      Vectors.cap8, Vectors.cap9, Vectors.cap10, Vectors.cap11, Vectors.cap12, Vectors.cap13,
                      Vectors.cap14body, Vectors.jara, Vectors.jarb1, Vectors.jarb2, Vectors.jarc, Vectors.jarc3,
                      Vectors.jarp, Vectors.jarev, Vectors.jard, Vectors.jare, Vectors.ut6]
        var decoded = 0
        for hex in frames {
            for rc in [nil] + Self.requestCodes.map(Optional.some) {
                if Self.check(buffer(hex: hex), requestCode: rc, checkExtFields: rc == nil) { decoded += 1 }
            }
        }
        #expect(decoded >= 300)
        // The JSON documents of the vectors as (mostly invalid) JSON headers.
        for text in [Vectors.jarf1, Vectors.jarf2, Vectors.jarg, Vectors.jarh, Vectors.jari, Vectors.jark] {
            Self.check(Self.frame(type: 0, header: Array(text.utf8)), requestCode: nil)
            Self.check(Self.frame(type: 1, header: Array(text.utf8)), requestCode: nil)
        }
        // A typed header from a real capture.
        let pull = try RemotingFrame.decodeTyped(buffer(hex: Vectors.cap8))
        guard case .pullMessage(let h)? = pull.header else { Issue.record("no pull header"); return }
        #expect(h.subVersion == 1_733_815_731_448 && h.queueId == 2 && h.topic == "TopicTest" && h.extra.isEmpty)
        let found = try RemotingFrame.decodeTyped(buffer(hex: Vectors.cap11), requestCode: RequestCode.pullMessage)
        guard case .pullMessageResponse(let rh)? = found.header else { Issue.record("no pull response header"); return }
        #expect(rh.nextBeginOffset == 1155 && found.head.remark == "FOUND" && found.head.bodyLength > 0)
    }

    @Test func randomCommands() throws {
        var rng = SplitMix64(seed: 0xFA57)
        for _ in 0..<2000 {
            var cmd = RoundTripTests.randomCommand(&rng)
            if Bool.random(using: &rng) { cmd.code = Self.requestCodes.randomElement(using: &rng) ?? 0 }
            let frame = RemotingFrame.encode(cmd)
            let rc: Int32? = Bool.random(using: &rng) ? Self.requestCodes.randomElement(using: &rng) : nil
            Self.check(frame, requestCode: rc, checkExtFields: true)
        }
    }

    static func randomHeaderCommand(_ rng: inout SplitMix64) -> RemotingCommand {
        let type: SerializeType = Bool.random(using: &rng) ? .json : .rocketmq
        let response = Int.random(in: 0..<4, using: &rng) == 0
        let code = response ? (Self.responseCodes.randomElement(using: &rng) ?? 0) : (Self.requestCodes.randomElement(using: &rng) ?? 0)
        var ext = ExtFields()
        if Bool.random(using: &rng) {
            // Every declared key with a value valid for any type, so that most typed headers decode.
            for key in Self.keys.prefix(64) where Int.random(in: 0..<12, using: &rng) != 0 {
                ext.append(key, ["1", "-3", "+2", "TRUE"].randomElement(using: &rng) ?? "1")
            }
        }
        for _ in 0..<Int.random(in: 0...16, using: &rng) {
            let key = Self.keys.randomElement(using: &rng) ?? "topic"
            let value = Int.random(in: 0..<4, using: &rng) == 0
                ? RoundTripTests.randomString(&rng, maxLength: 20)
                : (Self.values.randomElement(using: &rng) ?? "0")
            // JSON rejects duplicate keys; that error is also compared, but keep most commands valid.
            if type == .json, ext[key] != nil, Int.random(in: 0..<8, using: &rng) != 0 { continue }
            if type == .rocketmq && (value.isEmpty || key.isEmpty) { continue }
            ext.append(key, value)
        }
        var cmd = RemotingCommand(code: code, opaque: Int32.random(in: .min ... .max, using: &rng),
                                  flag: response ? RemotingCommand.responseFlag : Int32.random(in: 0...2, using: &rng) & 2,
                                  extFields: (ext.isEmpty && type == .rocketmq) || Int.random(in: 0..<10, using: &rng) == 0 ? nil : ext,
                                  serializeType: type)
        if response { cmd.remark = ["FOUND", "OFFSET_FOUND_NULL", "a much longer remark than fifteen bytes"].randomElement(using: &rng) }
        if Bool.random(using: &rng) { cmd.body = ByteBuffer(bytes: [1, 2, 3]) }
        return cmd
    }

    @Test func randomHeaderShapedCommands() throws {
        var rng = SplitMix64(seed: 0x7E4D)
        var decodedTyped = 0
        for _ in 0..<4000 {
            let cmd = Self.randomHeaderCommand(&rng)
            let rc: Int32? = cmd.isResponse ? Self.requestCodes.randomElement(using: &rng) : nil
            if Self.check(RemotingFrame.encode(cmd), requestCode: rc),
               (try? RemotingFrame.decodeTyped(RemotingFrame.encode(cmd), requestCode: rc).header) != nil {
                decodedTyped += 1
            }
        }
        #expect(decodedTyped > 300)
        // Full-valued headers, so that typed decoding succeeds and `extra` is exercised.
        for type in [SerializeType.json, .rocketmq] {
            let pull = PullMessageRequestHeader(consumerGroup: "G", topic: "T", queueId: 1, queueOffset: 2, sysFlag: [.suspend],
                                                commitOffset: 3, subVersion: 4, maxMsgBytes: 5, requestSource: -1,
                                                proxyFrowardClientId: "p")
            var ext = pull.extFields
            ext.append("bname", "broker-a")
            ext.append("ñ", "é")
            let cmd = RemotingCommand.request(code: RequestCode.pullMessage, opaque: 1, extFields: ext, serializeType: type)
            Self.check(RemotingFrame.encode(cmd), requestCode: nil)
            let out = try RemotingFrame.decodeTyped(RemotingFrame.encode(cmd))
            var expected = pull
            expected.extra = ExtFields([(key: "bname", value: "broker-a"), (key: "ñ", value: "é")])
            #expect(out.header == .pullMessage(expected))
        }
    }

    /// \u escapes of 1- to 4-byte UTF-8 (a surrogate pair), and the separators of message properties, decode to
    /// the text they stand for; what the encoder writes for control bytes reads back the same.
    @Test func unicodeEscapesDecodeToTheirText() throws {
        let text = #"{"code":10,"extFields":{"properties":"a\u0001\u00e9\u0002b\u0001\u4e2d\ud83d\ude42\u007f","k":"\u0041"},"flag":0}"#
        let cmd = try RemotingFrame.decode(Self.frame(type: 0, header: Array(text.utf8)))
        #expect(cmd.extFields?["properties"] == "a\u{01}é\u{02}b\u{01}中🙂\u{7F}")
        #expect(cmd.extFields?["k"] == "A")
        let sent = RemotingCommand.request(code: 10, opaque: 1, extFields: ExtFields([(key: "p", value: "x\u{01}y\u{02}\u{1F}\u{7F}\"\\")]))
        #expect(try RemotingFrame.decode(RemotingFrame.encode(sent)).extFields?["p"] == "x\u{01}y\u{02}\u{1F}\u{7F}\"\\")
    }

    /// JSON headers with values of every JSON type, escapes and nesting, which no encoder writes.
    @Test func rawJSONExtFields() throws {
        var rng = SplitMix64(seed: 0x150)
        let rawValues = [
            #""1""#, "1", "-5", "1.0", "1e3", "true", "false", "null", #"{"a":1}"#, "[1, 2]", #""\u0031\u0032""#,
            #""\u0074rue""#, #""a\nb""#, #""\ud83d\ude80""#, #""\ud83d""#, #""\x""#, "tru", #""é""#, "\"\u{01}\"",
            #"{"a":{"b":[null,true]}}"#, "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", "\"\u{FF}\"",
            #""2147483648""#, #""+0""#, "-0", "00", "\"TopicTest\"", "\"GID_order-service_payment-consumer\"",
        ]
        let rawKeys = Self.keys.map { "\"\($0)\"" } + [#""\u0074opic""#, #""top\"ic""#, #""queue\u0049d""#, "\"\u{FF}\""]
        for _ in 0..<3000 {
            var members: [String] = []
            for _ in 0..<Int.random(in: 0...14, using: &rng) {
                let k = rawKeys.randomElement(using: &rng) ?? "\"topic\""
                let v = rawValues.randomElement(using: &rng) ?? "1"
                members.append("\(k) : \(v)")
            }
            let code = Self.requestCodes.randomElement(using: &rng) ?? 11
            let response = Int.random(in: 0..<3, using: &rng) == 0
            let rcode = response ? (Self.responseCodes.randomElement(using: &rng) ?? 0) : code
            var text = "{\"code\":\(rcode),\"extFields\":{\(members.joined(separator: ","))},\"flag\":\(response ? 1 : 0)}"
            if Int.random(in: 0..<10, using: &rng) == 0 { text += "\n" }
            Self.check(Self.frame(type: 0, header: Array(text.utf8)), requestCode: response ? code : nil, checkExtFields: true)
        }
    }

    /// What the JSON scanner makes of a header, with or without the ASCII fast path for the extFields object:
    /// the head's fields and every entry's ranges and kinds, or the error's text.
    static func jsonScan(_ header: [UInt8], fastPath: Bool) -> String {
        header.withUnsafeBytes { bytes in
            var list = RawFieldList()
            do {
                let h = try JSONHeaderCodec.scan(bytes, errorContext: ErrorContext("frame", .suffix(": JSON header")), visitor: &list,
                                                 asciiFastPath: fastPath)
                let entries = list.entries.map {
                    "\($0.keyStart)+\($0.keyCount):\($0.keyKind)#\($0.keySignature)=\($0.valueStart)+\($0.valueCount):\($0.valueKind)"
                }
                return "code \(h.code) opaque \(h.opaque) flag \(h.flag) version \(h.version) ext \(h.hasExtFields) nl \(h.jsonTrailingNewline) "
                    + "remark \(h.remark ?? "-") | " + entries.joined(separator: " ")
            } catch {
                return "error: \(error)"
            }
        }
    }

    /// The ASCII fast path of the JSON extFields object reads exactly what the checked loop reads: the same
    /// entries for every object it takes, and for everything it leaves (white space, numbers, null, escapes,
    /// non-ASCII text, duplicate keys, control characters, truncations) the checked loop's result, errors included.
    @Test func jsonASCIIFastPathAgreesWithTheCheckedLoop() {
        var objects = [
            #"{"queueId":"3","maxMsgNums":"32","topic":"TopicTest","consumerGroup":"GID_order-service_payment-consumer"}"#,
            #"{"a":"1"}"#, #"{"":""}"#, #"{"a":""}"#, #"{"":"x"}"#, #"{}"#, #"{ }"#,
            #"{"a":"1","b":"2","a":"3"}"#, #"{"topic":"T","topic":"T"}"#, #"{"abcdefgh":"1","abcdefgi":"2"}"#,
            #"{"a":"1", "b":"2"}"#, #"{"a" :"1"}"#, #"{"a": "1"}"#, #"{"a":"1" }"#, #"{"a":1,"b":"2"}"#, #"{"b":"2","a":1}"#,
            #"{"a":null,"b":"2"}"#, #"{"a":"x"y"}"#, #"{"aA":"1"}"#, #"{"a":"é"}"#, #"{"a":"é"}"#, #"{"é":"1"}"#,
            #"{"a":true}"#, #"{"a":{"b":"c"}}"#, #"{"a":["b"]}"#, #"{"a":"1",}"#, #"{"a":"1""b":"2"}"#, #"{"a":"1"]"#,
            "{\"a\":\"x\u{7F}y\"}", "{\"a\":\"tab\there\"}", "{\"a\u{01}\":\"1\"}",
            #"{"0123456789abcdef":"0123456789abcdefghijklmnopqrstuvwxyz","k":"TagA || TagB || TagC"}"#,
        ]
        // Long objects (23 to 60 keys, as the binary fast path's batches of 24 are tested elsewhere), and keys
        // repeated far from their first use (the duplicate check looks back over the whole list).
        func many(_ n: Int, repeating r: Int? = nil) -> String {
            var members = (0..<n).map { #""key\#($0)":"value \#($0)""# }
            if let r { members.append(#""key\#(r)":"again""#) }
            return "{" + members.joined(separator: ",") + "}"
        }
        objects += [23, 24, 25, 30, 60].map { many($0) } + [many(30, repeating: 2), many(24, repeating: 23), many(60, repeating: 50)]
        var headers: [[UInt8]] = []
        for o in objects {
            headers.append(Array("{\"code\":11,\"extFields\":\(o),\"flag\":0,\"opaque\":7,\"version\":395}".utf8))
            headers.append(Array("{\"extFields\":\(o)}\n".utf8))
        }
        // Every truncation of two usual headers, and of their objects' ends.
        for h in [headers[0], headers[2]] {
            for k in 0..<h.count { headers.append(Array(h[0..<k])) }
        }
        var fast = 0
        for h in headers {
            let a = Self.jsonScan(h, fastPath: true), b = Self.jsonScan(h, fastPath: false)
            #expect(a == b, "\(String(decoding: h, as: UTF8.self))")
            if !a.hasPrefix("error") && a.contains("=") { fast += 1 }
        }
        #expect(fast > 10)
    }

    /// The JSON header's language, "JAVA" matched on its bytes and everything else read as text or a number.
    @Test(arguments: [
        (#""JAVA""#, "JAVA", UInt8?(0)), (#""CPP""#, "CPP", 1), (#""GO""#, "GO", 9), (#""JAVAX""#, "JAVAX", nil),
        (#""JAV""#, "JAV", nil), (#""\u004AAVA""#, "JAVA", 0), (#""java""#, "java", nil), ("3", "PYTHON", 3), ("0", "JAVA", 0),
    ])
    func jsonLanguage(json: String, name: String, code: UInt8?) throws {
        let header = Array(#"{"code":11,"language":\#(json),"opaque":1,"flag":0}"#.utf8)
        let cmd = try RemotingFrame.decode(Self.frame(type: 0, header: header))
        #expect(cmd.language.name == name && cmd.language.code == code)
    }

    /// JSON header integers: up to 9 digits followed by the end of the number are read without checks, anything
    /// else by the general reader (18 digits without overflow checks, a 19th through them). Each of the four
    /// integer fields, in the middle of the object and as its last member.
    @Test(arguments: [
        ("184467", Int32?(184467)), ("-7", -7), ("0", 0), ("2147483647", Int32.max), ("-2147483648", Int32.min),
        ("2147483648", nil), ("999999999999999999", nil), ("9223372036854775807", nil), ("9223372036854775808", nil),
        ("99999999999999999999", nil), ("000000000000000000007", 7), ("1.5", nil), ("-", nil),
        ("999999999", 999_999_999), ("1000000000", 1_000_000_000), ("123456789", 123_456_789), ("12e3", nil),
        ("12E3", nil), ("7.", nil), ("\"42\"", 42), ("\"x\"", nil), ("+5", nil), ("", nil), ("07 ", 7), ("5x", nil),
    ])
    func jsonIntegerFields(json: String, value: Int32?) {
        for field in ["code", "opaque", "flag", "version"] {
            for last in [false, true] {
                let others = ["code": "11", "opaque": "1", "flag": "0", "version": "401"].filter { $0.key != field }
                    .sorted { $0.key < $1.key }.map { "\"\($0.key)\":\($0.value)" }
                let members = last ? others + ["\"\(field)\":\(json)"] : ["\"\(field)\":\(json)"] + others
                let header = Array(("{" + members.joined(separator: ",") + "}").utf8)
                let cmd = try? RemotingFrame.decode(Self.frame(type: 0, header: header))
                let read: Int32? = switch field {
                case "code": cmd?.code
                case "opaque": cmd?.opaque
                case "flag": cmd?.flag
                default: cmd?.version
                }
                #expect(read == value, "\(field) \(json) last: \(last)")
                if value == nil {
                    #expect(throws: RemotingDecodingError.self) { try RemotingFrame.decode(Self.frame(type: 0, header: header)) }
                }
            }
        }
    }

    /// Top-level keys written exactly `"key":` are recognised from their bytes without being scanned; written
    /// with white space around the colon they are scanned, with the same result. Near misses (a longer or
    /// shorter key, another case, another first letter) are unknown keys, skipped.
    @Test func topLevelKeysAsLiteralsAndOtherwise() throws {
        let members: [(String, String)] = [
            ("code", "11"), ("extFields", #"{"topic":"T","queueId":"3"}"#), ("flag", "2"), ("language", #""CPP""#),
            ("opaque", "184467"), ("remark", #""a remark""#), ("serializeTypeCurrentRPC", #""JSON""#), ("version", "401"),
        ]
        func decode(_ write: (String) -> String) throws -> RemotingCommand {
            let text = "{" + members.map { write($0.0) + $0.1 }.joined(separator: ",") + "}"
            return try RemotingFrame.decode(Self.frame(type: 0, header: Array(text.utf8)))
        }
        let literal = try decode { #""\#($0)":"# }
        #expect(literal.code == 11 && literal.flag == 2 && literal.language.name == "CPP" && literal.opaque == 184_467)
        #expect(literal.remark == "a remark" && literal.version == 401 && literal.jsonHasSerializeTypeCurrentRPC)
        #expect(literal.extFields == ExtFields([(key: "topic", value: "T"), (key: "queueId", value: "3")]))
        let spacedForms: [(String) -> String] = [{ #""\#($0)" :"# }, { #""\#($0)":  "# }, { "\"\($0)\"\n:\t" }]
        for spaced in spacedForms {
            let other = try decode(spaced)
            #expect(other.code == literal.code && other.flag == literal.flag && other.language == literal.language)
            #expect(other.opaque == literal.opaque && other.remark == literal.remark && other.version == literal.version)
            #expect(other.extFields == literal.extFields && other.jsonHasSerializeTypeCurrentRPC)
        }
        // Near misses of each key are unknown: the field keeps its default (code is required).
        for (key, _) in members {
            for miss in [key + "x", String(key.dropLast()), key.uppercased(), "x" + key.dropFirst()] {
                let text = members.map { ($0.0 == key ? #""\#(miss)":"# : #""\#($0.0)":"#) + $0.1 }.joined(separator: ",")
                let frame = Self.frame(type: 0, header: Array(("{" + text + "}").utf8))
                if key == "code" {
                    #expect(throws: RemotingDecodingError.self) { try RemotingFrame.decode(frame) }
                    continue
                }
                let cmd = try RemotingFrame.decode(frame)
                switch key {
                case "extFields": #expect(cmd.extFields == nil, "\(miss)")
                case "flag": #expect(cmd.flag == 0, "\(miss)")
                case "language": #expect(cmd.language == .java, "\(miss)")
                case "opaque": #expect(cmd.opaque == 0, "\(miss)")
                case "remark": #expect(cmd.remark == nil, "\(miss)")
                case "serializeTypeCurrentRPC": #expect(!cmd.jsonHasSerializeTypeCurrentRPC, "\(miss)")
                default: #expect(cmd.version == 0, "\(miss)")
                }
            }
        }
        // A key cut short by the end of the header is an error, not a read past it.
        for cut in [#"{"code":11,"flag"#, #"{"code":11,"fla"#, #"{"code""#, #"{"serializeTypeCurrentRPC":"#, #"{"code":"#] {
            #expect(throws: RemotingDecodingError.self) { try RemotingFrame.decode(Self.frame(type: 0, header: Array(cut.utf8))) }
        }
    }

    /// Keys and values the scanners validated become Strings without a second validation: ASCII and
    /// non-ASCII UTF-8 text reads back as `String(decoding:as:)` would give it, in both header types.
    @Test(arguments: [SerializeType.json, .rocketmq])
    func validatedTextReadsBack(type: SerializeType) throws {
        var ext = ExtFields()
        for text in ["", "a", "GID_order-service_payment-consumer", "Grüße, 世界 🚀", "ключ", String(repeating: "é", count: 40)] {
            ext.append("k\(ext.count)", text)
            ext.append(text.isEmpty ? "empty" : text, "v\(ext.count)")
        }
        let cmd = RemotingCommand.request(code: 11, opaque: 1, extFields: ext, serializeType: type)
        let back = try RemotingFrame.decode(RemotingFrame.encode(cmd))
        #expect(back.extFields == ext)
        for (i, e) in ext.entries.enumerated() {
            #expect(back.allFields.key(at: i) == e.key && back.allFields.value(at: i) == e.value)
            #expect(back.allFields.valueUTF8(at: i) == Array(e.value.utf8))
        }
    }

    /// The usual binary extFields block is read in one pass, its entries gathered 24 at a time: for 0 to 60
    /// entries (a repeated key among them, which binary headers allow) the decoded map is the one encoded, in order.
    @Test func binaryBlockOfManyEntriesReadsBack() throws {
        for n in 0...60 {
            var ext = ExtFields()
            for i in 0..<n { ext.append("key\(i)", "value \(i)") }
            if n > 30 { ext.append("key2", "again") }
            let cmd = RemotingCommand.request(code: 11, opaque: Int32(n), extFields: n == 0 ? nil : ext, serializeType: .rocketmq)
            let back = try RemotingFrame.decode(RemotingFrame.encode(cmd))
            #expect(back.extFields == (n == 0 ? nil : ext), "\(n) entries")
            #expect(back.allFields.count == ext.count)
        }
    }

    /// Garbage and mutated frames: both paths fail the same way (or agree), and nothing traps.
    @Test func hostileInputs() throws {
        var rng = SplitMix64(seed: 0xBAD)
        var seeds: [[UInt8]] = []
        for _ in 0..<50 {
            let cmd = Self.randomHeaderCommand(&rng)
            let buf = RemotingFrame.encode(cmd)
            seeds.append(buf.getBytes(at: 0, length: buf.readableBytes) ?? [])
        }
        for hex in [Vectors.cap8, Vectors.cap11, Vectors.jarp, Vectors.jarc, Vectors.cap12] { seeds.append(bytes(hex: hex)) }
        for _ in 0..<6000 {
            var b = seeds.randomElement(using: &rng) ?? []
            switch Int.random(in: 0..<5, using: &rng) {
            case 0:  // flip bytes after the prefix
                for _ in 0..<Int.random(in: 1...4, using: &rng) where b.count > 8 {
                    b[Int.random(in: 8..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
            case 1:  // truncate the header (fix up the lengths)
                if b.count > 9 {
                    let word = UInt32(b[4]) << 24 | UInt32(b[5]) << 16 | UInt32(b[6]) << 8 | UInt32(b[7])
                    let h = Int(word & 0xFF_FFFF)
                    let cut = Int.random(in: 0...h, using: &rng)
                    let header = Array(b[8..<(8 + cut)])
                    b = (Self.frame(type: UInt8(word >> 24), header: header)).getBytes(at: 0, length: 8 + cut) ?? []
                }
            case 2:  // random garbage header
                let header = (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                let f = Self.frame(type: UInt8.random(in: 0...1, using: &rng), header: header)
                b = f.getBytes(at: 0, length: f.readableBytes) ?? []
            case 3:  // random lengths
                if b.count >= 8 {
                    for i in 0..<8 where Int.random(in: 0..<4, using: &rng) == 0 { b[i] = UInt8.random(in: 0...255, using: &rng) }
                }
            default:  // truncate the frame itself
                b = Array(b.prefix(Int.random(in: 0...b.count, using: &rng)))
            }
            let rc: Int32? = Bool.random(using: &rng) ? Self.requestCodes.randomElement(using: &rng) : nil
            Self.check(ByteBuffer(bytes: b), requestCode: rc)
        }
    }

    /// The binary extFields block read in one piece when it is all ASCII and well formed, entry by entry
    /// otherwise: both give the entries as written, in order (duplicates kept), and a block whose entry lengths
    /// run past its end is an error, never a crash or a short list.
    @Test(arguments: [
        [("topic", "T"), ("queueId", "3")],
        [("k", String(repeating: "v", count: 127)), ("k", "again")],  // length bytes still ASCII; a duplicate key
        [("k", String(repeating: "v", count: 200)), ("x", "1")],  // a length byte >= 0x80: entry by entry
        [("clé", "valeur"), ("topic", "é")],  // non-ASCII text
        [("", ""), ("e", "")],  // empty key and value
    ])
    func binaryBlockEntries(_ entries: [(String, String)]) throws {
        func header(_ block: [UInt8], declared: Int? = nil) -> [UInt8] {
            var h: [UInt8] = [0, 11, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0]  // code, lang, version, opaque, flag, remark
            let n = UInt32(declared ?? block.count)
            h += [UInt8(n >> 24), UInt8((n >> 16) & 0xFF), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF)]
            return h + block
        }
        var block: [UInt8] = []
        for (k, v) in entries {
            block += [UInt8(k.utf8.count >> 8), UInt8(k.utf8.count & 0xFF)] + Array(k.utf8)
            let n = UInt32(v.utf8.count)
            block += [UInt8(n >> 24), UInt8((n >> 16) & 0xFF), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF)] + Array(v.utf8)
        }
        let cmd = try RemotingFrame.decode(Self.frame(type: 1, header: header(block)))
        #expect(cmd.extFields?.entries.map { "\($0.key)=\($0.value)" } == entries.map { "\($0)=\($1)" })
        // Every shorter block (the header cut with it, its length saying so) ends inside an entry or between two.
        for cut in 0..<block.count {
            let short = Array(block.prefix(cut))
            let r = Result { try RemotingFrame.decode(Self.frame(type: 1, header: header(short))) }
            switch r {
            case .success(let c):
                // Only a cut between entries decodes, to the entries before it.
                let kept = c.extFields?.entries.count ?? 0
                #expect(kept < entries.count)
                #expect(c.extFields?.entries.map { "\($0.key)=\($0.value)" } ?? [] == entries.prefix(kept).map { "\($0)=\($1)" })
            case .failure(let e):
                #expect("\(e)".contains("extFields"), "cut \(cut): \(e)")
            }
        }
    }
}
