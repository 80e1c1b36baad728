import Foundation
import NIOCore
import Testing
@testable import RocketMQRemoting

/// The one command model: lazy extFields views against the eager map, generated headers against Java
/// HashMap order simulated independently, the binary 16-bit code, stored records as views.
@Suite struct CodecModelTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static let vectorFrames = [Vectors.cap1, Vectors.cap2, Vectors.cap3, Vectors.cap4, Vectors.cap5, Vectors.cap6,
                               Vectors.cap7, Vectors.cap8, Vectors.cap9, Vectors.cap10, Vectors.cap11, Vectors.cap12,
                               Vectors.cap13, Vectors.jara, Vectors.jarb1, Vectors.jarb2, Vectors.jarc, Vectors.jarc3,
                               Vectors.jarp, Vectors.jarev]

    // MARK: generator

    static func runScript(_ name: String) throws -> (status: Int32, output: String)? {
        let python = ["/usr/bin/python3", "/usr/local/bin/python3"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let python else { return nil }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [Self.root.appendingPathComponent("scripts/\(name)").path, "--check"]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        p.waitUntilExit()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (p.terminationStatus, out)
    }

    @Test func committedGeneratedFilesEqualWhatTheScriptsGenerate() throws {
        for script in ["gen-headers.py", "java-hashmap-order.py"] {
            guard let (status, output) = try Self.runScript(script) else {
                print("python3 not found: skipping the committed-equals-generated check of \(script)")
                return
            }
            #expect(status == 0, "\(script) --check: \(output)")
        }
    }

    // MARK: headers against the simulated Java HashMap

    static func decode(_ v: HeaderOrderVector, _ fields: ExtFields) throws -> any CustomHeader {
        if v.v2 { return try SendMessageRequestHeader(extFields: fields, v2: true) }
        return try v.type.init(extFields: fields)
    }

    static func encode(_ h: any CustomHeader, v2: Bool) -> ExtFields {
        if v2, let s = h as? SendMessageRequestHeader { return s.v2ExtFields }
        return h.extFields
    }

    @Test func everyHeaderEncodesInJavaHashMapOrder() throws {
        #expect(headerOrderVectors.count >= 37)
        for v in headerOrderVectors {
            let name = "\(v.type)\(v.v2 ? " V2" : "")"
            // A Java-shaped map: the keys in HashMap order, plus a key no header declares.
            let values = Dictionary(v.full, uniquingKeysWith: { a, _ in a })
            var javaShaped = ExtFields(v.fullOrder.map { (key: $0, value: values[$0]!) })
            javaShaped.append("bname", "broker-a")
            let h = try Self.decode(v, javaShaped)
            #expect(h.extra == ExtFields([(key: "bname", value: "broker-a")]), "\(name)")
            let encoded = Self.encode(h, v2: v.v2)
            #expect(encoded.entries.map(\.key) == v.fullOrder + ["bname"], "\(name)")
            #expect(encoded == javaShaped, "\(name): values survive the round trip")
            // Decoding does not depend on the order of the map.
            let declared = try Self.decode(v, ExtFields(v.full.map { (key: $0.0, value: $0.1) }))
            #expect(Self.encode(declared, v2: v.v2).entries.map(\.key) == v.fullOrder, "\(name)")

            // Required fields only: the fields with a Java default are written too, in HashMap order.
            let minimal = try Self.decode(v, ExtFields(v.minimal.map { (key: $0.0, value: $0.1) }))
            #expect(Self.encode(minimal, v2: v.v2).entries.map(\.key) == v.minimalOrder, "\(name)")
            // Each required field, left out, is the error Java gives.
            for (key, _) in v.minimal {
                let without = ExtFields(v.minimal.filter { $0.0 != key }.map { (key: $0.0, value: $0.1) })
                do {
                    _ = try Self.decode(v, without)
                    Issue.record("\(name) decoded without \(key)")
                } catch let e as RemotingDecodingError {
                    #expect(e.reason == .missingField(field: key), "\(name): \(e)")
                }
            }
            // The same header from the bytes of a frame (both serializations) as from the map.
            for type in [SerializeType.json, .rocketmq] {
                let frame = RemotingFrame.encode(RemotingCommand.request(code: 1, opaque: 1, extFields: javaShaped, serializeType: type))
                let cmd = try RemotingFrame.decode(frame)
                let fromWire: any CustomHeader = v.v2 ? try SendMessageRequestHeader(fields: cmd.fields!, v2: true)
                    : try v.type.init(fields: cmd.fields!)
                #expect(Self.encode(fromWire, v2: v.v2) == encoded, "\(name) \(type)")
            }
        }
    }

    @Test func integerAndBooleanFieldsFollowJava() throws {
        // Integer.parseInt / Long.parseLong / Boolean.parseBoolean.
        var e: ExtFields = ["consumerGroup": "g", "topic": "t", "queueId": "+3", "maxMsgNums": "32", "invisibleTime": "-1",
                            "pollTime": "15000", "bornTime": "1", "initMode": "0", "order": "TRUE"]
        let pop = try PopMessageRequestHeader(extFields: e)
        #expect(pop.queueId == 3 && pop.invisibleTime == -1 && pop.order && pop.expType == nil)
        e["order"] = "yes"
        #expect(try PopMessageRequestHeader(extFields: e).order == false)
        e["queueId"] = "2147483648"
        #expect(throws: RemotingDecodingError.self) { try PopMessageRequestHeader(extFields: e) }
        e["queueId"] = "1"
        e["pollTime"] = "1.5"
        do {
            _ = try PopMessageRequestHeader(extFields: e)
            Issue.record("1.5 parsed as a Long")
        } catch let err as RemotingDecodingError {
            #expect(err.reason == .invalidField(field: "pollTime", value: "1.5", expected: "a Long"))
            #expect(err.context == "PopMessageRequestHeader")
        }
    }

    @Test func newHeadersAreWiredToTheirCodes() throws {
        func request(_ code: Int32, _ ext: ExtFields) throws -> TypedHeader? {
            let frame = RemotingFrame.encode(RemotingCommand.request(code: code, opaque: 7, extFields: ext))
            return try RemotingFrame.decode(frame).typedHeader()
        }
        let q: ExtFields = ["consumerGroup": "g", "topic": "t", "queueId": "1"]
        guard case .pollingInfo(let pi)? = try request(RequestCode.pollingInfo, q) else { Issue.record("POLLING_INFO"); return }
        #expect(pi.topic == "t" && pi.queueId == 1)
        var ack = q
        ack["extraInfo"] = "0 1 2 3 0 broker-a 1 5"
        ack["offset"] = "5"
        guard case .ackMessage(let a)? = try request(RequestCode.ackMessage, ack) else { Issue.record("ACK_MESSAGE"); return }
        #expect(a.offset == 5 && a.extraInfo.hasPrefix("0 1"))
        let create: ExtFields = ["topic": "T", "defaultTopic": "TBW102", "readQueueNums": "8", "writeQueueNums": "8",
                                 "perm": "6", "topicFilterType": "SINGLE_TAG", "order": "false"]
        guard case .createTopic(let c)? = try request(RequestCode.updateAndCreateTopic, create) else { Issue.record("17"); return }
        #expect(c.readQueueNums == 8 && c.perm == 6 && c.order == false && c.topicSysFlag == nil)
        let view: ExtFields = ["offset": "830510"]
        guard case .viewMessage(let vm)? = try request(RequestCode.viewMessageById, view) else { Issue.record("33"); return }
        #expect(vm.offset == 830_510)
        let reg: ExtFields = ["brokerName": "broker-a", "brokerAddr": "10.0.0.2:10911", "clusterName": "DefaultCluster",
                              "haServerAddr": "10.0.0.2:10912", "brokerId": "0", "compressed": "false", "bodyCrc32": "1234"]
        guard case .registerBroker(let rb)? = try request(RequestCode.registerBroker, reg) else { Issue.record("103"); return }
        #expect(rb.bodyCrc32 == 1234 && rb.compressed == false && rb.brokerId == 0)

        // Responses by the request they answer.
        let popResponse: ExtFields = ["popTime": "1", "invisibleTime": "60000", "reviveQid": "3", "restNum": "0"]
        guard case .popMessageResponse(let pr)? = try TypedHeader.decodeResponse(
            requestCode: RequestCode.popMessage, responseCode: ResponseCode.pullNotFound, extFields: popResponse) else {
            Issue.record("POP response"); return
        }
        #expect(pr.reviveQid == 3 && pr.invisibleTime == 60_000)
        guard case .earliestMsgStoretimeResponse(let et)? = try TypedHeader.decodeResponse(
            requestCode: RequestCode.getEarliestMsgStoretime, responseCode: 0, extFields: ["timestamp": "42"]) else {
            Issue.record("32 response"); return
        }
        #expect(et.timestamp == 42)

        // The consume-flow keys, one protocol for every header.
        let pull = TypedHeader.pullMessage(PullMessageRequestHeader(consumerGroup: "g", topic: "t", queueId: 2, queueOffset: 0,
                                                                    sysFlag: [], commitOffset: 0, subVersion: 0))
        #expect(pull.topic == "t" && pull.consumerGroup == "g" && pull.queueId == 2 && pull.clientID == nil)
        let back = TypedHeader.consumerSendMsgBack(ConsumerSendMsgBackRequestHeader(offset: 1, group: "g", delayLevel: 0,
                                                                                    originTopic: "o"))
        #expect(back.topic == "o" && back.group == "g")
        let unregister = TypedHeader.unregisterClient(UnregisterClientRequestHeader(clientID: "c", producerGroup: "p"))
        #expect(unregister.clientID == "c" && unregister.group == "p" && unregister.consumerGroup == nil)
        #expect(TypedHeader.getConsumerRunningInfo(GetConsumerRunningInfoRequestHeader(consumerGroup: "g", clientId: "id")).clientID == "id")
    }

    // MARK: 16-bit codes in the binary header

    @Test func popCodesSurviveTheBinaryHeader() throws {
        let ext: ExtFields = ["consumerGroup": "g", "topic": "t", "queueId": "-1", "maxMsgNums": "32", "invisibleTime": "60000",
                              "pollTime": "15000", "bornTime": "1", "initMode": "0"]
        for code in [RequestCode.popMessage, RequestCode.ackMessage, RequestCode.batchAckMessage] {
            let cmd = RemotingCommand.request(code: code, opaque: 9, extFields: ext, serializeType: .rocketmq)
            let frame = RemotingFrame.encode(cmd)
            // Java writes (short)code: 200050 → 3442.
            #expect(frame.getInteger(at: 8, as: Int16.self) == Int16(truncatingIfNeeded: code))
            let back = try RemotingFrame.decode(frame)
            #expect(back.code == code && back.codeName == RequestCode.name(code))
            #expect(RemotingFrame.encode(back) == frame)
        }
        // A response keeps the value as Java reads it.
        let response = RemotingCommand(code: 3442, opaque: 9, flag: RemotingCommand.responseFlag, serializeType: .rocketmq)
        #expect(try RemotingFrame.decode(RemotingFrame.encode(response)).code == 3442)
        // Every code of the table beyond 16 bits truncates into the range the decoder checks.
        for info in RequestCode.all where info.code > Int32(Int16.max) {
            let raw = Int16(truncatingIfNeeded: info.code)
            #expect(Int32(raw) >= RequestCode.widenedLow && Int32(raw) <= RequestCode.widenedHigh, "\(info.name)")
            #expect(RequestCode.fromBinary16(raw) == info.code)
            #expect(RequestCode.info(Int32(raw)) == nil)
        }
        for raw in [Int16(10), 11, 310, -1, .min, .max, 3441, 3544] { #expect(RequestCode.fromBinary16(raw) == Int32(raw)) }
    }

    // MARK: lazy view against the eager map

    static func checkViews(_ frame: ByteBuffer, sourceLocation: SourceLocation = #_sourceLocation) {
        guard let cmd = try? RemotingFrame.decode(frame) else { return }
        let eager = cmd.extFields
        #expect(cmd.hasExtFields == (eager != nil), sourceLocation: sourceLocation)
        guard let view = cmd.fields, let eager else {
            #expect(cmd.fields == nil && cmd.extFieldsCount == 0, sourceLocation: sourceLocation)
            return
        }
        #expect(view.count == eager.count && cmd.extFieldsCount == eager.count, sourceLocation: sourceLocation)
        for (i, e) in eager.entries.enumerated() {
            #expect(view.key(at: i) == e.key && view.value(at: i) == e.value, sourceLocation: sourceLocation)
            #expect(view.keyUTF8(at: i) == Array(e.key.utf8) && view.valueUTF8(at: i) == Array(e.value.utf8),
                    sourceLocation: sourceLocation)
            #expect(view[e.key] == eager[e.key] && cmd.extField(e.key) == eager[e.key], sourceLocation: sourceLocation)
        }
        #expect(Array(view.map(\.key)) == eager.entries.map(\.key), sourceLocation: sourceLocation)
        #expect(view["no such key"] == nil, sourceLocation: sourceLocation)
        // The eager map made a view again, and the command detached from the frame, are the same command.
        #expect(ExtFieldsView(eager).extFields == eager, sourceLocation: sourceLocation)
        let detached = cmd.detached()
        #expect(detached == cmd && RemotingFrame.encode(detached) == RemotingFrame.encode(cmd), sourceLocation: sourceLocation)
        var owned = cmd
        owned.extFields = eager
        #expect(RemotingFrame.encode(owned) == RemotingFrame.encode(cmd), sourceLocation: sourceLocation)
        // Typed headers from the view and from the map agree, for every code we decode.
        for code in FastPathTests.requestCodes + [RequestCode.popMessage, RequestCode.updateAndCreateTopic, RequestCode.registerBroker] {
            let a = Result { try TypedHeader.decodeRequest(code: code, fields: view) }
            let b = Result { try TypedHeader.decodeRequest(code: code, extFields: eager) }
            switch (a, b) {
            case (.success(let x), .success(let y)): #expect(x == y, sourceLocation: sourceLocation)
            case (.failure(let x), .failure(let y)): #expect("\(x)" == "\(y)", sourceLocation: sourceLocation)
            default: Issue.record("view and map disagree on code \(code): \(a) \(b)", sourceLocation: sourceLocation)
            }
        }
    }

    @Test func lazyAndEagerViewsAgreeOnEveryVector() throws {
        for hex in Self.vectorFrames {
            let frame = buffer(hex: hex)
            Self.checkViews(frame)
            // And the vector still re-encodes byte for byte from the lazy command.
            #expect(RemotingFrame.encode(try RemotingFrame.decode(frame)) == frame)
        }
    }

    @Test func lazyAndEagerViewsAgreeOnRandomFrames() throws {
        var rng = SplitMix64(seed: 0x1A2F)
        for _ in 0..<1500 {
            Self.checkViews(RemotingFrame.encode(FastPathTests.randomHeaderCommand(&rng)))
            Self.checkViews(RemotingFrame.encode(RoundTripTests.randomCommand(&rng)))
        }
        // JSON headers with escapes, numbers and nested values in extFields.
        for text in [#"{"code":11,"extFields":{"topi\u0063":"T","n":1,"b":true,"o":{"a":[1,2]},"e":"a\nb","k":"é"},"flag":0}"#,
                     #"{"code":14,"extFields":{"\u0074opic":"x","queueId":"1","consumerGroup":"g"},"flag":0}"#] {
            Self.checkViews(FastPathTests.frame(type: 0, header: Array(text.utf8)))
        }
    }

    // MARK: stored records

    static func body(_ hex: String) -> ByteBuffer {
        let frame = buffer(hex: hex)
        if let cmd = try? RemotingFrame.decode(frame), let body = cmd.body { return body }
        return frame
    }

    /// A host is a value: its address bytes round-trip, IPv6 by its 16 bytes, anything else as IPv4 (the first
    /// four bytes, missing ones zero), and a record keeps it through encoding and decoding.
    @Test func messageHostsAreValuesThatRoundTrip() throws {
        let v4 = MessageHost(address: [10, 0, 0, 2], port: 10_911)
        #expect(v4 == MessageHost(ipv4: 0x0A00_0002, port: 10_911) && !v4.isIPv6 && v4.addressCount == 4)
        #expect(v4.address == [10, 0, 0, 2] && v4.description == "10.0.0.2:10911")
        let v6 = MessageHost(address: Array(0..<16), port: 1)
        #expect(v6.isIPv6 && v6.addressCount == 16 && v6.address == Array(0..<16))
        #expect(v6.description == "[1:203:405:607:809:a0b:c0d:e0f]:1")
        #expect(MessageHost(address: [1, 2, 3], port: 5).address == [1, 2, 3, 0])
        var changed = v4
        changed.address = Array(0..<16)
        #expect(changed == MessageHost(ipv6High: v6.high, low: v6.low, port: 10_911))
        #expect(MessageId.decode(MessageId.make(host: v6, physicalOffset: 77))! == (v6, 77))
        var ids: [UInt8] = Array("x,".utf8)
        MessageId.append(host: v4, physicalOffset: -2, to: &ids)
        MessageId.append(host: v6, physicalOffset: 1 << 40, to: &ids)
        #expect(String(decoding: ids, as: UTF8.self)
                == "x," + MessageId.make(host: v4, physicalOffset: -2) + MessageId.make(host: v6, physicalOffset: 1 << 40))
        // Records of one topic, then another: each decoded record has its own topic, equal to the view's.
        var body = ByteBuffer()
        let topics = ["SharedTopicNameLongerThanFifteen", "SharedTopicNameLongerThanFifteen", "OtherTopicOfTheSameLengthXXXXXXX",
                      "SharedTopicNameLongerThanFifteen", "short"]
        for (i, t) in topics.enumerated() {
            StoredMessageDecoder.encode(queueId: 0, queueOffset: Int64(i), physicalOffset: Int64(i) * 100, bornTimestamp: 1,
                                        bornHost: i % 2 == 0 ? v6 : v4, storeTimestamp: 2, storeHost: i % 2 == 0 ? v4 : v6,
                                        body: [UInt8(i)], topic: t, propertiesText: "", into: &body)
        }
        let batch = StoredMessageDecoder.decodeAll(body)
        #expect(batch.error == nil && batch.messages.map(\.topic) == topics)
        #expect(batch.messages.map(\.bornHost) == topics.indices.map { $0 % 2 == 0 ? v6 : v4 })
        #expect(batch.messages.map(\.storeHost) == topics.indices.map { $0 % 2 == 0 ? v4 : v6 })
    }

    /// A batch body read in place: the layouts point at each record's body and properties, `decodeAll` gives the
    /// records encoded, every cut of the body is either whole records or an error, and bad properties (not UTF-8,
    /// a negative length) are errors that name them.
    @Test func batchBodiesAreScannedInPlace() throws {
        let records = (0..<4).map { i in
            BatchMessageRecord(flag: Int32(i), body: (0..<(i * 7)).map { UInt8(truncatingIfNeeded: $0 &+ i) },
                               propertiesText: i == 2 ? "" : MessageProperties.encode([("UNIQ_KEY", "U\(i)"), ("KEYS", "k é \(i)")]))
        }
        let body = Array(BatchMessageRecord.encodeAll(records).readableBytesView)
        let layouts = try body.withUnsafeBytes { try BatchMessageRecord.scanAll($0) }
        #expect(layouts.map(\.flag) == records.map(\.flag))
        #expect(layouts.map { Array(body[$0.body]) } == records.map(\.body))
        #expect(layouts.map { String(decoding: body[$0.properties], as: UTF8.self) } == records.map(\.propertiesText))
        #expect(try body.withUnsafeBytes { try BatchMessageRecord.decodeAll($0) } == records)
        // Every cut: whole records (the ones before the cut) or an error, never a crash.
        let ends = layouts.map { $0.properties.upperBound }
        for n in 0..<body.count {
            let cut = Array(body[..<n])
            let result = Result { try cut.withUnsafeBytes { try BatchMessageRecord.scanAll($0) } }
            if n == 0 || ends.contains(n) {
                #expect((try? result.get())?.count == ends.filter { $0 <= n }.count, "cut at \(n)")
            } else {
                #expect(throws: RemotingDecodingError.self, "cut at \(n)") { try result.get() }
            }
        }
        // Properties that are not UTF-8, and a negative properties length.
        var bad = body
        bad[layouts[0].properties.lowerBound] = 0xFF
        #expect { try bad.withUnsafeBytes { try BatchMessageRecord.scanAll($0) } } throws: { e in
            "\(e)".contains("PROPERTIES")
        }
        var negative = body
        negative[layouts[0].properties.lowerBound - 2] = 0x80
        #expect { try negative.withUnsafeBytes { try BatchMessageRecord.scanAll($0) } } throws: { e in
            "\(e)".contains("PROPERTIES")
        }
    }

    @Test func storedRecordViewsEqualTheEagerRecords() throws {
        var bodies = [Self.body(Vectors.cap11), buffer(hex: Vectors.cap14body), buffer(hex: Vectors.jard), buffer(hex: Vectors.jare)]
        var rng = SplitMix64(seed: 0x5EED)
        for n in 1...6 {
            var b = ByteBuffer()
            for i in 0..<n {
                let v6 = Bool.random(using: &rng)
                let host = v6 ? MessageHost(address: (0..<16).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ i) }, port: 10_911)
                    : MessageHost(address: [10, 0, UInt8(i), 1], port: Int32.random(in: 1...65_535, using: &rng))
                let props = MessageProperties.encode([(key: "TAGS", value: "T\(i)"), (key: "KEYS", value: "k\(i) é"),
                                                      (key: "UNIQ_KEY", value: "U\(i)")], trailingSeparator: Bool.random(using: &rng))
                StoredMessageDecoder.encode(queueId: Int32(i), queueOffset: Int64(i) * 3, physicalOffset: 1_000 + Int64(i),
                                            bornTimestamp: 1, bornHost: host, storeTimestamp: 2, storeHost: host,
                                            body: (0..<Int.random(in: 0...300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) },
                                            topic: String(repeating: "t", count: Int.random(in: 1...200, using: &rng)),
                                            propertiesText: props, into: &b)
            }
            bodies.append(b)
        }
        for body in bodies {
            let eager = StoredMessageDecoder.decodeAll(body)
            let (views, error) = StoredMessageRecords.all(body)
            #expect(error == eager.error && views.count == eager.messages.count)
            for (v, m) in zip(views, eager.messages) {
                #expect(try v.decoded() == m)
                #expect(v.queueId == m.queueId && v.queueOffset == m.queueOffset && v.physicalOffset == m.physicalOffset)
                #expect(v.bornHost == m.bornHost && v.storeHost == m.storeHost)
                #expect(v.bornHost.description == m.bornHost.description)
                #expect(v.topic == m.topic && v.propertiesText == m.propertiesText && v.crcMatches == m.crcMatches)
                #expect(v.tags == m.tags && v.keys == m.keys && v.uniqKey == m.uniqKey && v.msgId == m.msgId)
                #expect(Array(v.storedBody.readableBytesView) == m.storedBody && v.offsetMsgId == m.offsetMsgId)
                #expect(v.property("WAIT") == m.property["WAIT"])
            }
        }
        // Hostile bodies: the views stop where the eager decoder stops, with the same error.
        for _ in 0..<800 {
            var b = Array(bodies.randomElement(using: &rng)!.readableBytesView)
            for _ in 0..<Int.random(in: 1...3, using: &rng) where !b.isEmpty { b[Int.random(in: 0..<b.count, using: &rng)] = .random(in: 0...255, using: &rng) }
            if Bool.random(using: &rng) { b = Array(b.prefix(Int.random(in: 0...b.count, using: &rng))) }
            let body = ByteBuffer(bytes: b)
            let eager = StoredMessageDecoder.decodeAll(body)
            let (views, error) = StoredMessageRecords.all(body)
            if eager.error?.reason.isDecompression != true {
                #expect(error == eager.error)
                #expect(views.count == eager.messages.count)
            }
        }
    }

    @Test func crcSlicingByEightEqualsTheBitwiseCRC() {
        func bitwise(_ bytes: [UInt8]) -> UInt32 {
            var c: UInt32 = 0xFFFF_FFFF
            for b in bytes {
                c ^= UInt32(b)
                for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            }
            return c ^ 0xFFFF_FFFF
        }
        var rng = SplitMix64(seed: 0xC7C)
        for n in Array(0...40) + [63, 64, 65, 1000] {
            let bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            #expect(CRC32.checksum(bytes) == bitwise(bytes))
        }
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
    }
}

/// A header written by hand still conforms: the new requirements have defaults.
struct HandWrittenHeader: CustomHeader {
    static let javaName = "HandWrittenHeader"
    var topic: String
    var extra = ExtFields()
    init(extFields: ExtFields) throws {
        topic = extFields["topic"] ?? ""
        extra = ExtFields(extFields.entries.filter { $0.key != "topic" })
    }
    var declaredFields: [(key: String, value: String)] { [(key: "topic", value: topic)] }
}

extension CodecModelTests {
    @Test func handWrittenHeadersKeepWorking() throws {
        let h = try HandWrittenHeader(fields: ExtFieldsView(["x": "1", "topic": "T"]))
        #expect(h.topic == "T" && h.extra == ["x": "1"] && h.extFields == ["topic": "T", "x": "1"])
        #expect(h.displayFields.map(\.key) == ["topic"] && h.flowTopic == nil)
    }
}

extension RemotingDecodingError.Reason {
    var isDecompression: Bool {
        if case .decompression = self { return true }
        return false
    }
}

@Suite struct PropertyScanTests {
    /// The in-place scan (the broker reads TAGS with it on each send) agrees with parsing the whole text: the last
    /// non-empty occurrence wins, a key must start its entry.
    @Test(arguments: [
        ("TAGS\u{1}TagA\u{2}KEYS\u{1}k1", "TagA"),
        ("KEYS\u{1}k1\u{2}TAGS\u{1}TagB", "TagB"),
        ("TAGS\u{1}one\u{2}TAGS\u{1}two\u{2}", "two"),
        ("XTAGS\u{1}no\u{2}TAGSX\u{1}no", nil),
        ("TAGS\u{1}\u{2}WAIT\u{1}true", nil),
        ("TAGS\u{1}A\u{2}TAGS\u{1}", "A"),
        ("TAGS", nil),
        ("", nil),
        ("UNIQ_KEY\u{1}7F00\u{2}TAGS\u{1}Tag\u{1}A", "Tag\u{1}A"),
    ] as [(String, String?)])
    func valueOfOneKey(text: String, expected: String?) {
        #expect(MessageProperties.value(of: "TAGS", in: text) == expected)
        #expect(MessageProperties.value(of: "TAGS", in: text) == MessageProperties.parse(text).last { $0.key == "TAGS" }?.value)
    }

    /// Random texts of keys, separators, CR, LF and non-ASCII pieces: the scan (which `StoredMessage.property`,
    /// its `tags`, `keys` and `uniqKey`, and the views' lookups use) gives what the full parse gives, for every key.
    @Test func scanEqualsTheParseOnRandomTexts() {
        var rng = SplitMix64(seed: 0x9A7)
        let pieces = ["K", "KK", "ab", "\u{1}", "\u{2}", "\u{1}", "\u{2}", "v", "\r", "\n", "\r\n", "é", "e\u{301}", "TAGS", "x"]
        let keys = ["K", "KK", "ab", "TAGS", "", "é", "K\u{1}", "v", "\r"]
        for _ in 0..<3_000 {
            let text = (0..<Int.random(in: 0...14, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined()
            let parsed = MessageProperties.parse(text)
            for key in keys {
                #expect(MessageProperties.value(of: key, in: text) == parsed.last { $0.key == key }?.value, "\(Array(text.utf8)) \(key)")
            }
            var record = ByteBuffer()
            let host = MessageHost(address: [127, 0, 0, 1], port: 10_911)
            StoredMessageDecoder.encode(queueId: 0, queueOffset: 0, physicalOffset: 0, bornTimestamp: 1, bornHost: host, storeTimestamp: 2,
                                        storeHost: host, body: [1], topic: "t", propertiesText: text, into: &record)
            let m = StoredMessageDecoder.decodeAll(record).messages[0]
            #expect(m.tags == parsed.last { $0.key == "TAGS" }?.value && m.properties.map(\.key) == parsed.map(\.key))
        }
    }
}
