import Foundation
import NIOCore
@testable import RMQBroker
import RMQTraceModel
import RMQTrace
import RocketMQRemoting
import Testing

@Suite struct NameServerStateTests {
    func state() -> NameServerState {
        var ns = NameServerState()
        ns.registerBroker(cluster: "DefaultCluster", brokerName: "broker-a", brokerId: 0, address: "127.0.0.1:10911",
                          topics: [TopicConfig(topicName: "TopicTest"), TopicConfig(topicName: "TBW102", readQueueNums: 8, writeQueueNums: 8, perm: 7)])
        return ns
    }

    @Test func routeFoundStandardJSONForV494() throws {
        let r = try #require(state().handle(req(RequestCode.getRouteInfoByTopic, ["topic": "TopicTest"])))
        #expect(r.code == ResponseCode.success && r.remark == nil && r.extFields == nil)
        let text = String(decoding: Array(r.body!.readableBytesView), as: UTF8.self)
        #expect(text == #"{"brokerDatas":[{"brokerAddrs":{"0":"127.0.0.1:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}"#)
    }

    @Test func routeBareKeysForOldClients() throws {
        var q = req(RequestCode.getRouteInfoByTopic, ["topic": "TopicTest"])
        q.version = 333  // the C++ client
        let r = try #require(state().handle(q))
        let text = String(decoding: Array(r.body!.readableBytesView), as: UTF8.self)
        #expect(text.contains(#"{0:"127.0.0.1:10911"}"#))
    }

    @Test func routeMissing() throws {
        let r = try #require(state().handle(req(RequestCode.getRouteInfoByTopic, ["topic": "nope"])))
        #expect(r.code == ResponseCode.topicNotExist)
        #expect(r.remark == "No topic route info in name server for the topic: nope\nSee http://rocketmq.apache.org/docs/faq/ for further details.")
    }

    @Test func clusterInfo() throws {
        let r = try #require(state().handle(req(RequestCode.getBrokerClusterInfo)))
        let text = String(decoding: Array(r.body!.readableBytesView), as: UTF8.self)
        #expect(text == #"{"brokerAddrTable":{"broker-a":{"brokerAddrs":{0:"127.0.0.1:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}},"clusterAddrTable":{"DefaultCluster":["broker-a"]}}"#)
    }

    @Test func unknownCode() throws {
        let r = try #require(state().handle(req(999)))
        #expect(r.code == 3 && r.remark == " request type 999 not supported")
    }
}

@Suite struct BrokerStateTests {
    @Test func unsupportedCode() {
        var b = BrokerState()
        let r = b.handle(req(12345), from: clientA, now: t0).only
        #expect(r?.code == ResponseCode.requestCodeNotSupported && r?.remark == " request type 12345 not supported")
    }

    @Test func missingHeaderField() {
        var b = BrokerState()
        let r = b.handle(req(RequestCode.queryConsumerOffset, ["topic": "t"]), from: clientA, now: t0).only
        #expect(r?.code == ResponseCode.systemError)
        #expect(r?.remark?.contains("the custom field <consumerGroup> is null") == true)
    }

    @Test func createTopicAndValidation() {
        var b = BrokerState()
        let a = b.handle(createTopic("Orders", queues: 8), from: clientA, now: t0)
        #expect(a.only?.code == ResponseCode.success && a.only?.remark == "not set any response code" && a.only?.extFields == nil)
        #expect(a.contains { if case .topicsChanged = $0 { return true } else { return false } })
        #expect(b.topics["Orders"]?.writeQueueNums == 8)
        #expect(b.handle(createTopic("DefaultCluster"), from: clientA, now: t0).only?.remark == "the topic[DefaultCluster] is conflict with system reserved words.")
        #expect(b.handle(createTopic("bad topic"), from: clientA, now: t0).only?.code == ResponseCode.systemError)
    }

    /// The codec's generated CreateTopicRequestHeader, as Java's decodeCommandCustomHeader: `order` is @CFNotNull
    /// in 4.9.4, so a request without it is refused (Java clients always send it), the topic not created.
    @Test func createTopicWithoutOrderIsRefusedAsJavaDoes() {
        var b = BrokerState()
        var req = createTopic("NoOrder")
        req.extFields?["order"] = nil
        let r = b.handle(req, from: clientA, now: t0).only
        #expect(r?.code == ResponseCode.systemError)
        #expect(r?.remark?.contains("the custom field <order> is null") == true)
        #expect(b.topics["NoOrder"] == nil)
    }

    @Test func sendAutoCreatesWithFourQueuesAndStoresSection6Records() throws {
        var b = BrokerState()
        let a = b.handle(sendV2(topic: "Auto", queueId: 2, body: "hello", tags: "TagA", extraProps: [("UNIQ_KEY", "ABC")]),
                         from: clientA, now: t0 + 5)
        let r = try #require(a.only)
        #expect(r.code == ResponseCode.success && r.remark == nil)
        #expect(b.topics["Auto"]?.writeQueueNums == 4 && b.topics["Auto"]?.perm == 6)
        // The real broker's five keys, in HashMap order.
        #expect(r.fields.entries.map(\.key) == ["queueId", "TRACE_ON", "MSG_REGION", "msgId", "queueOffset"])
        #expect(r.fields["msgId"] == "7F00000100002A9F0000000000000000")
        #expect(r.fields["queueId"] == "2" && r.fields["queueOffset"] == "0")
        let rec = try #require(a.persisted.first)
        let m = try #require(StoredMessageDecoder.decodeAll(rec).messages.first)
        #expect(m.topic == "Auto" && m.queueId == 2 && m.queueOffset == 0 && m.physicalOffset == 0 && m.crcMatches)
        #expect(m.storeTimestamp == t0 + 5 && m.bornTimestamp == t0)
        #expect(m.bornHost == clientA.remote && m.storeHost.port == 10911)
        #expect(m.tags == "TagA" && m.uniqKey == "ABC")
        #expect(!m.properties.contains { $0.key == "WAIT" })
        #expect(m.property["CLUSTER"] == "DefaultCluster")
        #expect(m.offsetMsgId == r.fields["msgId"])
        // The second record starts where the first ends.
        let r2 = b.handle(sendV2(topic: "Auto", queueId: 2, body: "again"), from: clientA, now: t0).only!
        #expect(r2.fields["queueOffset"] == "1")
        #expect(MessageId.decode(r2.fields["msgId"]!)?.physicalOffset == Int64(rec.readableBytes))
    }

    @Test func sendErrors() {
        var cfg = BrokerConfiguration()
        cfg.autoCreateTopicEnable = false
        var b = BrokerState(config: cfg)
        let r = b.handle(sendV2(topic: "Missing", body: "x"), from: clientA, now: t0).only!
        #expect(r.code == ResponseCode.topicNotExist)
        #expect(r.remark == "topic[Missing] not exist, apply first please!\nSee http://rocketmq.apache.org/docs/faq/ for further details.")
        #expect(r.fields["MSG_REGION"] == "DefaultRegion" && r.fields["TRACE_ON"] == "true")
        _ = b.handle(createTopic("T", queues: 2), from: clientA, now: t0)
        #expect(b.handle(sendV2(topic: "T", queueId: 5, body: "x"), from: clientA, now: t0).only?.code == ResponseCode.systemError)
        #expect(b.handle(sendV2(topic: "SCHEDULE_TOPIC_XXXX", body: "x"), from: clientA, now: t0).only?.code == ResponseCode.noPermission)
        // Properties beyond the 16-bit length: MESSAGE_ILLEGAL, nothing stored (and no crash).
        let huge = b.handle(sendV2(topic: "T", body: "x", extraProps: [("big", String(repeating: "p", count: 40_000))]), from: clientA, now: t0)
        #expect(huge.only?.code == 13 && huge.persisted.isEmpty)
        var half = sendV2(topic: "T", body: "x")
        half.extFields?["f"] = "4"
        let h = b.handle(half, from: clientA, now: t0).only!
        #expect(h.code == ResponseCode.noPermission && h.remark == "the broker[127.0.0.1] sending transaction message is forbidden")
    }

    @Test func batchSend() throws {
        var b = BrokerState()
        // The Java client ends its properties with a separator, the C++ client does not: stored as sent,
        // with one separator before the batch's own properties either way (MessageExtBatchEncoder).
        let body = BatchMessageRecord.encodeAll((0..<3).map { i in
            BatchMessageRecord(flag: 0, body: Array("m\(i)".utf8),
                               propertiesText: MessageProperties.encode([("UNIQ_KEY", "U\(i)"), ("TAGS", "B")], trailingSeparator: i == 1))
        })
        let h = SendMessageRequestHeader(producerGroup: "pg", topic: "Batch", queueId: 1, bornTimestamp: t0,
                                         properties: MessageProperties.encode([("WAIT", "true")]), batch: true)
        let a = b.handle(req(RequestCode.sendBatchMessage, h.v2ExtFields, body: Array(body.readableBytesView)), from: clientA, now: t0)
        let r = try #require(a.only)
        #expect(r.code == 0 && r.fields["queueOffset"] == "0" && r.fields["msgId"]?.split(separator: ",").count == 3)
        let ms = a.persisted.flatMap { StoredMessageDecoder.decodeAll($0).messages }
        #expect(ms.map(\.queueOffset) == [0, 1, 2])
        #expect(ms.map { $0.uniqKey ?? "" } == ["U0", "U1", "U2"])
        #expect(ms.allSatisfy { $0.property["CLUSTER"] == "DefaultCluster" && $0.tags == "B" })
        #expect(ms.map(\.propertiesText) == (0..<3).map { "UNIQ_KEY\u{01}U\($0)\u{02}TAGS\u{01}B\u{02}CLUSTER\u{01}DefaultCluster\u{02}WAIT\u{01}true" })
        // The answer's ids, written as bytes one after the other, are the records' offsetMsgIds.
        #expect(r.fields["msgId"] == ms.map(\.offsetMsgId).joined(separator: ","))
        let retry = SendMessageRequestHeader(producerGroup: "pg", topic: "%RETRY%g", queueId: 0, bornTimestamp: t0, batch: true)
        #expect(b.handle(req(RequestCode.sendBatchMessage, retry.v2ExtFields, body: Array(body.readableBytesView)), from: clientA, now: t0).only?.code == 13)
    }

    @Test func batchSendWakesAHeldPullOnceWithTheWholeBatch() throws {
        var b = BrokerState()
        _ = b.handle(heartbeat(client: "c1", group: "g", topic: "Batch"), from: clientA, now: t0)
        _ = b.handle(createTopic("Batch"), from: clientA, now: t0)
        let held = b.handle(pullReq(group: "g", topic: "Batch", queueId: 1, offset: 0, suspend: 15000, opaque: 91), from: clientA, now: t0)
        #expect(held.holds == 1)
        let body = BatchMessageRecord.encodeAll((0..<5).map { i in
            BatchMessageRecord(flag: 0, body: Array("m\(i)".utf8), propertiesText: MessageProperties.encode([("UNIQ_KEY", "U\(i)")]))
        })
        let h = SendMessageRequestHeader(producerGroup: "pg", topic: "Batch", queueId: 1, bornTimestamp: t0, batch: true)
        let a = b.handle(req(RequestCode.sendBatchMessage, h.v2ExtFields, body: Array(body.readableBytesView)), from: clientB, now: t0 + 5)
        let wakes = a.compactMap { if case .wake(1, let r) = $0 { return r } else { return nil } }
        // One answer to the held pull, carrying all five messages (not the first one alone).
        #expect(wakes.count == 1 && wakes.first?.opaque == 91)
        #expect(wakes.first?.messages.map(\.queueOffset) == [0, 1, 2, 3, 4])
        #expect(a.compactMap { if case .respond(_, let r) = $0 { return Int(r.code) } else { return nil } } == [0])
        #expect(b.heldPullCount == 0)
        // Single sends still wake at once, and nothing stays deferred after the batch.
        _ = b.handle(pullReq(group: "g", topic: "Batch", queueId: 1, offset: 5, suspend: 15000, opaque: 92), from: clientA, now: t0 + 6)
        let s = b.handle(sendV2(topic: "Batch", queueId: 1, body: "x"), from: clientB, now: t0 + 7)
        #expect(s.compactMap { if case .wake(1, let r) = $0 { return Int(r.opaque) } else { return nil } } == [92])
    }

    @Test func heartbeatRegistersNotifiesAndCreatesRetryTopic() throws {
        var b = BrokerState()
        let a1 = b.handle(heartbeat(client: "c1", group: "g", topic: "T"), from: clientA, now: t0)
        #expect(a1.only?.code == 0 && a1.only?.extFields == nil && a1.only?.remark == nil)
        #expect(a1.notifications.map(\.to) == [[1]])
        #expect(b.topics["%RETRY%g"]?.readQueueNums == 1)
        // The same member again: no notification.
        #expect(b.handle(heartbeat(client: "c1", group: "g", topic: "T"), from: clientA, now: t0 + 1).notifications.isEmpty)
        let a2 = b.handle(heartbeat(client: "c2", group: "g", topic: "T"), from: clientB, now: t0 + 2)
        #expect(a2.notifications.map(\.to) == [[1, 2]])
        let list = b.handle(req(RequestCode.getConsumerListByGroup, ["consumerGroup": "g"]), from: clientA, now: t0).only!
        #expect(list.code == 0 && list.extFields == ExtFields())
        #expect(String(decoding: Array(list.body!.readableBytesView), as: UTF8.self) == #"{"consumerIdList":["c1","c2"]}"#)
        // Unregister: the rest are told.
        let u = b.handle(req(RequestCode.unregisterClient, ["clientID": "c2", "consumerGroup": "g"]), from: clientB, now: t0)
        #expect(u.only?.code == 0 && u.only?.extFields == ExtFields())
        #expect(u.notifications.map(\.to) == [[1]])
        // A closed connection removes its client; the group is gone, no one to tell.
        let c = b.connectionClosed(1, now: t0)
        #expect(c.notifications.isEmpty && b.groups["g"] == nil)
        let none = b.handle(req(RequestCode.getConsumerListByGroup, ["consumerGroup": "g"]), from: clientA, now: t0).only!
        #expect(none.code == ResponseCode.systemError && none.remark == "no consumer for this group, g" && none.extFields == ExtFields())
    }

    @Test func closeNotifiesRemainingMembers() {
        var b = BrokerState()
        _ = b.handle(heartbeat(client: "c1", group: "g", topic: "T"), from: clientA, now: t0)
        _ = b.handle(heartbeat(client: "c2", group: "g", topic: "T"), from: clientB, now: t0)
        #expect(b.connectionClosed(2, now: t0).notifications.map(\.to) == [[1]])
    }

    @Test func expiryAfterClientTimeout() {
        var b = BrokerState()
        _ = b.handle(heartbeat(client: "c1", group: "g", topic: "T"), from: clientA, now: t0)
        _ = b.handle(heartbeat(client: "c2", group: "g", topic: "T"), from: clientB, now: t0 + 60_000)
        #expect(b.tick(now: t0 + 120_000).isEmpty == true || b.groups["g"]?.channels.count == 2)
        let a = b.tick(now: t0 + 120_001)
        #expect(a.contains { if case .expire(1, "c1") = $0 { return true } else { return false } })
        #expect(b.groups["g"]?.clientIDs == ["c2"])
        _ = b.tick(now: t0 + 180_001)
        #expect(b.groups["g"] == nil)
    }

    @Test func subscriptionNewestSubVersionWins() {
        var b = BrokerState()
        _ = b.handle(heartbeat(client: "c1", group: "g", topic: "T", expression: "A", subVersion: 200), from: clientA, now: t0)
        _ = b.handle(heartbeat(client: "c2", group: "g", topic: "T", expression: "B", subVersion: 100), from: clientB, now: t0)
        #expect(b.groups["g"]?.subscriptions["T"]?.subString == "A")
        _ = b.handle(heartbeat(client: "c2", group: "g", topic: "T", expression: "B", subVersion: 300), from: clientB, now: t0)
        #expect(b.groups["g"]?.subscriptions["T"]?.subString == "B")
        #expect(b.groups["g"]?.subscriptions.count == 2)
    }

    @Test func queryAndUpdateOffsets() {
        var b = BrokerState()
        let q = req(RequestCode.queryConsumerOffset, ["consumerGroup": "g", "topic": "T", "queueId": "0"])
        // A new group on a young queue (min offset 0, first message in memory): offset 0, as ConsumerManageProcessor.
        let r0 = b.handle(q, from: clientA, now: t0).only!
        #expect(r0.code == 0 && r0.fields["offset"] == "0")
        // Oneway commit: no answer.
        let ow = b.handle(req(RequestCode.updateConsumerOffset, ["consumerGroup": "g", "topic": "T", "queueId": "0", "commitOffset": "42"],
                              oneway: true), from: clientA, now: t0)
        #expect(ow.responses.isEmpty)
        #expect(b.handle(q, from: clientA, now: t0).only?.fields["offset"] == "42")
        let sync = b.handle(req(RequestCode.updateConsumerOffset, ["consumerGroup": "g", "topic": "T", "queueId": "0", "commitOffset": "50"]),
                            from: clientA, now: t0)
        #expect(sync.only?.code == 0 && sync.only?.extFields == ExtFields())
        #expect(sync.contains { if case .persistOffsets = $0 { return true } else { return false } })
        #expect(b.handle(q, from: clientA, now: t0).only?.fields["offset"] == "50")
        // A queue whose first messages are gone: QUERY_NOT_FOUND with the real remark.
        b.queues[QueueKey(topic: "T", queueId: 1)] = ConsumeQueue(minOffset: 10, entries: [])
        let nf = b.handle(req(RequestCode.queryConsumerOffset, ["consumerGroup": "g", "topic": "T", "queueId": "1"]), from: clientA, now: t0).only!
        #expect(nf.code == ResponseCode.queryNotFound && nf.remark == "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first")
    }

    @Test func maxMinSearchOffset() {
        var b = BrokerState()
        for i in 0..<3 { _ = b.handle(sendV2(topic: "T", body: "m\(i)"), from: clientA, now: t0 + Int64(i) * 1000) }
        func ask(_ code: Int32, _ extra: ExtFields = [:]) -> String? {
            var f: ExtFields = ["topic": "T", "queueId": "0"]
            for e in extra { f[e.key] = e.value }
            return b.handle(req(code, f), from: clientA, now: t0).only?.fields["offset"]
        }
        #expect(ask(RequestCode.getMaxOffset) == "3")
        #expect(ask(RequestCode.getMinOffset) == "0")
        #expect(ask(RequestCode.searchOffsetByTimestamp, ["timestamp": String(t0 + 1000)]) == "1")
        #expect(ask(RequestCode.searchOffsetByTimestamp, ["timestamp": String(t0 + 9000)]) == "3")
    }

    @Test func pullFoundNotFoundMoved() throws {
        var b = BrokerState()
        _ = b.handle(heartbeat(client: "c1", group: "g", topic: "T"), from: clientA, now: t0)
        // No topic yet.
        let nt = b.handle(pullReq(group: "g", topic: "T", offset: 0), from: clientA, now: t0).only!
        #expect(nt.code == ResponseCode.topicNotExist)
        for i in 0..<3 { _ = b.handle(sendV2(topic: "T", body: "m\(i)", tags: "A"), from: clientA, now: t0) }
        let found = b.handle(pullReq(group: "g", topic: "T", offset: 0, flags: []), from: clientA, now: t0).only!
        #expect(found.code == 0 && found.remark == "FOUND")
        #expect(found.fields.entries.map(\.key) == ["suggestWhichBrokerId", "nextBeginOffset", "maxOffset", "minOffset"])  // as cap1
        #expect(found.fields["nextBeginOffset"] == "3" && found.fields["maxOffset"] == "3" && found.fields["suggestWhichBrokerId"] == "0")
        #expect(found.messages.map(\.queueOffset) == [0, 1, 2])
        let one = b.handle(pullReq(group: "g", topic: "T", offset: 3, flags: []), from: clientA, now: t0).only!
        #expect(one.code == ResponseCode.pullNotFound && one.remark == "OFFSET_OVERFLOW_ONE" && one.fields["nextBeginOffset"] == "3")
        let badly = b.handle(pullReq(group: "g", topic: "T", offset: 9, flags: []), from: clientA, now: t0).only!
        #expect(badly.code == ResponseCode.pullOffsetMoved && badly.remark == "OFFSET_OVERFLOW_BADLY" && badly.fields["nextBeginOffset"] == "0")
        // An empty queue: NOT_FOUND at 0, OFFSET_MOVED elsewhere.
        let empty0 = b.handle(pullReq(group: "g", topic: "T", queueId: 1, offset: 0, flags: []), from: clientA, now: t0).only!
        #expect(empty0.code == ResponseCode.pullNotFound && empty0.remark == "NO_MESSAGE_IN_QUEUE")
        let empty5 = b.handle(pullReq(group: "g", topic: "T", queueId: 1, offset: 5, flags: []), from: clientA, now: t0).only!
        #expect(empty5.code == ResponseCode.pullOffsetMoved && empty5.fields["nextBeginOffset"] == "0")
        b.queues[QueueKey(topic: "T", queueId: 2)] = ConsumeQueue(minOffset: 4, entries: b.queues[QueueKey(topic: "T", queueId: 0)]!.entries)
        let small = b.handle(pullReq(group: "g", topic: "T", queueId: 2, offset: 1, flags: []), from: clientA, now: t0).only!
        #expect(small.code == ResponseCode.pullOffsetMoved && small.remark == "OFFSET_TOO_SMALL" && small.fields["nextBeginOffset"] == "4")
        let illegal = b.handle(pullReq(group: "g", topic: "T", queueId: 9, offset: 0), from: clientA, now: t0).only!
        #expect(illegal.code == ResponseCode.systemError)
        // maxMsgNums bounds the batch.
        let two = b.handle(pullReq(group: "g", topic: "T", offset: 0, flags: [], max: 2), from: clientA, now: t0).only!
        #expect(two.messages.count == 2 && two.fields["nextBeginOffset"] == "2")
    }

    @Test func pullSubscriptionRules() {
        var b = BrokerState()
        for _ in 0..<2 { _ = b.handle(sendV2(topic: "T", body: "x"), from: clientA, now: t0) }
        let noGroup = b.handle(pullReq(group: "g", topic: "T", offset: 0), from: clientA, now: t0).only!
        #expect(noGroup.code == ResponseCode.subscriptionNotExist && noGroup.remark?.hasPrefix("the consumer's group info not exist") == true)
        _ = b.handle(heartbeat(client: "c1", group: "g", topic: "Other", subVersion: 100), from: clientA, now: t0)
        let noSub = b.handle(pullReq(group: "g", topic: "T", offset: 0), from: clientA, now: t0).only!
        #expect(noSub.code == ResponseCode.subscriptionNotExist && noSub.remark?.hasPrefix("the consumer's subscription not exist") == true)
        _ = b.handle(heartbeat(client: "c1", group: "g", topic: "T", subVersion: 100), from: clientA, now: t0)
        let newer = b.handle(pullReq(group: "g", topic: "T", offset: 0, subVersion: 101), from: clientA, now: t0).only!
        #expect(newer.code == ResponseCode.subscriptionNotLatest && newer.remark == "the consumer's subscription not latest")
        #expect(b.handle(pullReq(group: "g", topic: "T", offset: 0, subVersion: 99), from: clientA, now: t0).only?.code == 0)
        // With the subscription flag the request's expression is used, no registration needed.
        let flagged = b.handle(pullReq(group: "nobody", topic: "T", offset: 0, flags: [.subscription], subscription: "*"), from: clientA, now: t0).only!
        #expect(flagged.code == 0 && flagged.messages.count == 2)
    }

    @Test func tagFiltering() {
        var b = BrokerState()
        _ = b.handle(heartbeat(client: "c1", group: "g", topic: "T", expression: "A || C"), from: clientA, now: t0)
        for t in ["A", "B", "C", "B"] { _ = b.handle(sendV2(topic: "T", body: t, tags: t), from: clientA, now: t0) }
        _ = b.handle(sendV2(topic: "T", body: "untagged"), from: clientA, now: t0)
        let r = b.handle(pullReq(group: "g", topic: "T", offset: 0, flags: []), from: clientA, now: t0).only!
        #expect(r.messages.map { $0.tags ?? "-" } == ["A", "C"])
        #expect(r.fields["nextBeginOffset"] == "5")
        // Nothing matching from offset 3: PULL_RETRY_IMMEDIATELY (NO_MATCHED_MESSAGE), offset past the scanned ones.
        let none = b.handle(pullReq(group: "g", topic: "T", offset: 3, flags: []), from: clientA, now: t0).only!
        #expect(none.code == ResponseCode.pullRetryImmediately && none.remark == "NO_MATCHED_MESSAGE" && none.fields["nextBeginOffset"] == "5")
    }

    /// The C++ client's subscription has only subString: the tags come from the expression.
    @Test func cppStyleSubscriptionFilters() throws {
        var b = BrokerState()
        let body = #"{"clientID":"7115-127.0.0.1@c","consumerDataSet":[{"consumeFromWhere":0,"consumeType":1,"groupName":"cg","messageModel":1,"subscriptionDataSet":[{"subString":"TagA || TagC","subVersion":"100","topic":"T"}]}]}"# + "\n"
        #expect(b.handle(req(RequestCode.heartBeat, nil, body: Array(body.utf8)), from: clientA, now: t0).only?.code == 0)
        for t in ["TagA", "TagB", "TagC"] { _ = b.handle(sendV2(topic: "T", body: t, tags: t), from: clientA, now: t0) }
        let r = b.handle(pullReq(group: "cg", topic: "T", offset: 0, flags: []), from: clientA, now: t0).only!
        #expect(r.messages.map { $0.tags ?? "" } == ["TagA", "TagC"])
    }

    @Test func longPollHoldWakeAndExpire() throws {
        var b = BrokerState()
        _ = b.handle(heartbeat(client: "c1", group: "g", topic: "T", expression: "A"), from: clientA, now: t0)
        _ = b.handle(createTopic("T"), from: clientA, now: t0)
        let held = b.handle(pullReq(group: "g", topic: "T", offset: 0, suspend: 15000, opaque: 77), from: clientA, now: t0)
        #expect(held.responses.isEmpty && held.holds == 1 && b.heldPullCount == 1)
        // A message with another tag does not wake it; one with the tag does, at once.
        #expect(b.handle(sendV2(topic: "T", body: "b", tags: "B"), from: clientB, now: t0 + 10).filter {
            if case .wake = $0 { return true } else { return false } }.isEmpty)
        let a = b.handle(sendV2(topic: "T", body: "a", tags: "A"), from: clientB, now: t0 + 20)
        let wake = try #require(a.compactMap { if case .wake(1, let r) = $0 { return r } else { return nil } }.first)
        #expect(wake.opaque == 77 && wake.code == 0 && wake.messages.map { $0.tags ?? "" } == ["A"])
        // The persist comes before the answers.
        if case .persist = a.first {} else { Issue.record("persist first") }
        // A hold that times out: answered by the periodic check after suspendTimeoutMillis.
        _ = b.handle(pullReq(group: "g", topic: "T", queueId: 1, offset: 0, suspend: 15000, opaque: 78), from: clientA, now: t0)
        #expect(b.tick(now: t0 + 14_000).responses.isEmpty)
        let late = b.tick(now: t0 + 20_000).responses
        #expect(late.count == 1 && late[0].opaque == 78 && late[0].code == ResponseCode.pullNotFound && late[0].remark == "NO_MESSAGE_IN_QUEUE")
        // A hostile suspend time is bounded (no overflow).
        #expect(b.handle(pullReq(group: "g", topic: "T", queueId: 3, offset: 0, suspend: Int64.max, opaque: 81), from: clientA, now: t0).holds == 1)
        #expect(b.tick(now: t0 + 30_000).responses.allSatisfy { $0.opaque != 81 })
        // A closed connection drops its held pulls; shutdown answers the rest.
        _ = b.handle(pullReq(group: "g", topic: "T", queueId: 2, offset: 0, opaque: 79), from: clientA, now: t0)
        _ = b.handle(pullReq(group: "g", topic: "T", queueId: 3, offset: 0, opaque: 80), from: clientB, now: t0)
        _ = b.connectionClosed(2, now: t0)
        let s = b.shutdown(now: t0)
        #expect(Set(s.responses.map(\.opaque)) == [79, 81])
    }

    @Test func commitOnPullOnlyOnFirstExecution() {
        var b = BrokerState()
        _ = b.handle(heartbeat(client: "c1", group: "g", topic: "T"), from: clientA, now: t0)
        _ = b.handle(createTopic("T"), from: clientA, now: t0)
        _ = b.handle(pullReq(group: "g", topic: "T", offset: 0, flags: [.suspend, .commitOffset], commitOffset: 5), from: clientA, now: t0)
        #expect(b.offsets[OffsetKey(group: "g", topic: "T", queueId: 0)] == 5)
    }

    @Test func sendBackRetryDelayAndDLQ() throws {
        var cfg = BrokerConfiguration()
        cfg.delayScale = 0
        var b = BrokerState(config: cfg)
        let s = b.handle(sendV2(topic: "T", body: "payload", tags: "A", extraProps: [("UNIQ_KEY", "U1")]), from: clientA, now: t0).only!
        let offset = MessageId.decode(s.fields["msgId"]!)!.physicalOffset
        let back = req(RequestCode.consumerSendMsgBack, ["offset": String(offset), "group": "g", "delayLevel": "0", "originMsgId": "U1",
                                                         "originTopic": "T", "unitMode": "false", "maxReconsumeTimes": "2"])
        let r = b.handle(back, from: clientA, now: t0 + 1).only!
        #expect(r.code == 0 && r.extFields == nil)
        // Into SCHEDULE_TOPIC_XXXX level 3 (3 + reconsumeTimes), then into %RETRY%g at the next tick.
        #expect(b.queues[QueueKey(topic: "SCHEDULE_TOPIC_XXXX", queueId: 2)]?.maxOffset == 1)
        _ = b.tick(now: t0 + 2)
        let retryQ = try #require(b.queues[QueueKey(topic: "%RETRY%g", queueId: 0)])
        let m = try #require(StoredMessageDecoder.decodeAll(b.record(retryQ.entries[0])!).messages.first)
        #expect(m.reconsumeTimes == 1 && m.property["RETRY_TOPIC"] == "T" && m.uniqKey == "U1")
        // As the real one (cap1): the delivered retry keeps DELAY, REAL_TOPIC, REAL_QID and WAIT=false.
        #expect(m.property["DELAY"] == "3" && m.property["REAL_TOPIC"] == "%RETRY%g" && m.property["REAL_QID"] == "0" && m.property["WAIT"] == "false")
        #expect(m.property["ORIGIN_MESSAGE_ID"] == MessageId.make(host: cfg.storeHost, physicalOffset: offset))
        #expect(m.body.bytes == Array("payload".utf8))
        // Past maxReconsumeTimes: the DLQ.
        var again = back
        again.extFields?["offset"] = String(retryQ.entries[0].physicalOffset)
        _ = b.handle(again, from: clientA, now: t0 + 3)
        _ = b.tick(now: t0 + 4)
        let m2 = StoredMessageDecoder.decodeAll(b.record(b.queues[QueueKey(topic: "%RETRY%g", queueId: 0)]!.entries[1])!).messages[0]
        #expect(m2.reconsumeTimes == 2)
        again.extFields?["offset"] = String(b.queues[QueueKey(topic: "%RETRY%g", queueId: 0)]!.entries[1].physicalOffset)
        _ = b.handle(again, from: clientA, now: t0 + 5)
        #expect(b.queues[QueueKey(topic: "%DLQ%g", queueId: 0)]?.maxOffset == 1)
        #expect(b.topics["%DLQ%g"]?.perm == Perm.read | Perm.write)
        let dlq = StoredMessageDecoder.decodeAll(b.record(b.queues[QueueKey(topic: "%DLQ%g", queueId: 0)]!.entries[0])!).messages[0]
        #expect(dlq.reconsumeTimes == 3 && dlq.property["DELAY"] == "0")
        // A group name too long for a 4.9.4 record's topic: refused, not written broken.
        var long = back
        long.extFields?["group"] = String(repeating: "g", count: 200)
        long.extFields?["offset"] = String(offset)
        #expect(b.handle(long, from: clientA, now: t0).only?.code == 13)
        // An offset that is no message.
        var bad = back
        bad.extFields?["offset"] = "123456"
        #expect(b.handle(bad, from: clientA, now: t0).only?.remark == "look message by offset failed, 123456")
    }

    /// Stored property order is Java HashMap order: the texts of cap1 (realbroker-4.9.4).
    @Test func storedPropertiesInHashMapOrderAsCaptured() {
        let sent: [(key: String, value: String)] = [("KEYS", "KEY3"), ("UNIQ_KEY", "7F0000012E335FFD2B277C0A44170003"), ("TAGS", "TagC"),
                                                    ("prop1", "v3"), ("traceRun", "run1"), ("CLUSTER", "DefaultCluster")]
        #expect(hashMapProperties(sent).replacingOccurrences(of: "\u{01}", with: "=").replacingOccurrences(of: "\u{02}", with: "|")
                == "prop1=v3|traceRun=run1|KEYS=KEY3|UNIQ_KEY=7F0000012E335FFD2B277C0A44170003|CLUSTER=DefaultCluster|TAGS=TagC")
        var b = BrokerState()
        let s = b.handle(sendV2(topic: "TopicTest", body: "x", tags: "TagC", extraProps: [("KEYS", "retry-me"), ("UNIQ_KEY", "7F0000012E335FFD2B277C0A44290007"),
                                                                                   ("prop1", "v7"), ("traceRun", "run1")]), from: clientA, now: t0).only!
        let back = req(RequestCode.consumerSendMsgBack, ["offset": String(MessageId.decode(s.fields["msgId"]!)!.physicalOffset), "group": "trace_group",
                                                         "delayLevel": "0", "unitMode": "false"])
        let a = b.handle(back, from: clientA, now: t0)
        let m = StoredMessageDecoder.decodeAll(a.persisted[0]).messages[0]
        #expect(m.topic == "SCHEDULE_TOPIC_XXXX")
        let text = m.propertiesText.replacingOccurrences(of: "\u{01}", with: "=").replacingOccurrences(of: "\u{02}", with: "|")
        let captured = "prop1=v7|traceRun=run1|REAL_TOPIC=%RETRY%trace_group|ORIGIN_MESSAGE_ID=\(MessageId.make(host: b.config.storeHost, physicalOffset: 0))|RETRY_TOPIC=TopicTest|KEYS=retry-me|UNIQ_KEY=7F0000012E335FFD2B277C0A44290007|CLUSTER=DefaultCluster|WAIT=false|DELAY=3|TAGS=TagC|REAL_QID=0"
        #expect(text == captured)
    }

    @Test func delayedSendWaitsForItsLevel() {
        var cfg = BrokerConfiguration()
        cfg.delayScale = 1
        var b = BrokerState(config: cfg)
        _ = b.handle(sendV2(topic: "T", body: "later", extraProps: [("DELAY", "1")]), from: clientA, now: t0)
        #expect(b.queues[QueueKey(topic: "T", queueId: 0)] == nil)
        _ = b.tick(now: t0 + 999)
        #expect(b.queues[QueueKey(topic: "T", queueId: 0)] == nil)
        _ = b.tick(now: t0 + 1000)
        #expect(b.queues[QueueKey(topic: "T", queueId: 0)]?.maxOffset == 1)
        #expect(b.scheduleOffsets[1] == 1)
    }

    @Test func lockAndUnlock() throws {
        var b = BrokerState()
        let mq0 = MessageQueue(topic: "T", brokerName: "broker-a", queueId: 0)
        let mq1 = MessageQueue(topic: "T", brokerName: "broker-a", queueId: 1)
        func lockReq(_ client: String, _ mqs: [MessageQueue], code: Int32 = RequestCode.lockBatchMQ) -> RemotingCommand {
            req(code, nil, body: json(LockBatchRequestBody(consumerGroup: "g", clientId: client, mqSet: mqs).json))
        }
        func locked(_ r: RemotingCommand) throws -> [MessageQueue] {
            try r.body!.withUnsafeReadableBytes { try LockBatchResponseBody.decode(try JSONParser.parse($0, context: "t")) }
        }
        let r1 = b.handle(lockReq("c1", [mq0, mq1]), from: clientA, now: t0).only!
        #expect(r1.code == 0 && r1.extFields == nil)
        #expect(try locked(r1) == [mq0, mq1])
        #expect(try locked(b.handle(lockReq("c2", [mq0, mq1]), from: clientB, now: t0 + 1000).only!) == [])
        let u = b.handle(lockReq("c1", [mq1], code: RequestCode.unlockBatchMQ), from: clientA, now: t0 + 2000).only!
        #expect(u.code == 0 && u.body == nil)
        #expect(try locked(b.handle(lockReq("c2", [mq0, mq1]), from: clientB, now: t0 + 3000).only!) == [mq1])
        // c1's lock on mq0 expires after 60 s.
        #expect(try locked(b.handle(lockReq("c2", [mq0]), from: clientB, now: t0 + 61_000).only!) == [mq0])
        #expect(b.lockOwner(group: "g", queue: mq0, now: t0 + 61_000) == "c2")
    }

    @Test func requestLogGoesThroughTheSharedRenderers() {
        // What `rmq-trace broker --log-requests` prints: the shared timeline, credentials redacted.
        let lines = Box<[String]>([])
        let log = LiveTraceLog(format: .text, source: "rmq-trace broker", write: { l in lines.with { $0 += l } })
        let client = Endpoint(address: .v4(0x7F00_0001), port: 50000), server = Endpoint(address: .v4(0x7F00_0001), port: 10911)
        log.observe(.opened(ObservedConnection(id: 3, client: client, server: server, serverRole: .broker, time: CaptureTime(seconds: 3600, microseconds: 0))))
        let cmd = RemotingCommand.request(code: RequestCode.updateConsumerOffset, opaque: 42,
                                          extFields: ["consumerGroup": "g", "topic": "T", "queueId": "1", "commitOffset": "7", "Signature": "secret"],
                                          oneway: true)
        log.observe(.frame(ObservedFrame(connection: 3, direction: .toServer, time: CaptureTime(seconds: 3600, microseconds: 5), command: cmd, size: 99)))
        let out = lines.get
        #expect(out.contains { $0.contains("UPDATE_CONSUMER_OFFSET group=g T#1 commit=7 => (oneway) [commit]") }, "\(out)")
        #expect(!out.joined().contains("secret"))
    }
}
