import NIOCore
import RocketMQRemoting

/// The name server as a plain value (RouteInfoManager + DefaultRequestProcessor): brokers and their topics.
public struct NameServerState: Sendable {
    public struct Broker: Sendable {
        public var cluster: String
        public var name: String
        public var addresses: [(id: Int64, address: String)]
    }
    /// brokerName → broker.
    public internal(set) var brokers: [String: Broker] = [:]
    /// cluster → broker names, in registration order.
    public internal(set) var clusters: [String: [String]] = [:]
    /// topic → brokerName → queue data.
    public internal(set) var topicQueues: [String: [String: QueueData]] = [:]
    public var version: Int32 = MQVersion.v4_9_4

    public init() {}

    /// REGISTER_BROKER, in process: the broker's address and its whole topic table (replaces what it had).
    public mutating func registerBroker(cluster: String, brokerName: String, brokerId: Int64, address: String, topics: [TopicConfig]) {
        var b = brokers[brokerName] ?? Broker(cluster: cluster, name: brokerName, addresses: [])
        b.addresses.removeAll { $0.id == brokerId }
        b.addresses.append((brokerId, address))
        b.addresses.sort { $0.id < $1.id }
        brokers[brokerName] = b
        if !(clusters[cluster] ?? []).contains(brokerName) { clusters[cluster, default: []].append(brokerName) }
        guard brokerId == 0 else { return }
        let names = Set(topics.map(\.topicName))
        for (t, var byBroker) in topicQueues where !names.contains(t) {
            byBroker[brokerName] = nil
            topicQueues[t] = byBroker.isEmpty ? nil : byBroker
        }
        for t in topics {
            topicQueues[t.topicName, default: [:]][brokerName] = QueueData(brokerName: brokerName, readQueueNums: t.readQueueNums,
                                                                          writeQueueNums: t.writeQueueNums, perm: t.perm, topicSysFlag: t.topicSysFlag)
        }
    }

    /// pickupTopicRouteData.
    public func route(topic: String) -> TopicRouteData? {
        guard let byBroker = topicQueues[topic], !byBroker.isEmpty else { return nil }
        let names = byBroker.keys.sorted()
        let queueDatas = names.compactMap { byBroker[$0] }
        let brokerDatas = names.compactMap { n in brokers[n].map { BrokerData(cluster: $0.cluster, brokerName: $0.name, brokerAddrs: $0.addresses) } }
        guard !brokerDatas.isEmpty else { return nil }
        return TopicRouteData(brokerDatas: brokerDatas, queueDatas: queueDatas)
    }

    public func handle(_ request: RemotingCommand) -> RemotingCommand? {
        func reply(_ code: Int32, remark: String? = nil, body: ByteBuffer? = nil) -> RemotingCommand {
            RemotingCommand.response(to: request, code: code, remark: remark, body: body, version: version)
        }
        let response: RemotingCommand
        switch request.code {
        case RequestCode.getRouteInfoByTopic:
            let h: GetRouteInfoRequestHeader
            do { h = try GetRouteInfoRequestHeader(fields: request.allFields) } catch {
                return request.isOneway ? nil : reply(ResponseCode.systemError, remark: BrokerState.missingField(error))
            }
            if let r = route(topic: h.topic) {
                let standard = request.version >= MQVersion.v4_9_4 || h.acceptStandardJsonOnly == true
                var bytes: [UInt8] = []
                JSONWriter.write(r.json(standardJSON: standard), into: &bytes)
                response = reply(ResponseCode.success, body: ByteBuffer(bytes: bytes))
            } else {
                response = reply(ResponseCode.topicNotExist,
                                 remark: "No topic route info in name server for the topic: \(h.topic)\(BrokerTopics.faqSuffix)")
            }
        case RequestCode.getBrokerClusterInfo:
            response = reply(ResponseCode.success, body: ByteBuffer(bytes: clusterInfoJSON()))
        default:
            response = reply(ResponseCode.requestCodeNotSupported, remark: " request type \(request.code) not supported")
        }
        return request.isOneway ? nil : response
    }

    /// ClusterInfo, default fastjson settings (bare integer broker ids).
    public func clusterInfoJSON() -> [UInt8] {
        let brokerTable = brokers.keys.sorted().map { n -> JSONMember in
            let b = brokers[n]!
            let bd = JSONValue.object([
                JSONMember("brokerAddrs", .object(b.addresses.map { JSONMember(key: .bare(String($0.id)), value: .string($0.address)) })),
                JSONMember("brokerName", .string(b.name)),
                JSONMember("cluster", .string(b.cluster)),
            ])
            return JSONMember(n, bd)
        }
        let clusterTable = clusters.keys.sorted().map { c in JSONMember(c, .array((clusters[c] ?? []).map(JSONValue.string))) }
        var out: [UInt8] = []
        JSONWriter.write(.object([JSONMember("brokerAddrTable", .object(brokerTable)), JSONMember("clusterAddrTable", .object(clusterTable))]),
                         into: &out)
        return out
    }
}
