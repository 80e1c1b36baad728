import NIOCore
@testable import RMQBroker
import RocketMQRemoting

let clientA = ClientRef(connection: 1, remote: MessageHost(address: [127, 0, 0, 1], port: 40001))
let clientB = ClientRef(connection: 2, remote: MessageHost(address: [127, 0, 0, 1], port: 40002))
let t0: Int64 = 1_800_000_000_000

func req(_ code: Int32, _ fields: ExtFields? = nil, body: [UInt8]? = nil, oneway: Bool = false, opaque: Int32 = 7) -> RemotingCommand {
    RemotingCommand.request(code: code, opaque: opaque, extFields: fields, body: body.map { ByteBuffer(bytes: $0) }, oneway: oneway)
}

func json(_ v: JSONValue) -> [UInt8] {
    var out: [UInt8] = []
    JSONWriter.write(v, into: &out)
    return out
}

func heartbeat(client: String, group: String, topic: String, expression: String = "*", subVersion: Int64 = 100,
               model: String = "CLUSTERING") -> RemotingCommand {
    let subs = [SubscriptionData.tag(topic: topic, expression: expression, subVersion: subVersion),
                SubscriptionData.tag(topic: "%RETRY%" + group, expression: "*", subVersion: subVersion)]
    let hb = HeartbeatData(clientID: client, consumerDataSet: [ConsumerData(groupName: group, messageModel: model,
                                                                            consumeFromWhere: "CONSUME_FROM_LAST_OFFSET",
                                                                            subscriptionDataSet: subs)],
                           producerGroups: ["CLIENT_INNER_PRODUCER"])
    return req(RequestCode.heartBeat, nil, body: json(hb.json))
}

func sendV2(topic: String, queueId: Int32 = 0, body: String, tags: String? = nil, extraProps: [(String, String)] = [],
            born: Int64 = t0) -> RemotingCommand {
    var props: [(key: String, value: String)] = []
    if let tags { props.append(("TAGS", tags)) }
    props.append(("WAIT", "true"))
    for p in extraProps { props.append((p.0, p.1)) }
    let h = SendMessageRequestHeader(producerGroup: "pg", topic: topic, queueId: queueId, bornTimestamp: born,
                                     properties: MessageProperties.encode(props))
    return req(RequestCode.sendMessageV2, h.v2ExtFields, body: Array(body.utf8))
}

func pullReq(group: String, topic: String, queueId: Int32 = 0, offset: Int64, flags: PullSysFlag = [.suspend],
             subVersion: Int64 = 100, suspend: Int64 = 15000, commitOffset: Int64 = 0, max: Int32 = 32,
             subscription: String? = nil, opaque: Int32 = 9) -> RemotingCommand {
    let h = PullMessageRequestHeader(consumerGroup: group, topic: topic, queueId: queueId, queueOffset: offset, maxMsgNums: max,
                                     sysFlag: flags, commitOffset: commitOffset, suspendTimeoutMillis: suspend,
                                     subscription: subscription, subVersion: subVersion)
    return req(RequestCode.pullMessage, h.extFields, opaque: opaque)
}

extension [BrokerAction] {
    var responses: [RemotingCommand] { compactMap(\.response) }
    var only: RemotingCommand? { responses.count == 1 ? responses[0] : nil }
    var notifications: [(to: [Int], group: String)] {
        compactMap { if case .notifyConsumerIdsChanged(let to, let g) = $0 { return (to, g) } else { return nil } }
    }
    var holds: Int { filter { if case .hold = $0 { return true } else { return false } }.count }
    /// The records to persist, one buffer each.
    var persisted: [ByteBuffer] {
        flatMap { a -> [ByteBuffer] in
            guard case .persist(let chunks, let entries) = a else { return [] }
            var all = ByteBuffer()
            for var c in chunks { all.writeBuffer(&c) }
            return entries.map { all.readSlice(length: Int($0.entry.size))! }
        }
    }
}

extension RemotingCommand {
    var fields: ExtFields { extFields ?? ExtFields() }
    var messages: [StoredMessage] { body.map { StoredMessageDecoder.decodeAll($0).messages } ?? [] }
}

func createTopic(_ name: String, queues: Int32 = 4) -> RemotingCommand {
    req(RequestCode.updateAndCreateTopic, ["topic": name, "defaultTopic": "TBW102", "readQueueNums": String(queues),
                                           "writeQueueNums": String(queues), "perm": "6", "topicFilterType": "SINGLE_TAG",
                                           "topicSysFlag": "0", "order": "false"])
}
