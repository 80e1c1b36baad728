import RMQTestSupport
import NIOCore
import RMQCapture
import RocketMQRemoting

typealias S = ScenarioBuilder

/// The fixture captures. Each is a script of what clients, name server and broker say; `GoldenTests` writes
/// the pcap and the recorded outputs with RMQ_RECORD_GOLDEN=1 and otherwise checks them.
enum FixtureScenarios {
    static let all: [(name: String, build: @Sendable () -> [UInt8])] = [
        ("consume-flow", consumeFlow),
        ("group-problems", groupProblems),
        ("tcp-hostile", tcpHostile),
        ("pop-5x", pop5x),
        ("orderly-lock", orderlyLock),
    ]

    static let ns = "10.0.0.1:9876"
    static let proxy = "10.0.0.5:8080"

    /// Two orderly consumers at a hand-over: A owns both queues and holds their locks; B joins and is given
    /// queue 1, but A, busy, keeps its lock for 25 s, so B's LOCK_BATCH_MQ (at start and every 20 s) is not
    /// granted and B does not pull queue 1 until A unlocks it; then shutdown with unlocks.
    static func orderlyLock() -> [UInt8] {
        var s = S()
        let a = "10.0.4.10@600#1764000000000"
        let b = "10.0.4.11@601#1764000000001"
        let g = "seq_group"
        let t = "Seq"
        let mq = (0..<2).map { MessageQueue(topic: t, brokerName: "broker-a", queueId: Int32($0)) }
        func lock(_ client: String, _ queues: [MessageQueue]) -> [UInt8] {
            S.json(LockBatchRequestBody(consumerGroup: g, clientId: client, mqSet: queues).json)
        }
        func pull(_ conn: String, _ q: Int32, _ offset: Int64, count: Int, max: Int64) {
            s.exchange(conn, s.request(11, S.pull(group: g, topic: t, queueId: q, offset: offset)), latencyMs: 1.5) {
                count > 0 ? S.pullAnswer($0, 0, remark: "FOUND", next: offset + Int64(count), max: max,
                                         body: S.messages(topic: t, queueId: q, from: offset, count: count))
                          : S.pullAnswer($0, 19, remark: "OFFSET_OVERFLOW_ONE", next: offset, max: max)
            }
        }
        for (name, port) in [("nsA", 43000), ("nsB", 43001)] {
            s.connect(name, client: "10.0.4.1\(name == "nsA" ? 0 : 1):\(port)", server: ns)
            s.exchange(name, s.request(105, GetRouteInfoRequestHeader(topic: t).extFields)) {
                S.response($0, body: S.route(brokers: [("broker-a", broker)], queues: 2))
            }
        }
        s.connect("A", client: "10.0.4.10:44000", server: broker)
        s.exchange("A", s.request(34, body: S.heartbeat(clientID: a, group: g, subscriptions: [(t, "*")]))) { S.response($0) }
        s.exchange("A", s.request(38, ConsumerGroupHeader(consumerGroup: g).extFields)) { S.response($0, ExtFields(), body: S.json(ConsumerIdList.json([a]))) }
        s.exchange("A", s.request(41, body: lock(a, mq))) { S.response($0, ExtFields(), body: S.json(LockBatchResponseBody.json(mq))) }
        pull("A", 0, 0, count: 3, max: 3)
        pull("A", 1, 0, count: 4, max: 4)
        s.wait(ms: 1_000)
        // B joins; both get the list [A, B]: A keeps queue 0, B is given queue 1.
        s.connect("B", client: "10.0.4.11:44001", server: broker)
        s.exchange("B", s.request(34, body: S.heartbeat(clientID: b, group: g, subscriptions: [(t, "*")]))) { S.response($0) }
        s.exchange("A", s.request(38, ConsumerGroupHeader(consumerGroup: g).extFields)) { S.response($0, ExtFields(), body: S.json(ConsumerIdList.json([a, b]))) }
        s.exchange("B", s.request(38, ConsumerGroupHeader(consumerGroup: g).extFields)) { S.response($0, ExtFields(), body: S.json(ConsumerIdList.json([a, b]))) }
        // A still consumes queue 1's batch and holds its lock: B's lock of queue 1 is not granted, now and 20 s later.
        s.exchange("B", s.request(41, body: lock(b, [mq[1]]))) { S.response($0, ExtFields(), body: S.json(LockBatchResponseBody.json([]))) }
        pull("A", 0, 3, count: 0, max: 3)
        s.wait(ms: 20_000)
        s.exchange("B", s.request(41, body: lock(b, [mq[1]]))) { S.response($0, ExtFields(), body: S.json(LockBatchResponseBody.json([]))) }
        s.exchange("A", s.request(41, body: lock(a, [mq[0]]))) { S.response($0, ExtFields(), body: S.json(LockBatchResponseBody.json([mq[0]]))) }
        s.wait(ms: 5_000)
        // A is done with queue 1: it commits and unlocks it.
        s.send("A", from: .client, s.request(15, UpdateConsumerOffsetRequestHeader(consumerGroup: g, topic: t, queueId: 1, commitOffset: 4).extFields, oneway: true))
        s.exchange("A", s.request(42, body: lock(a, [mq[1]]))) { S.response($0) }
        s.wait(ms: 15_000)
        // B's next lockAll gets it; B pulls queue 1 from the committed offset.
        s.exchange("B", s.request(41, body: lock(b, [mq[1]]))) { S.response($0, ExtFields(), body: S.json(LockBatchResponseBody.json([mq[1]]))) }
        s.exchange("B", s.request(14, QueryConsumerOffsetRequestHeader(consumerGroup: g, topic: t, queueId: 1).extFields)) {
            S.response($0, OffsetResponseHeader(offset: 4).extFields)
        }
        pull("B", 1, 4, count: 2, max: 6)
        s.wait(ms: 200)
        s.send("B", from: .client, s.request(15, UpdateConsumerOffsetRequestHeader(consumerGroup: g, topic: t, queueId: 1, commitOffset: 6).extFields, oneway: true))
        s.send("A", from: .client, s.request(15, UpdateConsumerOffsetRequestHeader(consumerGroup: g, topic: t, queueId: 0, commitOffset: 3).extFields, oneway: true))
        // Shutdown: each unlocks what it holds, then unregisters.
        s.exchange("B", s.request(42, body: lock(b, [mq[1]]))) { S.response($0) }
        s.exchange("B", s.request(35, UnregisterClientRequestHeader(clientID: b, consumerGroup: g).extFields)) { S.response($0, ExtFields()) }
        s.exchange("A", s.request(42, body: lock(a, [mq[0]]))) { S.response($0) }
        s.exchange("A", s.request(35, UnregisterClientRequestHeader(clientID: a, consumerGroup: g).extFields)) { S.response($0, ExtFields()) }
        for c in ["nsA", "nsB", "A", "B"] { s.close(c) }
        return s.pcap()
    }

    /// SYNTHESIZED from the RocketMQ 5.x source's header and body classes (no 5.x client recorded it): a POP
    /// consumer on the 5.x proxy's remoting port 8080, where one connection carries name-server and broker
    /// codes. Route, heartbeat, SET_MESSAGE_REQUEST_MODE to POP, QUERY_ASSIGNMENT answered with POP queues,
    /// POP_MESSAGE (200050, ROCKETMQ binary headers, where the code travels as 3442), ACK_MESSAGE,
    /// CHANGE_MESSAGE_INVISIBLETIME, BATCH_ACK_MESSAGE with a bit set (one offset never popped), a popped
    /// message never acked whose invisible time runs out, and a LITE_PULL_MESSAGE of a lite pull consumer.
    static func pop5x() -> [UInt8] {
        var s = S()
        let cid = "10.0.3.10@5150#1764000000000"
        let g = "pop_group"
        let t = "PopTopic"
        let v5 = MQVersion.v5_0_0
        s.connect("px", client: "10.0.3.10:52000", server: proxy)
        s.exchange("px", s.request(105, GetRouteInfoRequestHeader(topic: t).extFields, version: v5)) {
            S.response($0, body: S.route(brokers: [("broker-a", proxy)], queues: 2))
        }
        s.exchange("px", s.request(34, body: S.heartbeat(clientID: cid, group: g, subscriptions: [(t, "*")]), version: v5)) { S.response($0) }
        s.exchange("px", s.request(RequestCode.setMessageRequestMode,
                                   body: Array(SetMessageRequestModeRequestBody(topic: t, consumerGroup: g, mode: "POP").json.compactText.utf8), version: v5)) {
            S.response($0)
        }
        s.exchange("px", s.request(RequestCode.queryAssignment,
                                   body: Array(QueryAssignmentRequestBody(topic: t, consumerGroup: g, clientId: cid, strategyName: "AVG",
                                                                          messageModel: "CLUSTERING").json.compactText.utf8), version: v5)) {
            S.response($0, ExtFields(), body: Array(QueryAssignmentResponseBody.json((0..<2).map {
                MessageQueueAssignment(queue: MessageQueue(topic: t, brokerName: "broker-a", queueId: Int32($0)), mode: "POP")
            }).compactText.utf8))
        }
        let bornTime: Int64 = 1_764_000_000_000
        // Queue 0: three messages popped, invisible for 10 s.
        s.exchange("px", s.request(RequestCode.popMessage,
                                   PopMessageRequestHeader(consumerGroup: g, topic: t, queueId: 0, maxMsgNums: 32, invisibleTime: 10_000,
                                                           pollTime: 15_000, bornTime: bornTime).extFields,
                                   serializeType: .rocketmq, version: v5), latencyMs: 3) {
            S.response($0, 0, remark: "FOUND", ext: PopMessageResponseHeader(popTime: bornTime, invisibleTime: 10_000, reviveQid: 0, restNum: 0,
                                                                             startOffsetInfo: "0 0 0", msgOffsetInfo: "0 0 0,1,2").extFields,
                       body: S.messages(topic: t, queueId: 0, from: 0, count: 3))
        }
        s.exchange("px", s.request(RequestCode.ackMessage,
                                   AckMessageRequestHeader(consumerGroup: g, topic: t, queueId: 0, extraInfo: "0 \(bornTime) 10000 0 0 broker-a 0 0", offset: 0).extFields,
                                   version: v5)) { S.response($0) }
        s.exchange("px", s.request(RequestCode.changeMessageInvisibleTime,
                                   ChangeInvisibleTimeRequestHeader(consumerGroup: g, topic: t, queueId: 0, extraInfo: "0 \(bornTime) 10000 0 0 broker-a 0 1",
                                                                    offset: 1, invisibleTime: 60_000).extFields, version: v5)) {
            S.response($0, ChangeInvisibleTimeResponseHeader(popTime: bornTime + 20, invisibleTime: 60_000, reviveQid: 0).extFields)
        }
        s.wait(ms: 2_000)
        // Offsets 1 (acked in time, its invisibility extended) and 7 (never popped) in one batch.
        let acks = BatchAckMessageRequestBody(brokerName: "broker-a", acks: [
            BatchAck(consumerGroup: g, topic: t, startOffset: 0, queueId: 0, popTime: bornTime, invisibleTime: 10_000, ackedOffsets: [1, 7]),
        ])
        s.exchange("px", s.request(RequestCode.batchAckMessage, body: Array(acks.json.compactText.utf8), version: v5)) { S.response($0) }
        // Offset 2 is never acked: 12 s later its 10 s invisible time is over.
        s.wait(ms: 12_000)
        // A lite pull consumer of another group reads queue 1 with LITE_PULL_MESSAGE (the pull header).
        s.connect("lite", client: "10.0.3.11:52001", server: proxy)
        s.exchange("lite", s.request(RequestCode.litePullMessage,
                                     PullMessageRequestHeader(consumerGroup: "lite_group", topic: t, queueId: 1, queueOffset: 0, sysFlag: [],
                                                              commitOffset: 0, suspendTimeoutMillis: 0, subVersion: 0, maxMsgBytes: 1_048_576).extFields,
                                     version: v5), latencyMs: 1.5) {
            S.pullAnswer($0, 0, remark: "FOUND", next: 2, max: 2, body: S.messages(topic: t, queueId: 1, from: 0, count: 2))
        }
        s.exchange("px", s.request(35, UnregisterClientRequestHeader(clientID: cid, consumerGroup: g).extFields, version: v5)) { S.response($0, ExtFields()) }
        s.close("lite")
        s.close("px")
        return s.pcap()
    }
    static let broker = "10.0.0.2:10911"

    /// One push consumer's whole life, healthy, plus a producer: route (the retry topic has none yet),
    /// heartbeat, consumer list, start offsets (one QUERY_NOT_FOUND), pulls (found, long poll, offset moved),
    /// a send-back, oneway commits, shutdown.
    static func consumeFlow() -> [UInt8] {
        var s = S()
        let cid = "10.0.0.10@4242#1764000000000"
        let g = "orders_group"
        s.connect("ns", client: "10.0.0.10:50001", server: ns)
        s.exchange("ns", s.request(105, GetRouteInfoRequestHeader(topic: "Orders").extFields)) {
            S.response($0, body: S.route(brokers: [("broker-a", broker)], queues: 4))
        }
        s.exchange("ns", s.request(105, GetRouteInfoRequestHeader(topic: "%RETRY%\(g)").extFields)) {
            S.response($0, 17, remark: "No topic route info in name server for the topic: %RETRY%\(g)")
        }
        s.connect("b", client: "10.0.0.10:50002", server: broker)
        s.exchange("b", s.request(34, body: S.heartbeat(clientID: cid, group: g, subscriptions: [("Orders", "TagA || TagB")]))) { S.response($0) }
        s.exchange("b", s.request(38, ConsumerGroupHeader(consumerGroup: g).extFields)) {
            S.response($0, ExtFields(), body: S.json(ConsumerIdList.json([cid])))
        }
        let start: [Int64?] = [10, 20, nil, 5]
        for q in 0..<4 {
            s.exchange("b", s.request(14, QueryConsumerOffsetRequestHeader(consumerGroup: g, topic: "Orders", queueId: Int32(q)).extFields)) {
                if let o = start[q] { return S.response($0, OffsetResponseHeader(offset: o).extFields) }
                return S.response($0, 22, remark: "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first")
            }
        }
        // q0: messages waiting
        s.exchange("b", s.request(11, S.pull(group: g, topic: "Orders", queueId: 0, offset: 10)), latencyMs: 2.5) {
            S.pullAnswer($0, 0, remark: "FOUND", next: 13, max: 13, body: S.messages(topic: "Orders", queueId: 0, from: 10, count: 3))
        }
        // q1: nothing new, the broker holds the long poll for 15 s; q2 and q3 meanwhile
        let poll = s.request(11, S.pull(group: g, topic: "Orders", queueId: 1, offset: 20))
        s.send("b", from: .client, poll)
        s.exchange("b", s.request(11, S.pull(group: g, topic: "Orders", queueId: 2, offset: 0)), latencyMs: 1.8) {
            S.pullAnswer($0, 0, remark: "FOUND", next: 2, max: 2, body: S.messages(topic: "Orders", queueId: 2, from: 0, count: 2))
        }
        s.exchange("b", s.request(11, S.pull(group: g, topic: "Orders", queueId: 3, offset: 5))) {
            S.pullAnswer($0, 21, remark: "OFFSET_TOO_SMALL", next: 8, min: 8, max: 9)
        }
        s.wait(ms: 40)
        s.exchange("b", s.request(36, ConsumerSendMsgBackRequestHeader(offset: 100_300, group: g, delayLevel: 0,
                                                                       originMsgId: String(format16: 11), originTopic: "Orders",
                                                                       maxReconsumeTimes: 16).extFields), latencyMs: 3) { S.response($0) }
        // a producer on its own connection
        s.connect("p", client: "10.0.0.20:51000", server: broker)
        let send = SendMessageRequestHeader(producerGroup: "orders_producer", topic: "Orders", queueId: 1, bornTimestamp: 1_764_000_005_000,
                                            properties: MessageProperties.encode([("KEYS", "order-77"), ("TAGS", "TagA"), ("WAIT", "true")]))
        s.exchange("p", s.request(310, send.v2ExtFields, body: Array("order 77 created".utf8)), latencyMs: 2) {
            S.response($0, SendMessageResponseHeader(msgId: "0A00000200002A9F00000000000186A0", queueId: 1, queueOffset: 20).extFields)
        }
        s.close("p")
        s.wait(ms: 5000)
        for (q, o) in [(0, Int64(13)), (2, 2)] {
            s.send("b", from: .client, s.request(15, UpdateConsumerOffsetRequestHeader(consumerGroup: g, topic: "Orders", queueId: Int32(q), commitOffset: o).extFields, oneway: true))
        }
        s.wait(ms: 9950)
        s.send("b", from: .server, S.pullAnswer(poll, 19, remark: "OFFSET_OVERFLOW_ONE", next: 20, max: 20))
        s.wait(ms: 100)
        s.exchange("b", s.request(35, UnregisterClientRequestHeader(clientID: cid, consumerGroup: g).extFields)) { S.response($0, ExtFields()) }
        s.close("b")
        s.close("ns")
        return s.pcap()
    }

    /// Two consumers of one group that disagree, and the trouble it causes.
    static func groupProblems() -> [UInt8] {
        var s = S()
        let g = "billing"
        let c1 = "10.0.1.11@111#1764000000001"
        let c2 = "10.0.1.12@222#1764000000002"
        s.connect("ns1", client: "10.0.1.11:40001", server: ns)
        s.exchange("ns1", s.request(105, GetRouteInfoRequestHeader(topic: "Invoices").extFields)) {
            S.response($0, body: S.route(brokers: [("broker-a", broker)], queues: 4))
        }
        s.exchange("ns1", s.request(105, GetRouteInfoRequestHeader(topic: "Refunds").extFields)) {
            S.response($0, 17, remark: "No topic route info in name server for the topic: Refunds")
        }
        s.connect("b1", client: "10.0.1.11:40002", server: broker)
        s.connect("b2", client: "10.0.1.12:40003", server: broker)
        s.exchange("b1", s.request(34, body: S.heartbeat(clientID: c1, group: g, subscriptions: [("Invoices", "*")]))) { S.response($0) }
        s.exchange("b2", s.request(34, body: S.heartbeat(clientID: c2, group: g, subscriptions: [("Invoices", "TagA")]))) { S.response($0) }
        // the broker tells c1 the group changed
        s.send("b1", from: .server, s.request(40, ConsumerGroupHeader(consumerGroup: g).extFields, oneway: true))
        // c1 sees only itself (stale list), c2 sees both: both take queue 0
        s.exchange("b1", s.request(38, ConsumerGroupHeader(consumerGroup: g).extFields)) { S.response($0, ExtFields(), body: S.json(ConsumerIdList.json([c1]))) }
        s.exchange("b2", s.request(38, ConsumerGroupHeader(consumerGroup: g).extFields)) { S.response($0, ExtFields(), body: S.json(ConsumerIdList.json([c1, c2]))) }
        s.exchange("b2", s.request(38, ConsumerGroupHeader(consumerGroup: "billing_typo").extFields)) {
            S.response($0, 1, remark: "no consumer for this group, billing_typo")
        }
        s.exchange("b1", s.request(15, UpdateConsumerOffsetRequestHeader(consumerGroup: g, topic: "Invoices", queueId: 1, commitOffset: 100).extFields)) { S.response($0) }
        var off0: Int64 = 0
        var off1: Int64 = 100
        for round in 0..<5 {
            s.exchange("b1", s.request(11, S.pull(group: g, topic: "Invoices", queueId: 0, offset: off0, commit: off0 > 0 ? off0 : nil))) {
                S.pullAnswer($0, 0, remark: "FOUND", next: off0 + 4, max: 40, body: S.messages(topic: "Invoices", queueId: 0, from: off0, count: 4))
            }
            s.exchange("b2", s.request(11, S.pull(group: g, topic: "Invoices", queueId: 0, offset: off0))) {
                S.pullAnswer($0, 0, remark: "FOUND", next: off0 + 4, max: 40, body: S.messages(topic: "Invoices", queueId: 0, from: off0, count: 4))
            }
            s.exchange("b1", s.request(11, S.pull(group: g, topic: "Invoices", queueId: 1, offset: off1))) {
                S.pullAnswer($0, 0, remark: "FOUND", next: off1 + 5, max: 200, body: S.messages(topic: "Invoices", queueId: 1, from: off1, count: 5))
            }
            s.exchange("b2", s.request(11, S.pull(group: g, topic: "Invoices", queueId: 2, offset: Int64(round)))) {
                S.pullAnswer($0, round == 2 ? ResponseCode.flowControl : 19, remark: round == 2 ? "the consumer's pull is flow controlled" : "OFFSET_FOUND_NULL",
                             next: Int64(round), max: Int64(round))
            }
            off0 += 4
            off1 += 5
            if round == 1 {
                // c2 commits an older offset for queue 0 than c1 did
                s.send("b2", from: .client, s.request(15, UpdateConsumerOffsetRequestHeader(consumerGroup: g, topic: "Invoices", queueId: 0, commitOffset: 2).extFields, oneway: true))
            }
            s.wait(ms: 8000)
        }
        // a third process reuses c1's clientID from another host while c1 is connected
        s.connect("b3", client: "10.0.1.13:40004", server: broker)
        s.exchange("b3", s.request(34, body: S.heartbeat(clientID: c1, group: g, subscriptions: [("Invoices", "*")]))) { S.response($0) }
        // a long poll the broker answers after the client gave up
        let late = s.request(11, S.pull(group: g, topic: "Invoices", queueId: 2, offset: 5))
        s.send("b2", from: .client, late)
        s.wait(ms: 31_000)
        s.send("b2", from: .server, S.pullAnswer(late, 19, remark: "OFFSET_OVERFLOW_ONE", next: 5, max: 5))
        // c1 leaves with queue 0 and 1 delivered beyond what it committed
        s.exchange("b1", s.request(35, UnregisterClientRequestHeader(clientID: c1, consumerGroup: g).extFields)) { S.response($0, ExtFields()) }
        // c2's offset query is never answered: the broker resets the connection
        s.send("b2", from: .client, s.request(14, QueryConsumerOffsetRequestHeader(consumerGroup: g, topic: "Invoices", queueId: 3).extFields))
        s.wait(ms: 3)
        s.reset("b2")
        s.close("b1")
        s.close("b3")
        s.close("ns1")
        return s.pcap()
    }

    /// What real networks and tcpdump do to a stream: segments split and reordered, retransmitted and
    /// overlapping, a lost segment inside a frame, a capture that starts mid-frame, a bad frame, ROCKETMQ
    /// headers over IPv6, TLS, and a last packet cut by the snapshot length.
    static func tcpHostile() -> [UInt8] {
        var s = S()
        let g = "hostile_group"
        // 1. A large FOUND response cut into 700-byte segments, delivered out of order with a duplicate
        //    and an overlapping retransmission.
        s.connect("a", client: "10.0.2.10:41000", server: broker)
        let pull = s.request(11, S.pull(group: g, topic: "Big", queueId: 0, offset: 0))
        s.send("a", from: .client, pull)
        s.wait(ms: 1)
        let answer = S.pullAnswer(pull, 0, remark: "FOUND", next: 12, max: 12, body: S.messages(topic: "Big", queueId: 0, from: 0, count: 12, bodySize: 200))
        var packets = s.send("a", from: .server, answer, segmentSize: 700, emit: false)
        packets.swapAt(1, 3)
        packets.swapAt(4, 5)
        let dup = packets[2]
        packets.insert(dup.at(CaptureTime(nanoseconds: dup.time.nanoseconds + 5_000)), at: 6)
        s.records += packets
        // an overlapping retransmission: bytes 350..1050 of the response again
        let base = s.connections["a"]!.nextSequence(.server) &- UInt32(S.bytes(answer).count)
        s.records.append(s.connections["a"]!.segment(from: .server, sequence: base &+ 350, payload: Array(S.bytes(answer)[350..<1050]), at: s.time))
        s.wait(ms: 1)
        s.exchange("a", s.request(14, QueryConsumerOffsetRequestHeader(consumerGroup: g, topic: "Big", queueId: 0).extFields)) {
            S.response($0, OffsetResponseHeader(offset: 12).extFields)
        }
        // 2. A lost segment inside a frame: the rest of that frame is skipped exactly, the next frame decodes.
        s.connect("c", client: "10.0.2.11:41001", server: broker)
        let pull2 = s.request(11, S.pull(group: g, topic: "Big", queueId: 1, offset: 0))
        s.send("c", from: .client, pull2)
        let answer2 = S.pullAnswer(pull2, 0, remark: "FOUND", next: 6, max: 6, body: S.messages(topic: "Big", queueId: 1, from: 0, count: 6, bodySize: 300))
        var lost = s.send("c", from: .server, answer2, segmentSize: 1000, emit: false)
        lost.remove(at: 1)
        s.records += lost
        s.wait(ms: 1)
        s.exchange("c", s.request(14, QueryConsumerOffsetRequestHeader(consumerGroup: g, topic: "Big", queueId: 1).extFields)) {
            S.response($0, OffsetResponseHeader(offset: 6).extFields)
        }
        // 3. A capture that starts in the middle of a frame (no handshake): resynchronise.
        s.connect("m", client: "10.0.2.12:41002", server: broker, midStream: true)
        let hb = s.request(34, body: S.heartbeat(clientID: "10.0.2.12@77#1", group: g, subscriptions: [("Big", "*")]))
        s.connections["m"]!.skip(from: .client, bytes: 0)
        let hbBytes = S.bytes(hb)
        s.connections["m"]!.skip(from: .client, bytes: 40)
        s.records += s.connections["m"]!.send(from: .client, bytes: Array(hbBytes[40...]), at: s.time)
        s.wait(ms: 0.5)
        s.send("m", from: .server, S.response(hb))
        s.exchange("m", s.request(38, ConsumerGroupHeader(consumerGroup: g).extFields)) {
            S.response($0, ExtFields(), body: S.json(ConsumerIdList.json(["10.0.2.12@77#1"])))
        }
        // 4. A frame with a plausible length but a broken JSON header, then a good one.
        var bad = ByteBuffer()
        let junk = Array(#"{"code":11,"extFields":{"topic":"Big"#.utf8) + Array(repeating: UInt8(ascii: "}"), count: 0) + [0x2C, 0x2C]
        bad.writeInteger(Int32(4 + junk.count))
        bad.writeInteger(Int32(junk.count))
        bad.writeBytes(junk)
        s.records += s.connections["m"]!.send(from: .client, bytes: bad.readBytes(length: bad.readableBytes)!, at: s.time)
        s.wait(ms: 0.5)
        s.exchange("m", s.request(14, QueryConsumerOffsetRequestHeader(consumerGroup: g, topic: "Big", queueId: 2).extFields)) {
            S.response($0, 22, remark: "Not found")
        }
        // 5. ROCKETMQ binary headers over IPv6.
        s.connect("v6", client: "[::10]:42000", server: "[::2]:10911")
        let binPull = s.request(11, S.pull(group: g, topic: "Big", queueId: 3, offset: 0), serializeType: .rocketmq)
        s.send("v6", from: .client, binPull, segmentSize: 50)
        s.wait(ms: 1)
        var binAnswer = S.pullAnswer(binPull, 0, remark: "FOUND", next: 2, max: 2, body: S.messages(topic: "Big", queueId: 3, from: 0, count: 2))
        binAnswer.serializeType = .rocketmq
        s.send("v6", from: .server, binAnswer)
        s.close("v6")
        // 6. TLS on a broker port: reported, not decoded.
        s.connect("tls", client: "10.0.2.13:43000", server: broker)
        s.records += s.connections["tls"]!.send(from: .client, bytes: [0x16, 0x03, 0x01, 0x00, 0x31, 0x01, 0x00, 0x00, 0x2D, 0x03, 0x03] + [UInt8](repeating: 0xAB, count: 40), at: s.time)
        s.wait(ms: 1)
        // 7. The last packet is cut by the snapshot length (tcpdump -s 200).
        s.connect("t", client: "10.0.2.14:44000", server: broker)
        let pull3 = s.request(11, S.pull(group: g, topic: "Big", queueId: 4, offset: 0))
        s.send("t", from: .client, pull3)
        s.wait(ms: 1)
        let answer3 = S.pullAnswer(pull3, 0, remark: "FOUND", next: 3, max: 3, body: S.messages(topic: "Big", queueId: 4, from: 0, count: 3))
        let cut = s.send("t", from: .server, answer3, emit: false)
        s.records += cut.map { $0.truncated(to: 200) }
        s.close("a")
        s.close("c")
        return s.pcap()
    }
}
