import NIOCore
import RocketMQRemoting

public struct QueueKey: Hashable, Sendable, CustomStringConvertible {
    public var topic: String
    public var queueId: Int32
    public init(topic: String, queueId: Int32) {
        self.topic = topic
        self.queueId = queueId
    }
    public var description: String { "\(topic)#\(queueId)" }
}

public struct OffsetKey: Hashable, Sendable, Codable {
    public var group: String
    public var topic: String
    public var queueId: Int32
    public init(group: String, topic: String, queueId: Int32) {
        self.group = group
        self.topic = topic
        self.queueId = queueId
    }
}

/// A client channel of a consumer group (Java ClientChannelInfo).
public struct ClientChannel: Sendable, Hashable {
    public var connection: Int
    public var clientID: String
    public var language: LanguageCode
    public var version: Int32
    public var lastUpdate: Int64
}

/// A consumer group's members and subscriptions (Java ConsumerGroupInfo).
public struct ConsumerGroup: Sendable {
    public var name: String
    public var consumeType: String
    public var messageModel: String
    public var consumeFromWhere: String
    /// topic → subscription, one per topic; the newest subVersion wins.
    public var subscriptions: [String: SubscriptionData] = [:]
    /// Members, in the order they joined.
    public var channels: [ClientChannel] = []

    public var clientIDs: [String] { channels.map(\.clientID) }
}

/// A parked pull.
struct HeldPull: Sendable {
    var client: ClientRef
    var request: RemotingCommand
    var header: PullMessageRequestHeader
    /// The queue (kept: the header's topic is made a String at each read).
    var key: QueueKey
    var filter: TagFilter
    var suspendedAt: Int64
    var timeoutMillis: Int64
}

/// The consume-queue filter of a TAG subscription (Java ExpressionMessageFilter.isMatchedByConsumeQueue).
struct TagFilter: Sendable {
    var all: Bool
    var codes: Set<Int64>
    init(_ sub: SubscriptionData?) {
        guard let sub, sub.expressionType.uppercased() == "TAG", sub.subString != "*", !sub.subString.isEmpty else {
            all = true; codes = []; return
        }
        all = false
        codes = Set(sub.codeSet.map { Int64($0) })
        codes.formUnion(sub.tagsSet.map { Int64(JavaHashMapOrder.javaHashCode($0)) })
        // The C++ client sends only subString (no tagsSet, no codeSet): the tags are read from the expression,
        // as FilterAPI builds them. (The real broker would then match nothing.)
        if codes.isEmpty {
            let parsed = SubscriptionData.tag(topic: sub.topic, expression: sub.subString, subVersion: sub.subVersion)
            if parsed.subString == "*" { all = true }
            codes = Set(parsed.codeSet.map { Int64($0) })
        }
    }
    /// nil tags code: "something arrived", as the periodic check asks.
    func matches(_ code: Int64?) -> Bool {
        guard let code else { return true }
        return all || codes.contains(code)
    }
}

struct LockEntry: Sendable {
    var clientID: String
    var lastUpdate: Int64
}

/// The broker as a plain value: requests and clock ticks in, actions out. No I/O.
public struct BrokerState: Sendable {
    public var config: BrokerConfiguration
    public internal(set) var topics: [String: TopicConfig] = [:]
    public internal(set) var queues: [QueueKey: ConsumeQueue] = [:]
    public internal(set) var offsets: [OffsetKey: Int64] = [:]
    /// Schedule progress per delay level (next offset of SCHEDULE_TOPIC_XXXX queue level-1 to deliver).
    public internal(set) var scheduleOffsets: [Int32: Int64] = [:]
    public internal(set) var groups: [String: ConsumerGroup] = [:]
    /// connection → clientID, from heartbeats (producers included).
    public internal(set) var clientIDs: [Int: String] = [:]
    /// The newest records of the commit log.
    var cache = RecordCache()
    /// Where records and entries that left memory are read back (`--store`); nil: memory only, bounded by
    /// `config.memoryRetentionBytes`.
    public var coldStorage: (any ColdStorage)?
    /// Messages dropped by the memory-only retention (reported once in the log, counted here).
    public internal(set) var droppedByRetention = 0
    /// Next commit-log physical offset.
    public internal(set) var commitLogOffset: Int64 = 0
    var held: [HeldPull] = []
    var lastHoldCheck: Int64 = 0
    var locks: [String: [MessageQueue: LockEntry]] = [:]
    var pendingRecords = ByteBuffer()
    var pendingEntries: [IndexedEntry] = []
    var pendingActions: [BrokerAction] = []
    var offsetsDirty = false
    var topicsDirty = false

    public init(config: BrokerConfiguration = BrokerConfiguration()) {
        self.config = config
        topics[BrokerTopics.defaultTopic] = TopicConfig(topicName: BrokerTopics.defaultTopic, readQueueNums: config.defaultTopicQueueNums,
                                                        writeQueueNums: config.defaultTopicQueueNums, perm: Perm.inherit | Perm.read | Perm.write)
        topics[config.clusterName] = TopicConfig(topicName: config.clusterName, readQueueNums: 16, writeQueueNums: 16, perm: Perm.inherit | Perm.read | Perm.write)
        topics[config.brokerName] = TopicConfig(topicName: config.brokerName, readQueueNums: 1, writeQueueNums: 1, perm: Perm.inherit | Perm.read | Perm.write)
        topics["SELF_TEST_TOPIC"] = TopicConfig(topicName: "SELF_TEST_TOPIC", readQueueNums: 1, writeQueueNums: 1)
        topics["OFFSET_MOVED_EVENT"] = TopicConfig(topicName: "OFFSET_MOVED_EVENT", readQueueNums: 1, writeQueueNums: 1)
        topics[BrokerTopics.scheduleTopic] = TopicConfig(topicName: BrokerTopics.scheduleTopic, readQueueNums: Int32(config.delayLevelMillis.count),
                                                         writeQueueNums: Int32(config.delayLevelMillis.count))
    }

    // MARK: - Entry points

    /// One request (or oneway) from a client connection at `now` (ms since the epoch).
    public mutating func handle(_ request: RemotingCommand, from client: ClientRef, now: Int64) -> [BrokerAction] {
        var out: [BrokerAction] = []
        if let response = dispatch(request, client: client, now: now), !request.isOneway {
            out.append(.respond(connection: client.connection, response))
        }
        return finish(out)
    }

    /// The clock: held pulls that timed out, expired clients, due delayed messages, stale locks.
    public mutating func tick(now: Int64) -> [BrokerAction] {
        var out: [BrokerAction] = []
        deliverDueDelayed(now: now)
        if now - lastHoldCheck >= config.holdCheckIntervalMillis {
            lastHoldCheck = now
            out += checkHeld(now: now)
        }
        for (name, var g) in groups {
            let expired = g.channels.filter { now - $0.lastUpdate > config.clientExpiryMillis }
            guard !expired.isEmpty else { continue }
            for c in expired {
                out.append(.log("client \(c.clientID) (connection #\(c.connection)) of group \(name) sent no heartbeat for \(config.clientExpiryMillis / 1000) s: removed, connection closed"))
                out.append(.expire(connection: c.connection, clientID: c.clientID))
            }
            g.channels.removeAll { now - $0.lastUpdate > config.clientExpiryMillis }
            groups[name] = g.channels.isEmpty ? nil : g
        }
        for (group, table) in locks {
            let kept = table.filter { now - $0.value.lastUpdate <= config.lockExpiryMillis }
            locks[group] = kept.isEmpty ? nil : kept
        }
        boundMemory()
        return finish(out)
    }

    /// The connection closed: its client leaves its groups (members are told), its held pulls are dropped.
    public mutating func connectionClosed(_ connection: Int, now: Int64) -> [BrokerAction] {
        var out: [BrokerAction] = []
        held.removeAll { $0.client.connection == connection }
        clientIDs[connection] = nil
        for name in groups.keys.sorted() {
            guard var g = groups[name], let i = g.channels.firstIndex(where: { $0.connection == connection }) else { continue }
            let c = g.channels.remove(at: i)
            out.append(.log("consumer \(c.clientID) of group \(name) disconnected (connection #\(connection))"))
            if g.channels.isEmpty {
                groups[name] = nil
            } else {
                groups[name] = g
            }
            if config.notifyConsumerIdsChangedEnable && !g.channels.isEmpty {
                out.append(.notifyConsumerIdsChanged(to: g.channels.map(\.connection), group: name))
            }
        }
        return finish(out)
    }

    /// Shutdown: every held pull is answered now.
    public mutating func shutdown(now: Int64) -> [BrokerAction] {
        let all = held
        held = []
        var out: [BrokerAction] = []
        for h in all {
            if case .response(let r) = pull(h.header, request: h.request, client: h.client, now: now, allowSuspend: false, filter: h.filter) {
                out.append(.wake(connection: h.client.connection, r))
            }
        }
        return finish(out)
    }

    mutating func finish(_ out: [BrokerAction]) -> [BrokerAction] {
        var result: [BrokerAction] = []
        if !pendingEntries.isEmpty {
            result.append(.persist([pendingRecords], entries: pendingEntries))
            pendingRecords = ByteBuffer()
            pendingEntries = []
        }
        if topicsDirty { result.append(.topicsChanged); topicsDirty = false }
        if offsetsDirty { result.append(.persistOffsets); offsetsDirty = false }
        result += pendingActions
        pendingActions = []
        result += out
        return result
    }

    // MARK: - Dispatch

    static func missingField(_ e: Error) -> String {
        if let d = e as? RemotingDecodingError, case .missingField(let f) = d.reason {
            return "org.apache.rocketmq.remoting.exception.RemotingCommandException: the custom field <\(f)> is null"
        }
        return "org.apache.rocketmq.remoting.exception.RemotingCommandException: \(e)"
    }

    func reply(_ request: RemotingCommand, _ code: Int32, remark: String? = nil, extFields: ExtFields? = nil,
               body: ByteBuffer? = nil) -> RemotingCommand {
        RemotingCommand.response(to: request, code: code, remark: remark, extFields: extFields, body: body, version: config.version)
    }

    mutating func dispatch(_ request: RemotingCommand, client: ClientRef, now: Int64) -> RemotingCommand? {
        do {
            switch request.code {
            case RequestCode.heartBeat: return try heartbeat(request, client: client, now: now)
            case RequestCode.unregisterClient: return try unregisterClient(request, client: client, now: now)
            case RequestCode.getConsumerListByGroup: return try consumerList(request)
            case RequestCode.queryConsumerOffset: return try queryConsumerOffset(request)
            case RequestCode.updateConsumerOffset: return try updateConsumerOffset(request)
            case RequestCode.pullMessage:
                let h = try PullMessageRequestHeader(fields: request.allFields)
                switch pull(h, request: request, client: client, now: now, allowSuspend: true, filter: nil) {
                case .response(let r): return r
                case .held: return nil
                }
            case RequestCode.sendMessage, RequestCode.sendMessageV2, RequestCode.sendBatchMessage:
                return try send(request, client: client, now: now)
            case RequestCode.consumerSendMsgBack: return try sendBack(request, client: client, now: now)
            case RequestCode.updateAndCreateTopic: return try createTopic(request)
            case RequestCode.getMaxOffset, RequestCode.getMinOffset, RequestCode.searchOffsetByTimestamp,
                 RequestCode.getEarliestMsgStoretime:
                return try queueOffset(request)
            case RequestCode.lockBatchMQ: return try lockBatch(request, now: now)
            case RequestCode.unlockBatchMQ: return try unlockBatch(request)
            default:
                return reply(request, ResponseCode.requestCodeNotSupported, remark: " request type \(request.code) not supported")
            }
        } catch {
            return reply(request, ResponseCode.systemError, remark: Self.missingField(error))
        }
    }

    // MARK: - Topics

    /// Creates or replaces a topic (admin, or --topic at start-up).
    @discardableResult
    public mutating func updateTopic(_ t: TopicConfig) -> TopicConfig {
        topics[t.topicName] = t
        topicsDirty = true
        return t
    }

    /// createTopicInSendMessageMethod: from the default topic, with min(requested, default's write queues).
    mutating func autoCreateTopic(_ topic: String, defaultTopic: String, queueNums: Int32) -> TopicConfig? {
        if let t = topics[topic] { return t }
        guard config.autoCreateTopicEnable, let def = topics[defaultTopic], def.perm & Perm.inherit != 0 else { return nil }
        let n = max(1, min(queueNums, def.writeQueueNums))
        pendingActions.append(.log("auto-created topic \(topic) with \(n) queues from \(defaultTopic)"))
        return updateTopic(TopicConfig(topicName: topic, readQueueNums: n, writeQueueNums: n, perm: def.perm & ~Perm.inherit))
    }

    /// createTopicInSendMessageBackMethod: retry and DLQ topics.
    mutating func systemTopic(_ topic: String, queues: Int32, perm: Int32) -> TopicConfig {
        if let t = topics[topic] { return t }
        return updateTopic(TopicConfig(topicName: topic, readQueueNums: queues, writeQueueNums: queues, perm: perm))
    }

    mutating func createTopic(_ request: RemotingCommand) throws -> RemotingCommand {
        // The codec's header (declared once, generated): like Java's decodeCommandCustomHeader it requires every
        // @CFNotNull field, `order` included (Java clients always send it; a request without it is refused).
        let h = try CreateTopicRequestHeader(fields: request.allFields)
        if h.topic == config.clusterName {
            return reply(request, ResponseCode.systemError, remark: "the topic[\(h.topic)] is conflict with system reserved words.")
        }
        if let why = validateTopic(h.topic) { return reply(request, ResponseCode.systemError, remark: why) }
        updateTopic(TopicConfig(topicName: h.topic, readQueueNums: h.readQueueNums, writeQueueNums: h.writeQueueNums, perm: h.perm,
                                topicSysFlag: h.topicSysFlag ?? 0, order: h.order))
        // The real broker never clears the remark createResponseCommand puts there (capture cap1).
        return reply(request, ResponseCode.success, remark: "not set any response code")
    }

    // MARK: - Clients

    mutating func heartbeat(_ request: RemotingCommand, client: ClientRef, now: Int64) throws -> RemotingCommand {
        guard let body = request.body else {
            return reply(request, ResponseCode.systemError, remark: "HeartbeatData body missing")
        }
        let hb = try body.withUnsafeReadableBytes { try HeartbeatData.decode($0) }
        clientIDs[client.connection] = hb.clientID
        for cd in hb.consumerDataSet {
            let retry = BrokerTopics.retryPrefix + cd.groupName
            if topics[retry] == nil { _ = systemTopic(retry, queues: 1, perm: Perm.read | Perm.write) }
            let channel = ClientChannel(connection: client.connection, clientID: hb.clientID, language: request.language,
                                        version: request.version, lastUpdate: now)
            register(group: cd, channel: channel)
        }
        return reply(request, ResponseCode.success)
    }

    /// An enum sent as its ordinal (the C++ client) by its Java name.
    static func enumName(_ text: String, _ names: [String]) -> String {
        if let i = Int(text), i >= 0, i < names.count { return names[i] }
        return text
    }

    /// ConsumerManager.registerConsumer.
    mutating func register(group cd: ConsumerData, channel: ClientChannel) {
        var g = groups[cd.groupName] ?? ConsumerGroup(name: cd.groupName, consumeType: cd.consumeType, messageModel: cd.messageModel,
                                                      consumeFromWhere: cd.consumeFromWhere)
        var newMember = false
        if let i = g.channels.firstIndex(where: { $0.connection == channel.connection }) {
            if g.channels[i].clientID != channel.clientID {
                pendingActions.append(.log("group \(cd.groupName): connection #\(channel.connection) changed its client id from \(g.channels[i].clientID) to \(channel.clientID)"))
            }
            g.channels[i] = channel
        } else {
            g.channels.append(channel)
            newMember = true
            pendingActions.append(.log("new consumer connected, group: \(cd.groupName) \(Self.enumName(cd.consumeType, ["CONSUME_ACTIVELY", "CONSUME_PASSIVELY", "CONSUME_POP"])) \(Self.enumName(cd.messageModel, ["BROADCASTING", "CLUSTERING"])) channel: #\(channel.connection) \(channel.clientID)"))
        }
        g.consumeType = cd.consumeType
        g.messageModel = cd.messageModel
        g.consumeFromWhere = cd.consumeFromWhere
        // updateSubscription: add new topics, replace on a newer subVersion, drop topics no longer sent.
        for sub in cd.subscriptionDataSet {
            if let old = g.subscriptions[sub.topic] {
                if sub.subVersion > old.subVersion { g.subscriptions[sub.topic] = sub }
            } else {
                g.subscriptions[sub.topic] = sub
            }
        }
        let sent = Set(cd.subscriptionDataSet.map(\.topic))
        for t in g.subscriptions.keys where !sent.contains(t) { g.subscriptions[t] = nil }
        groups[cd.groupName] = g
        if newMember && config.notifyConsumerIdsChangedEnable {
            pendingActions.append(.notifyConsumerIdsChanged(to: g.channels.map(\.connection), group: cd.groupName))
        }
    }

    mutating func unregisterClient(_ request: RemotingCommand, client: ClientRef, now: Int64) throws -> RemotingCommand {
        let h = try UnregisterClientRequestHeader(fields: request.allFields)
        if let group = h.consumerGroup, var g = groups[group] {
            g.channels.removeAll { $0.connection == client.connection }
            groups[group] = g.channels.isEmpty ? nil : g
            if config.notifyConsumerIdsChangedEnable && !g.channels.isEmpty {
                pendingActions.append(.notifyConsumerIdsChanged(to: g.channels.map(\.connection), group: group))
            }
        }
        return reply(request, ResponseCode.success, extFields: ExtFields())
    }

    func consumerList(_ request: RemotingCommand) throws -> RemotingCommand {
        let h = try ConsumerGroupHeader(fields: request.allFields)
        if let g = groups[h.consumerGroup], !g.channels.isEmpty {
            var bytes: [UInt8] = []
            JSONWriter.write(ConsumerIdList.json(g.clientIDs), into: &bytes)
            return reply(request, ResponseCode.success, extFields: ExtFields(), body: ByteBuffer(bytes: bytes))
        }
        return reply(request, ResponseCode.systemError, remark: "no consumer for this group, \(h.consumerGroup)", extFields: ExtFields())
    }

    // MARK: - Offsets

    func queryConsumerOffset(_ request: RemotingCommand) throws -> RemotingCommand {
        let h = try QueryConsumerOffsetRequestHeader(fields: request.allFields)
        if let o = offsets[OffsetKey(group: h.consumerGroup, topic: h.topic, queueId: h.queueId)], o >= 0 {
            return reply(request, ResponseCode.success, extFields: OffsetResponseHeader(offset: o).extFields)
        }
        // No committed offset: 0 when the queue still starts at 0 and its first message is "in memory", else
        // QUERY_NOT_FOUND. The real broker's test (checkInDiskByCommitOffset) is the message's distance from the end
        // of the commit log against 40 % of the machine's memory; here, against the record cache (memory only:
        // everything kept is in memory).
        let key = QueueKey(topic: h.topic, queueId: h.queueId)
        let min = queues[key]?.minOffset ?? 0
        let inMemory = coldStorage == nil || (entry(key, at: 0).map { commitLogOffset - $0.physicalOffset <= Int64(config.recordCacheBytes) } ?? true)
        if min <= 0 && inMemory && h.setZeroIfNotFound != false {
            return reply(request, ResponseCode.success, extFields: OffsetResponseHeader(offset: 0).extFields)
        }
        return reply(request, ResponseCode.queryNotFound, remark: "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first",
                     extFields: ExtFields())
    }

    mutating func updateConsumerOffset(_ request: RemotingCommand) throws -> RemotingCommand {
        let h = try UpdateConsumerOffsetRequestHeader(fields: request.allFields)
        commit(group: h.consumerGroup, topic: h.topic, queueId: h.queueId, offset: h.commitOffset)
        return reply(request, ResponseCode.success, extFields: ExtFields())
    }

    public mutating func commit(group: String, topic: String, queueId: Int32, offset: Int64) {
        let k = OffsetKey(group: group, topic: topic, queueId: queueId)
        if offsets[k] != offset {
            offsets[k] = offset
            offsetsDirty = true
        }
    }

    func queueOffset(_ request: RemotingCommand) throws -> RemotingCommand {
        let fields = request.allFields
        let h = request.code == RequestCode.searchOffsetByTimestamp ? try QueueOffsetRequestHeader.searchOffset(fields: fields)
            : try QueueOffsetRequestHeader(fields: fields)
        let key = QueueKey(topic: h.topic, queueId: h.queueId)
        let q = queues[key] ?? ConsumeQueue()
        switch request.code {
        case RequestCode.getMaxOffset:
            return reply(request, ResponseCode.success, extFields: OffsetResponseHeader(offset: q.maxOffset).extFields)
        case RequestCode.getMinOffset:
            return reply(request, ResponseCode.success, extFields: OffsetResponseHeader(offset: q.minOffset).extFields)
        case RequestCode.getEarliestMsgStoretime:
            // An empty queue: -1, as getEarliestMessageTime.
            return reply(request, ResponseCode.success, extFields: ["timestamp": String(entry(key, at: q.minOffset)?.storeTimestamp ?? -1)])
        default:
            // The first offset stored at or after the time (store times ascend along a queue): a binary search.
            let ts = h.timestamp ?? 0
            var lo = q.minOffset, hi = q.maxOffset
            while lo < hi {
                let mid = lo + (hi - lo) / 2
                if let e = entry(key, at: mid), e.storeTimestamp < ts { lo = mid + 1 } else { hi = mid }
            }
            return reply(request, ResponseCode.success, extFields: OffsetResponseHeader(offset: lo).extFields)
        }
    }

    // MARK: - Locks

    mutating func lockBatch(_ request: RemotingCommand, now: Int64) throws -> RemotingCommand {
        let body = try lockBody(request)
        var table = locks[body.consumerGroup] ?? [:]
        var ok: [MessageQueue] = []
        for mq in body.mqSet {
            if let e = table[mq], e.clientID != body.clientId, now - e.lastUpdate <= config.lockExpiryMillis {
                pendingActions.append(.log("lock \(mq) for \(body.clientId) failed: locked by \(e.clientID)"))
                continue
            }
            table[mq] = LockEntry(clientID: body.clientId, lastUpdate: now)
            ok.append(mq)
        }
        locks[body.consumerGroup] = table
        var bytes: [UInt8] = []
        JSONWriter.write(LockBatchResponseBody.json(ok), into: &bytes)
        return reply(request, ResponseCode.success, body: ByteBuffer(bytes: bytes))
    }

    mutating func unlockBatch(_ request: RemotingCommand) throws -> RemotingCommand {
        let body = try lockBody(request)
        if var table = locks[body.consumerGroup] {
            for mq in body.mqSet where table[mq]?.clientID == body.clientId { table[mq] = nil }
            locks[body.consumerGroup] = table.isEmpty ? nil : table
        }
        return reply(request, ResponseCode.success)
    }

    func lockBody(_ request: RemotingCommand) throws -> LockBatchRequestBody {
        guard let b = request.body else { throw RemotingDecodingError(LockBatchRequestBody.name, .missingField(field: "body")) }
        return try b.withUnsafeReadableBytes { try LockBatchRequestBody(json: try JSONParser.parse($0, context: LockBatchRequestBody.name)) }
    }

    /// Who holds a queue's lock (tests).
    public func lockOwner(group: String, queue: MessageQueue, now: Int64) -> String? {
        guard let e = locks[group]?[queue], now - e.lastUpdate <= config.lockExpiryMillis else { return nil }
        return e.clientID
    }

    public var heldPullCount: Int { held.count }
}
