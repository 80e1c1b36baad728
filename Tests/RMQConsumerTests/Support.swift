import NIOCore
import RMQConsumer
import RocketMQRemoting

/// The cluster of the tests: two brokers (broker-a with a slave), two queues each for Orders, one retry queue.
enum Fixture {
    static let ns1: Address = "10.0.0.1:9876"
    static let ns2: Address = "10.0.0.9:9876"
    static let brokerA: Address = "10.0.0.2:10911"
    static let brokerASlave: Address = "10.0.0.3:10911"
    static let brokerB: Address = "10.0.0.4:10911"
    static let topic = "Orders"
    static let group = "orders_group"
    static let retry = "%RETRY%orders_group"
    static let me = "10.0.0.10@4242#1764000000000"
    static let t0 = Timestamp.milliseconds(1_764_000_000_000)

    static func q(_ broker: String, _ id: Int32, topic: String = topic) -> MessageQueue {
        MessageQueue(topic: topic, brokerName: broker, queueId: id)
    }
    static let a0 = q("broker-a", 0), a1 = q("broker-a", 1), b0 = q("broker-b", 0), b1 = q("broker-b", 1)
    static let r0 = q("broker-a", 0, topic: retry)

    static func config(_ model: MessageModel = .clustering, consumeFrom: ConsumeFrom = .lastOffset,
                       expression: String = "*") -> ConsumerConfiguration {
        ConsumerConfiguration(nameServers: [ns1, ns2], topic: topic, group: group, subscriptionExpression: expression,
                              consumeFrom: consumeFrom, messageModel: model, clientIP: "10.0.0.10", processID: 4242,
                              nanoTime: 1_764_000_000_000)
    }

    static var brokerDatas: [BrokerData] {
        [BrokerData(cluster: "c", brokerName: "broker-a", brokerAddrs: [(0, brokerA.hostPort), (1, brokerASlave.hostPort)]),
         BrokerData(cluster: "c", brokerName: "broker-b", brokerAddrs: [(0, brokerB.hostPort)])]
    }

    static func routeBody(topic: String) -> ByteBuffer {
        let route: TopicRouteData
        if topic.hasPrefix("%RETRY%") {
            route = TopicRouteData(brokerDatas: [brokerDatas[0]], queueDatas: [QueueData(brokerName: "broker-a", readQueueNums: 1, writeQueueNums: 1)])
        } else {
            route = TopicRouteData(brokerDatas: brokerDatas, queueDatas: [
                QueueData(brokerName: "broker-a", readQueueNums: 2, writeQueueNums: 2),
                QueueData(brokerName: "broker-b", readQueueNums: 2, writeQueueNums: 2),
            ])
        }
        var out: [UInt8] = []
        JSONWriter.write(route.json(standardJSON: true), into: &out)
        return ByteBuffer(bytes: out)
    }

    static func consumerListBody(_ ids: [String]) -> ByteBuffer {
        var out: [UInt8] = []
        JSONWriter.write(ConsumerIdList.json(ids), into: &out)
        return ByteBuffer(bytes: out)
    }

    /// A pull body with one record per offset.
    static func pullBody(_ queue: MessageQueue, offsets: [Int64], tags: [String?]? = nil, topic: String? = nil,
                         extraProperties: [(key: String, value: String)] = []) -> ByteBuffer {
        var buf = ByteBuffer()
        for (i, o) in offsets.enumerated() {
            var props: [(key: String, value: String)] = []
            if let t = tags?[i] ?? (tags == nil ? "TagA" : nil) { props.append((key: "TAGS", value: t)) }
            props.append((key: "UNIQ_KEY", value: "ID\(queue.queueId)-\(o)"))
            props += extraProperties
            StoredMessageDecoder.encode(queueId: queue.queueId, queueOffset: o, physicalOffset: 1000 + o,
                                        bornTimestamp: 1_764_000_000_000, bornHost: MessageHost(address: [10, 0, 0, 20], port: 50000),
                                        storeTimestamp: 1_764_000_000_001, storeHost: MessageHost(address: [10, 0, 0, 2], port: 10911),
                                        body: Array("m\(o)".utf8), topic: topic ?? queue.topic,
                                        propertiesText: MessageProperties.encode(props), into: &buf)
        }
        return buf
    }

    static func response(_ request: RemotingCommand, code: Int32 = ResponseCode.success, remark: String? = nil,
                         extFields: ExtFields? = nil, body: ByteBuffer? = nil) -> RemotingCommand {
        RemotingCommand.response(to: request, code: code, remark: remark, extFields: extFields, body: body)
    }

    static func pullHeader(next: Int64, min: Int64 = 0, max: Int64, suggest: Int64 = 0) -> ExtFields {
        PullMessageResponseHeader(suggestWhichBrokerId: suggest, nextBeginOffset: next, minOffset: min, maxOffset: max).extFields
    }
}

extension Array where Element == ConsumerAction {
    /// The `.send` actions.
    var sentCommands: [(to: Address, command: RemotingCommand, id: RequestID)] {
        compactMap { if case .send(let to, let c, let id, _) = $0 { return (to, c, id) } else { return nil } }
    }
    var timeouts: [RequestID: Duration] {
        var out: [RequestID: Duration] = [:]
        for a in self { if case .send(_, _, let id, let t) = a { out[id] = t } }
        return out
    }
    func sends(code: Int32) -> [(to: Address, command: RemotingCommand, id: RequestID)] {
        sentCommands.filter { $0.command.code == code }
    }
    var oneways: [(to: Address, command: RemotingCommand)] {
        compactMap { if case .sendOneway(let to, let c) = $0 { return (to, c) } else { return nil } }
    }
    var deliveries: [(queue: MessageQueue, messages: [DeliveredMessage])] {
        compactMap { if case .deliver(let q, let m) = $0 { return (q, m) } else { return nil } }
    }
    var problems: [Problem] { compactMap { if case .report(let p) = $0 { return p } else { return nil } } }
    var schedules: [(Timer, Duration)] { compactMap { if case .schedule(let t, let d) = $0 { return (t, d) } else { return nil } } }
    /// Everything but `.log`.
    var withoutLogs: [ConsumerAction] { filter { if case .log = $0 { return false } else { return true } } }
    /// The code of each send and oneway, in order (requests as codes; responses excluded).
    var wireCodes: [Int32] {
        compactMap {
            switch $0 {
            case .send(_, let c, _, _), .sendOneway(_, let c): return c.code
            default: return nil
            }
        }
    }
}

/// Drives a machine through the start-up exchanges with well-behaved peers.
struct Harness {
    var m: PushConsumerStateMachine
    var now = Fixture.t0
    /// Requests sent and not yet answered by the harness.
    var outstanding: [RequestID: (to: Address, command: RemotingCommand)] = [:]
    var log: [ConsumerAction] = []

    init(_ config: ConsumerConfiguration = Fixture.config()) { m = PushConsumerStateMachine(configuration: config) }

    @discardableResult
    mutating func record(_ a: [ConsumerAction]) -> [ConsumerAction] {
        for s in a.sentCommands { outstanding[s.id] = (s.to, s.command) }
        log += a
        return a
    }

    mutating func start() -> [ConsumerAction] { record(m.start(now: now)) }

    mutating func answer(_ id: RequestID, code: Int32 = ResponseCode.success, remark: String? = nil, extFields: ExtFields? = nil,
                         body: ByteBuffer? = nil) -> [ConsumerAction] {
        let req = outstanding.removeValue(forKey: id)!
        return record(m.received(response: Fixture.response(req.command, code: code, remark: remark, extFields: extFields, body: body),
                                 for: id, now: now))
    }

    mutating func fail(_ id: RequestID, _ reason: FailureReason = .timeout) -> [ConsumerAction] {
        outstanding[id] = nil
        return record(m.requestFailed(id, reason: reason, now: now))
    }

    mutating func tick(_ t: Timer) -> [ConsumerAction] { record(m.tick(t, now: now)) }

    func pending(code: Int32) -> [(id: RequestID, to: Address, command: RemotingCommand)] {
        outstanding.keys.sorted().compactMap { id in
            let r = outstanding[id]!
            return r.command.code == code ? (id, r.to, r.command) : nil
        }
    }

    /// The most recent unanswered pull of a queue.
    func pendingPull(_ q: MessageQueue) -> (id: RequestID, to: Address, header: PullMessageRequestHeader)? {
        for p in pending(code: RequestCode.pullMessage).reversed() {
            let h = try! PullMessageRequestHeader(extFields: p.command.extFields!)
            if h.topic == q.topic && h.queueId == q.queueId && p.command.extFields?["consumerGroup"] != nil
                && brokerOf(p.to) == q.brokerName {
                return (p.id, p.to, h)
            }
        }
        return nil
    }

    func brokerOf(_ a: Address) -> String {
        a == Fixture.brokerB ? "broker-b" : "broker-a"
    }

    /// Start, answer routes, heartbeats, consumer lists (`ids`), and offset queries (`offsets`: a queue
    /// missing from it gets QUERY_NOT_FOUND then GET_MAX_OFFSET `maxOffset`).
    mutating func run(ids: [String] = [Fixture.me], offsets: [MessageQueue: Int64] = [:], maxOffset: Int64 = 0) {
        _ = start()
        for p in pending(code: RequestCode.getRouteInfoByTopic) {
            _ = answer(p.id, body: Fixture.routeBody(topic: p.command.extFields!["topic"]!))
        }
        settle(ids: ids, offsets: offsets, maxOffset: maxOffset)
    }

    /// Answers heartbeats, consumer lists and offset lookups until none is outstanding.
    mutating func settle(ids: [String] = [Fixture.me], offsets: [MessageQueue: Int64] = [:], maxOffset: Int64 = 0) {
        while true {
            if let p = pending(code: RequestCode.heartBeat).first { _ = answer(p.id); continue }
            if let p = pending(code: RequestCode.getConsumerListByGroup).first {
                _ = answer(p.id, body: Fixture.consumerListBody(ids)); continue
            }
            if let p = pending(code: RequestCode.queryConsumerOffset).first {
                let h = try! QueryConsumerOffsetRequestHeader(extFields: p.command.extFields!)
                let q = MessageQueue(topic: h.topic, brokerName: brokerOf(p.to), queueId: h.queueId)
                if let o = offsets[q] {
                    _ = answer(p.id, extFields: OffsetResponseHeader(offset: o).extFields)
                } else {
                    _ = answer(p.id, code: ResponseCode.queryNotFound, remark: "Not found")
                }
                continue
            }
            if let p = pending(code: RequestCode.getMaxOffset).first {
                _ = answer(p.id, extFields: OffsetResponseHeader(offset: maxOffset).extFields); continue
            }
            break
        }
    }
}
