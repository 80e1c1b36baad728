import NIOCore
import Testing
@testable import RocketMQRemoting

/// PROTOCOL.md section 8: real frames decode to the documented fields, and encoding the decoded command
/// gives the same bytes back (Java produced them).
@Suite struct KnownAnswerTests {
    static let captures: [(String, String)] = [
        ("CAP-1", Vectors.cap1), ("CAP-2", Vectors.cap2), ("CAP-3", Vectors.cap3), ("CAP-4", Vectors.cap4),
        ("CAP-5", Vectors.cap5), ("CAP-6", Vectors.cap6), ("CAP-7", Vectors.cap7), ("CAP-8", Vectors.cap8),
        ("CAP-9", Vectors.cap9), ("CAP-10", Vectors.cap10), ("CAP-11", Vectors.cap11), ("CAP-12", Vectors.cap12),
        ("CAP-13", Vectors.cap13),
        ("JAR-A", Vectors.jara), ("JAR-B1", Vectors.jarb1), ("JAR-B2", Vectors.jarb2), ("JAR-C", Vectors.jarc),
        ("JAR-C3", Vectors.jarc3), ("JAR-P", Vectors.jarp), ("JAR-EV", Vectors.jarev),
    ]

    @Test(arguments: captures)
    func reencodesByteForByte(name: String, hex: String) throws {
        let cmd = try RemotingFrame.decode(buffer(hex: hex), context: name)
        let again = RemotingFrame.encode(cmd)
        #expect(hexString(again) == hex, "\(name) re-encoded differs")
    }

    @Test func cap1RouteRequest() throws {
        let cmd = try RemotingFrame.decode(buffer(hex: Vectors.cap1))
        #expect(cmd.code == 105 && cmd.codeName == "GET_ROUTEINFO_BY_TOPIC")
        #expect(cmd.serializeType == .json && cmd.kind == .request && cmd.opaque == 5729 && cmd.version == 293)
        #expect(cmd.language == .java && cmd.remark == nil && cmd.bodyLength == 0)
        guard case .getRouteInfo(let h)? = try TypedHeader.decodeRequest(code: cmd.code, extFields: cmd.extFields) else {
            Issue.record("no typed header"); return
        }
        #expect(h.topic == "TopicTest")
        #expect(MQVersion.name(cmd.version) == "V4_4_0")
    }

    @Test func cap2RouteResponseWithBareKeysAndSynFlag() throws {
        let cmd = try RemotingFrame.decode(buffer(hex: Vectors.cap2))
        #expect(cmd.isResponse && cmd.code == 0 && cmd.extFields == nil && cmd.bodyLength == 235)
        guard case .topicRoute(let route) = try DecodedBody.decode(cmd, requestCode: 105) else {
            Issue.record("no route"); return
        }
        #expect(route.brokerDatas.count == 1)
        #expect(route.brokerDatas[0].brokerName == "broker-a" && route.brokerDatas[0].cluster == "DefaultCluster")
        #expect(route.brokerDatas[0].masterAddress == "192.169.0.4:10911")
        #expect(route.queueDatas[0].readQueueNums == 4 && route.queueDatas[0].perm == 6 && route.queueDatas[0].spelledTopicSynFlag)
        #expect(route.subscribeQueues(topic: "TopicTest").map(\.queueId) == [0, 1, 2, 3])
    }

    @Test func cap3HeartbeatBody() throws {
        let cmd = try RemotingFrame.decode(buffer(hex: Vectors.cap3))
        #expect(cmd.code == 34 && cmd.extFields == nil && cmd.opaque == 267)
        guard case .heartbeat(let hb) = try DecodedBody.decode(cmd) else { Issue.record("no heartbeat"); return }
        #expect(hb.clientID == "192.169.0.5@8")
        #expect(hb.producerGroups == ["CLIENT_INNER_PRODUCER"])
        let c = try #require(hb.consumerDataSet.first)
        #expect(c.groupName == "please_rename_unique_group_name_4" && c.messageModel == "CLUSTERING")
        #expect(c.consumeFromWhere == "CONSUME_FROM_FIRST_OFFSET" && c.consumeType == "CONSUME_PASSIVELY")
        #expect(c.subscriptionDataSet.map(\.topic) == ["TopicTest", "%RETRY%please_rename_unique_group_name_4"])
        #expect(c.subscriptionDataSet[0].subVersion == 1_733_815_731_448)
        // Our encoder writes the same body text.
        #expect(hb.json.compactText == text(cmd.body))
    }

    @Test func cap5And6ConsumerList() throws {
        let req = try RemotingFrame.decode(buffer(hex: Vectors.cap5))
        guard case .getConsumerListByGroup(let h)? = try TypedHeader.decodeRequest(code: req.code, extFields: req.extFields) else {
            Issue.record("no header"); return
        }
        #expect(h.consumerGroup == "please_rename_unique_group_name_4")
        let resp = try RemotingFrame.decode(buffer(hex: Vectors.cap6))
        #expect(resp.extFields == ExtFields() && resp.opaque == req.opaque)
        #expect(try DecodedBody.decode(resp, requestCode: 38) == .consumerIdList(["192.169.0.5@8"]))
    }

    @Test func cap7OnewayOffsetUpdate() throws {
        let cmd = try RemotingFrame.decode(buffer(hex: Vectors.cap7))
        #expect(cmd.kind == .oneway && cmd.flag == 2)
        guard case .updateConsumerOffset(let h)? = try TypedHeader.decodeRequest(code: cmd.code, extFields: cmd.extFields) else {
            Issue.record("no header"); return
        }
        #expect(h.queueId == 3 && h.commitOffset == 904 && h.topic == "TopicTest")
        // Java HashMap order reproduces the wire order.
        #expect(h.extFields == cmd.extFields)
    }

    @Test func cap8PullRequest() throws {
        let cmd = try RemotingFrame.decode(buffer(hex: Vectors.cap8))
        guard case .pullMessage(let h)? = try TypedHeader.decodeRequest(code: cmd.code, extFields: cmd.extFields) else {
            Issue.record("no header"); return
        }
        #expect(h.queueId == 2 && h.queueOffset == 1154 && h.commitOffset == 1154 && h.maxMsgNums == 32)
        #expect(h.sysFlag == [.commitOffset, .suspend] && h.sysFlag.description == "COMMIT_OFFSET|SUSPEND")
        #expect(h.suspendTimeoutMillis == 15000 && h.subVersion == 1_733_815_731_448 && h.expressionType == "TAG")
        #expect(h.extFields == cmd.extFields, "HashMap order of PullMessageRequestHeader")
    }

    @Test func cap9PullNotFound() throws {
        let cmd = try RemotingFrame.decode(buffer(hex: Vectors.cap9))
        #expect(cmd.code == 19 && cmd.codeName == "PULL_NOT_FOUND" && cmd.remark == "OFFSET_OVERFLOW_ONE")
        guard case .pullMessageResponse(let h)? = try TypedHeader.decodeResponse(requestCode: 11, responseCode: cmd.code, extFields: cmd.extFields) else {
            Issue.record("no header"); return
        }
        #expect(h.nextBeginOffset == 1154 && h.maxOffset == 1154 && h.minOffset == 0 && h.suggestWhichBrokerId == 0)
    }

    @Test func cap11PullFoundWithStoredMessage() throws {
        let cmd = try RemotingFrame.decode(buffer(hex: Vectors.cap11))
        #expect(cmd.remark == "FOUND" && cmd.opaque == 250 && cmd.bodyLength == 178)
        guard case .messages(let batch) = try DecodedBody.decode(cmd, requestCode: 11) else { Issue.record("no messages"); return }
        #expect(batch.error == nil && batch.messages.count == 1)
        let m = try #require(batch.messages.first)
        #expect(m.totalSize == 178 && m.magicCode == StoredMessage.magicV1 && m.crcMatches)
        #expect(m.bodyCRC == 0x248c774f && m.queueId == 1 && m.queueOffset == 1154 && m.physicalOffset == 830510)
        #expect(m.bornTimestamp == 1_733_815_863_676 && m.bornHost.description == "192.169.0.6:52070")
        #expect(m.storeTimestamp == 1_733_815_863_683 && m.storeHost.description == "192.169.0.4:10911")
        #expect(m.body.bytes == Array("Hello RocketMQ 0".utf8) && m.topic == "TopicTest")
        #expect(m.properties.map(\.key) == ["UNIQ_KEY", "WAIT", "TAGS"] && m.tags == "TagA")
        #expect(m.offsetMsgId == "C0A9000400002A9F00000000000CAC2E")
        #expect(m.msgId == "C0A9000600086E0BE8582FF6317C0000")
    }

    @Test func cap12SendV2() throws {
        let cmd = try RemotingFrame.decode(buffer(hex: Vectors.cap12))
        guard case .sendMessage(let h, let v2)? = try TypedHeader.decodeRequest(code: cmd.code, extFields: cmd.extFields) else {
            Issue.record("no header"); return
        }
        #expect(v2 && h.producerGroup == "please_rename_unique_group_name" && h.topic == "TopicTest")
        #expect(h.defaultTopic == "TBW102" && h.defaultTopicQueueNums == 4 && h.bornTimestamp == 1_736_132_550_666)
        #expect(h.unitMode == false && h.batch == false && h.reconsumeTimes == 0)
        #expect(h.parsedProperties.map(\.key) == ["UNIQ_KEY", "WAIT", "TAGS"])
        #expect(text(cmd.body) == "Hello RocketMQ 0")
        #expect(SendMessageRequestHeader.longName(ofV2Key: "i") == "properties")
    }

    @Test func cap13SendResponse() throws {
        let cmd = try RemotingFrame.decode(buffer(hex: Vectors.cap13))
        guard case .sendMessageResponse(let h)? = try TypedHeader.decodeResponse(requestCode: 310, responseCode: 0, extFields: cmd.extFields) else {
            Issue.record("no header"); return
        }
        #expect(h.msgId == "0A0000B400002A9F00000000002EAF62" && h.queueOffset == 4249 && h.queueId == 0)
        #expect(h.extra["MSG_REGION"] == "DefaultRegion" && h.extra["TRACE_ON"] == "true")
        let id = try #require(MessageId.decode(h.msgId))
        #expect(id.host.description == "10.0.0.180:10911" && id.physicalOffset == 0x2EAF62)
        // What the embedded broker makes for that host and offset: the real broker's id.
        #expect(MessageId.make(host: id.host, physicalOffset: id.physicalOffset) == h.msgId)
        let v6 = MessageHost(address: Array(0..<16), port: 10911)
        #expect(MessageId.make(host: v6, physicalOffset: 0x2EAF62) == "000102030405060708090A0B0C0D0E0F00002A9F00000000002EAF62")
    }

    @Test func cap14RecordWithoutTrailingSeparator() throws {
        let batch = StoredMessageDecoder.decodeAll(buffer(hex: Vectors.cap14body))
        #expect(batch.error == nil)
        let m = try #require(batch.messages.first)
        #expect(m.totalSize == 279 && m.queueId == 3 && m.queueOffset == 29 && m.physicalOffset == 1_050_298 && m.crcMatches)
        #expect(m.bornHost.description == "10.0.0.45:55728" && m.storeHost.description == "10.96.56.216:10911")
        #expect(m.topic == "otel-demo-topic" && m.body.bytes == Array("Hello from OpenTelemetry at 1741316956010".utf8))
        #expect(m.properties.map(\.key) == ["traceparent", "UNIQ_KEY", "CLUSTER"])
        #expect(m.offsetMsgId == "0A6038D800002A9F00000000001006BA")
    }

    @Test func jarBinaryHeaders() throws {
        let a = try RemotingFrame.decode(buffer(hex: Vectors.jara))
        #expect(a.serializeType == .rocketmq && a.code == 105 && a.version == 401 && a.opaque == 1 && a.extFields?["topic"] == "TopicTest")
        let b1 = try RemotingFrame.decode(buffer(hex: Vectors.jarb1))
        #expect(b1.isResponse && b1.opaque == 7)
        #expect(try TypedHeader.decodeResponse(requestCode: 14, responseCode: 0, extFields: b1.extFields) == .offsetResponse(.init(offset: 1154)))
        let b2 = try RemotingFrame.decode(buffer(hex: Vectors.jarb2))
        #expect(b2.code == 22 && b2.codeName == "QUERY_NOT_FOUND" && b2.remark == "Not found" && b2.extFields == nil)
        let c = try RemotingFrame.decode(buffer(hex: Vectors.jarc))
        #expect(c.kind == .oneway)
        // The typed header produces Java's HashMap order: queueId, commitOffset, topic, consumerGroup.
        let h = UpdateConsumerOffsetRequestHeader(consumerGroup: "G1", topic: "T1", queueId: 3, commitOffset: 904)
        #expect(h.extFields.entries.map(\.key) == ["queueId", "commitOffset", "topic", "consumerGroup"])
        var built = RemotingCommand.request(code: 15, opaque: 9, extFields: h.extFields, oneway: true, serializeType: .rocketmq)
        built.version = 401
        #expect(hexString(RemotingFrame.encode(built)) == Vectors.jarc)
        let c3 = try RemotingFrame.decode(buffer(hex: Vectors.jarc3))
        #expect(text(c3.body) == "{}" && c3.extFields == nil)
        let ev = try RemotingFrame.decode(buffer(hex: Vectors.jarev))
        #expect(ev.remark == nil && ev.extFields?["k"] == "")
    }

    @Test func jarPullRequestBuiltFromTypedHeader() throws {
        let h = PullMessageRequestHeader(consumerGroup: "G1", topic: "T1", queueId: 0, queueOffset: 0, maxMsgNums: 32,
                                         sysFlag: .suspend, commitOffset: 0, suspendTimeoutMillis: 15000,
                                         subVersion: 1_700_000_000_000, expressionType: "TAG")
        let cmd = RemotingCommand.request(code: 11, opaque: 3, extFields: h.extFields, serializeType: .rocketmq)
        #expect(hexString(RemotingFrame.encode(cmd)) == Vectors.jarp)
        let decoded = try RemotingFrame.decode(buffer(hex: Vectors.jarp))
        #expect(try PullMessageRequestHeader(extFields: decoded.extFields ?? [:]) == h)
    }

    @Test func jarStoredRecords() throws {
        let d = StoredMessageDecoder.decodeAll(buffer(hex: Vectors.jard))
        let m = try #require(d.messages.first)
        #expect(d.error == nil && m.totalSize == 117 && m.properties.first?.key == "k" && m.crcMatches)
        #expect(m.offsetMsgId == "C0A8000400002A9F00000000000CAC2E")
        var out = ByteBuffer()
        StoredMessageDecoder.encode(queueId: 1, queueOffset: 1155, physicalOffset: 830510, bornTimestamp: 1_733_815_731_448,
                                    bornHost: m.bornHost, storeTimestamp: 1_733_815_731_450, storeHost: m.storeHost,
                                    body: Array("Hello RocketMQ".utf8), topic: "TopicTest", propertiesText: "k\u{01}v", into: &out)
        #expect(hexString(out) == Vectors.jard)

        let e = StoredMessageDecoder.decodeAll(buffer(hex: Vectors.jare))
        let m6 = try #require(e.messages.first)
        #expect(e.error == nil && m6.totalSize == 120 && m6.reconsumeTimes == 2 && m6.topic == "T6")
        #expect(m6.bornHost.description == "[0:0:0:0:0:0:0:1]:1234")
        #expect(m6.offsetMsgId == "FE80000000000000000000000000000100002A9F00000000002EAF62")
        #expect(CRC32.rocketmq(Array("Hello RocketMQ 0".utf8)) == 0x248c774f)
    }

    @Test func jarJsonBodies() throws {
        let f1 = try JSONParser.parse(Array(Vectors.jarf1.utf8), context: "F1")
        let route = try TopicRouteData(json: f1)
        #expect(route.brokerDatas[0].brokerAddrs.map(\.id) == [0, 1])
        #expect(route.json(standardJSON: false).compactText == Vectors.jarf1)
        #expect(route.json(standardJSON: true).compactText == Vectors.jarf2)

        let hb = SubscriptionData.tag(topic: "TopicTest", expression: "TagA || TagB", subVersion: 1_700_000_000_000)
        #expect(hb.codeSet == [2_598_919, 2_598_920])
        let data = HeartbeatData(clientID: "192.168.0.5@12345#1700000000000",
                                 consumerDataSet: [ConsumerData(groupName: "G1", consumeFromWhere: "CONSUME_FROM_LAST_OFFSET",
                                                                subscriptionDataSet: [hb])],
                                 producerGroups: ["CLIENT_INNER_PRODUCER"])
        #expect(data.json.compactText == Vectors.jarg)

        let lock = LockBatchRequestBody(consumerGroup: "G1", clientId: "192.168.0.5@12345#1700000000000",
                                        mqSet: [MessageQueue(topic: "TopicTest", brokerName: "broker-a", queueId: 0)])
        #expect(lock.json.compactText == Vectors.jarh)
        #expect(try LockBatchRequestBody(json: JSONParser.parse(Array(Vectors.jarh.utf8), context: "H")) == lock)

        let reset = try JSONParser.parse(Array(Vectors.jari.utf8), context: "I")
        let entry = try #require(reset["offsetTable"]?.objectMembers?.first)
        guard case .object = entry.key else { Issue.record("object key expected"); return }
        #expect(entry.value == .number("100"))
        #expect(reset.compactText == Vectors.jari)

        #expect(ConsumerIdList.json(["192.168.0.5@12345#1700000000000"]).compactText == Vectors.jark)
    }

    @Test func ut1HeaderWord() throws {
        var cmd = RemotingCommand.request(code: 1, opaque: 0)
        cmd.serializeType = .json
        #expect(RemotingFrame.encode(cmd).getInteger(at: 4, as: UInt32.self)! >> 24 == 0)
        #expect(try RemotingFrame.validatePrefix(length: 16_777_215 + 4, headerWord: 0x01FF_FFFF, maxFrameLength: Int.max) == 16_777_223)
    }

    @Test func ut6InconsistentRecordIsRejected() {
        let batch = StoredMessageDecoder.decodeAll(buffer(hex: Vectors.ut6))
        #expect(batch.messages.isEmpty)
        #expect(batch.error?.description.contains("record 0") == true)
    }

    @Test func allocationMessageIdsFromUnitTests() throws {
        let a = try #require(MessageId.decode("0AAF0895000078BF000000000009BB4A"))
        #expect(a.host.description == "10.175.8.149:30911" && a.physicalOffset == 637_770)
        let b = try #require(MessageId.decode("FDBDDC4100010136C800000000000024000078BF0000000000004F45"))
        #expect(b.host.port == 30911 && b.physicalOffset == 20293)
    }
}
