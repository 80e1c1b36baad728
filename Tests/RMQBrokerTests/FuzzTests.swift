import NIOCore
@testable import RMQBroker
import RocketMQRemoting
import Testing

/// Seeded nonsense into every request code: the state machines answer or ignore, never trap.
@Suite struct FuzzTests {
    struct Rng {
        var s: UInt64
        mutating func next() -> UInt64 { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return s }
        mutating func int(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    }

    @Test(arguments: [UInt64(0x9E37_79B9_7F4A_7C15), 1, 42, 0xDEAD_BEEF, 7_777_777])
    func nonsenseRequests(seed: UInt64) {
        var rng = Rng(s: seed)
        var b = BrokerState()
        var ns = NameServerState()
        let codes: [Int32] = [10, 11, 14, 15, 17, 29, 30, 31, 32, 34, 35, 36, 38, 41, 42, 105, 106, 310, 320, 999]
        let keys = ["topic", "queueId", "consumerGroup", "queueOffset", "maxMsgNums", "sysFlag", "commitOffset", "suspendTimeoutMillis",
                    "subVersion", "subscription", "offset", "group", "delayLevel", "timestamp", "readQueueNums", "writeQueueNums", "perm",
                    "defaultTopic", "topicFilterType", "clientID", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "l", "m", "producerGroup",
                    "maxReconsumeTimes", "bornTimestamp", "flag", "defaultTopicQueueNums"]
        let values = ["0", "1", "-1", "3", "2147483647", "-2147483648", "9223372036854775807", "-9223372036854775808", "T", "%RETRY%g",
                      "TBW102", "*", "A || B", "", "x y", "99999999999999999999", "DELAY\u{01}2\u{02}TAGS\u{01}A", "true", "SCHEDULE_TOPIC_XXXX"]
        let bodies: [[UInt8]?] = [nil, [], Array("{".utf8), Array(#"{"clientID":"c","consumerDataSet":[{"groupName":"g","subscriptionDataSet":[{"topic":"T","subString":"A","subVersion":5}]}]}"#.utf8),
                                  Array(#"{"consumerGroup":"g","clientId":"c","mqSet":[{"topic":"T","brokerName":"broker-a","queueId":1}]}"#.utf8),
                                  [0, 0, 0, 30, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 1, 2, 3, 4, 0, 2, 65, 65, 0, 0],
                                  [0x7F, 0xFF, 0xFF, 0xFF, 1, 2, 3], Array(repeating: 0xAB, count: 300)]
        var now: Int64 = 1_800_000_000_000
        var answered = 0, ok = 0
        let templates: [RemotingCommand] = [
            sendV2(topic: "T", queueId: 1, body: "x", tags: "A"), sendV2(topic: "T", queueId: 2, body: "y", extraProps: [("DELAY", "1")]),
            pullReq(group: "g", topic: "T", queueId: 1, offset: 0), pullReq(group: "g", topic: "T", offset: 2, flags: [.subscription, .commitOffset],
                                                                         subscription: "A"),
            heartbeat(client: "c", group: "g", topic: "T", expression: "A"), createTopic("T", queues: 4),
            req(RequestCode.queryConsumerOffset, ["consumerGroup": "g", "topic": "T", "queueId": "1"]),
            req(RequestCode.updateConsumerOffset, ["consumerGroup": "g", "topic": "T", "queueId": "1", "commitOffset": "1"]),
            req(RequestCode.consumerSendMsgBack, ["offset": "0", "group": "g", "delayLevel": "0", "unitMode": "false"]),
            req(RequestCode.getMaxOffset, ["topic": "T", "queueId": "1"]), req(RequestCode.searchOffsetByTimestamp, ["topic": "T", "queueId": "1", "timestamp": "5"]),
            req(RequestCode.getConsumerListByGroup, ["consumerGroup": "g"]), req(RequestCode.unregisterClient, ["clientID": "c", "consumerGroup": "g"]),
            req(RequestCode.getRouteInfoByTopic, ["topic": "T"]), req(RequestCode.getBrokerClusterInfo),
        ]
        for i in 0..<4000 {
            var cmd: RemotingCommand
            if rng.int(4) == 0 {
                var ext = ExtFields()
                for _ in 0..<rng.int(14) { ext[keys[rng.int(keys.count)]] = values[rng.int(values.count)] }
                let body = bodies[rng.int(bodies.count)]
                cmd = RemotingCommand.request(code: codes[rng.int(codes.count)], opaque: Int32(i), extFields: rng.int(5) == 0 ? nil : ext,
                                              body: body.map { ByteBuffer(bytes: $0) }, oneway: rng.int(6) == 0)
            } else {
                cmd = templates[rng.int(templates.count)]
                cmd.opaque = Int32(i)
                for _ in 0..<rng.int(3) where cmd.extFields != nil && !(cmd.extFields!.isEmpty) {
                    let k = cmd.extFields!.entries[rng.int(cmd.extFields!.count)].key
                    cmd.extFields![k] = values[rng.int(values.count)]
                }
                if rng.int(10) == 0 { cmd.body = bodies[rng.int(bodies.count)].map { ByteBuffer(bytes: $0) } }
            }
            cmd.version = rng.int(2) == 0 ? 63 : 401
            let client = ClientRef(connection: 1 + rng.int(4), remote: MessageHost(address: [127, 0, 0, 1], port: Int32(40000 + rng.int(4))))
            now += Int64(rng.int(3000))
            if cmd.code == 105 || cmd.code == 106 {
                _ = ns.handle(cmd)
            } else {
                let actions = b.handle(cmd, from: client, now: now)
                answered += actions.responses.count
                ok += actions.responses.filter { $0.code == 0 }.count
                for a in actions {
                    if case .topicsChanged = a {
                        ns.registerBroker(cluster: "DefaultCluster", brokerName: "broker-a", brokerId: 0, address: "127.0.0.1:10911",
                                          topics: Array(b.topics.values))
                    }
                }
            }
            if rng.int(50) == 0 { _ = b.connectionClosed(1 + rng.int(4), now: now) }
            if rng.int(10) == 0 { _ = b.tick(now: now) }
        }
        _ = b.shutdown(now: now)
        #expect(answered > 2000 && ok > 200, "answered \(answered), SUCCESS \(ok)")
        #expect(b.queues.values.reduce(0) { $0 + $1.entries.count } > 10)
        // Everything stored decodes back as section-6 records.
        for (_, q) in b.queues {
            for e in q.entries { #expect(StoredMessageDecoder.decodeAll(b.record(e)!).error == nil) }
        }
    }
}
