import NIOCore
import RMQCapture
import RMQTraceModel
import RocketMQRemoting

/// Test support, not production API.
///
/// Builds synthetic captures from RemotingCommands: TCP connections via the TCPSynthesizer, frames encoded by
/// the codec, time advancing as the script says. Used to make the fixtures in Fixtures/.
public struct ScenarioBuilder {
    public var records: [PacketRecord] = []
    public var now: Int64
    public var connections: [String: TCPSynthesizer] = [:]
    public var nextOpaque: Int32 = 100

    public init(startSeconds: Int64 = 1_764_000_000) { now = startSeconds * 1_000_000_000 }

    public var time: CaptureTime { CaptureTime(nanoseconds: now) }

    public mutating func wait(ms: Double) { now += Int64(ms * 1_000_000) }

    public static func ep(_ s: String) -> Endpoint {
        // "a.b.c.d:port" or "[v6]:port" (only ::N forms are needed here)
        if s.hasPrefix("[") {
            let close = s.firstIndex(of: "]")!
            let port = UInt16(s[s.index(close, offsetBy: 2)...])!
            let last = UInt64(s[s.index(s.startIndex, offsetBy: 3)..<close], radix: 16) ?? 1
            return Endpoint(address: .v6(0xFD00_0000_0000_0000, last), port: port)
        }
        let parts = s.split(separator: ":")
        let o = parts[0].split(separator: ".").map { UInt32($0)! }
        return Endpoint(address: .v4(o[0] << 24 | o[1] << 16 | o[2] << 8 | o[3]), port: UInt16(parts[1])!)
    }

    /// Opens a connection (with handshake unless `midStream`).
    public mutating func connect(_ name: String, client: String, server: String, midStream: Bool = false) {
        var s = TCPSynthesizer(client: Self.ep(client), server: Self.ep(server),
                               clientISN: UInt32(1000 + connections.count * 7919), serverISN: UInt32(900_000 + connections.count * 104_729))
        s.spacing = 20_000
        if !midStream {
            records += s.handshake(at: time)
            wait(ms: 0.1)
        }
        connections[name] = s
    }

    public mutating func opaque() -> Int32 {
        nextOpaque += 1
        return nextOpaque
    }

    public static func bytes(_ cmd: RemotingCommand) -> [UInt8] {
        var b = RemotingFrame.encode(cmd)
        return b.readBytes(length: b.readableBytes)!
    }

    /// Sends a command from one side; returns the packets so a caller can reorder them instead.
    @discardableResult
    public mutating func send(_ conn: String, from side: TCPSynthesizer.Side, _ cmd: RemotingCommand, segmentSize: Int? = nil,
                       emit: Bool = true) -> [PacketRecord] {
        let packets = connections[conn]!.send(from: side, bytes: Self.bytes(cmd), at: time, segmentSize: segmentSize)
        if emit { records += packets }
        wait(ms: 0.05)
        return packets
    }

    /// A request from the client and, after `latencyMs`, its answer.
    public mutating func exchange(_ conn: String, _ request: RemotingCommand, latencyMs: Double = 1.2,
                           answer: (RemotingCommand) -> RemotingCommand?) {
        send(conn, from: .client, request)
        wait(ms: latencyMs)
        if let r = answer(request) { send(conn, from: .server, r) }
    }

    public mutating func close(_ conn: String) {
        records.append(connections[conn]!.fin(from: .client, at: time))
        records.append(connections[conn]!.fin(from: .server, at: CaptureTime(nanoseconds: now + 50_000)))
        records.append(connections[conn]!.ack(from: .client, at: CaptureTime(nanoseconds: now + 100_000)))
        wait(ms: 0.2)
    }

    public mutating func reset(_ conn: String, from side: TCPSynthesizer.Side = .server) {
        records.append(connections[conn]!.rst(from: side, at: time))
        wait(ms: 0.1)
    }

    public func pcap() -> [UInt8] { PcapWriter.file(records, precision: .microseconds) }

    // MARK: commands

    public mutating func request(_ code: Int32, _ ext: ExtFields? = nil, body: [UInt8]? = nil, oneway: Bool = false,
                          serializeType: SerializeType = .json, version: Int32 = MQVersion.v4_9_4) -> RemotingCommand {
        RemotingCommand.request(code: code, opaque: opaque(), extFields: ext, body: body.map { ByteBuffer(bytes: $0) },
                                oneway: oneway, version: version, serializeType: serializeType)
    }

    public static func response(_ to: RemotingCommand, _ ext: ExtFields?, body: [UInt8]? = nil) -> RemotingCommand {
        response(to, 0, ext: ext, body: body)
    }

    public static func response(_ to: RemotingCommand, _ code: Int32 = 0, remark: String? = nil, ext: ExtFields? = nil,
                         body: [UInt8]? = nil) -> RemotingCommand {
        RemotingCommand.response(to: to, code: code, remark: remark, extFields: ext, body: body.map { ByteBuffer(bytes: $0) })
    }

    public static func json(_ v: JSONValue) -> [UInt8] { Array(v.compactText.utf8) }

    public static func route(brokers: [(name: String, addr: String)], queues: Int32) -> [UInt8] {
        json(TopicRouteData(brokerDatas: brokers.map { BrokerData(cluster: "DefaultCluster", brokerName: $0.name, brokerAddrs: [(0, $0.addr)]) },
                            queueDatas: brokers.map { QueueData(brokerName: $0.name, readQueueNums: queues, writeQueueNums: queues) })
            .json(standardJSON: true))
    }

    public static func heartbeat(clientID: String, group: String, subscriptions: [(String, String)], model: String = "CLUSTERING") -> [UInt8] {
        var subs = subscriptions.map { SubscriptionData.tag(topic: $0.0, expression: $0.1, subVersion: 1_764_000_000_000) }
        if model == "CLUSTERING" { subs.append(.tag(topic: "%RETRY%\(group)", expression: "*", subVersion: 1_764_000_000_000)) }
        return json(HeartbeatData(clientID: clientID,
                                  consumerDataSet: [ConsumerData(groupName: group, messageModel: model, consumeFromWhere: "CONSUME_FROM_LAST_OFFSET",
                                                                 subscriptionDataSet: subs)],
                                  producerGroups: ["CLIENT_INNER_PRODUCER"]).json)
    }

    /// `count` stored records of `topic`/`queueId` from `offset`.
    public static func messages(topic: String, queueId: Int32, from offset: Int64, count: Int, bodySize: Int = 60, tags: String = "TagA") -> [UInt8] {
        var out = ByteBuffer()
        for i in 0..<count {
            let qo = offset + Int64(i)
            let body = Array("message \(topic)#\(queueId)@\(qo) ".utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: bodySize)
            StoredMessageDecoder.encode(queueId: queueId, queueOffset: qo, physicalOffset: 100_000 + qo * 300 + Int64(queueId) * 1_000_000,
                                        bornTimestamp: 1_764_000_000_000 + qo, bornHost: MessageHost(address: [10, 0, 0, 50], port: 40000),
                                        storeTimestamp: 1_764_000_000_001 + qo, storeHost: MessageHost(address: [10, 0, 0, 2], port: 10911),
                                        body: body, topic: topic,
                                        propertiesText: MessageProperties.encode([("TAGS", tags), ("KEYS", "k\(qo)"), ("UNIQ_KEY", String(format16: qo))]),
                                        into: &out)
        }
        return out.readBytes(length: out.readableBytes)!
    }

    public static func pull(group: String, topic: String, queueId: Int32, offset: Int64, commit: Int64? = nil) -> ExtFields {
        PullMessageRequestHeader(consumerGroup: group, topic: topic, queueId: queueId, queueOffset: offset,
                                 sysFlag: commit != nil ? [.commitOffset, .suspend] : .suspend, commitOffset: commit ?? 0,
                                 subVersion: 1_764_000_000_000).extFields
    }

    public static func pullAnswer(_ to: RemotingCommand, _ code: Int32, remark: String, next: Int64, min: Int64 = 0, max: Int64,
                           body: [UInt8]? = nil) -> RemotingCommand {
        response(to, code, remark: remark, ext: PullMessageResponseHeader(nextBeginOffset: next, minOffset: min, maxOffset: max).extFields, body: body)
    }
}

extension String {
    public init(format16 v: Int64) {
        let h = String(UInt64(bitPattern: v), radix: 16, uppercase: true)
        self = "0A00003200004242" + String(repeating: "0", count: Swift.max(0, 16 - h.count)) + h
    }
}
