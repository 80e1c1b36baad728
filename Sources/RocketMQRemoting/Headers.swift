// The consume-flow custom headers, one struct per Java header class (PROTOCOL.md section 5). Field order in
// each struct is the Java declaration order.

/// GET_ROUTEINFO_BY_TOPIC (105) request.
public struct GetRouteInfoRequestHeader: CustomHeader {
    public static let javaName = "GetRouteInfoRequestHeader"
    public var topic: String
    public var acceptStandardJsonOnly: Bool?
    public var extra = ExtFields()

    public init(topic: String, acceptStandardJsonOnly: Bool? = nil) {
        self.topic = topic
        self.acceptStandardJsonOnly = acceptStandardJsonOnly
    }
    public init(extFields: ExtFields) throws {
        var r = HeaderFieldReader(extFields, header: Self.javaName)
        try self.init(from: &r)
    }
    init<R: HeaderFieldSource>(from r: inout R) throws {
        topic = try r.string("topic")
        acceptStandardJsonOnly = r.optBool("acceptStandardJsonOnly")
        extra = r.unused()
    }
    public var declaredFields: [(key: String, value: String)] {
        var w = HeaderFieldWriter()
        w.add("topic", topic)
        w.add("acceptStandardJsonOnly", acceptStandardJsonOnly)
        return w.entries
    }
}

/// UNREGISTER_CLIENT (35) request. Note the capital "ID" of `clientID`.
public struct UnregisterClientRequestHeader: CustomHeader {
    public static let javaName = "UnregisterClientRequestHeader"
    public var clientID: String
    public var producerGroup: String?
    public var consumerGroup: String?
    public var extra = ExtFields()

    public init(clientID: String, producerGroup: String? = nil, consumerGroup: String? = nil) {
        self.clientID = clientID
        self.producerGroup = producerGroup
        self.consumerGroup = consumerGroup
    }
    public init(extFields: ExtFields) throws {
        var r = HeaderFieldReader(extFields, header: Self.javaName)
        try self.init(from: &r)
    }
    init<R: HeaderFieldSource>(from r: inout R) throws {
        clientID = try r.string("clientID")
        producerGroup = r.optString("producerGroup")
        consumerGroup = r.optString("consumerGroup")
        extra = r.unused()
    }
    public var declaredFields: [(key: String, value: String)] {
        var w = HeaderFieldWriter()
        w.add("clientID", clientID)
        w.add("producerGroup", producerGroup)
        w.add("consumerGroup", consumerGroup)
        return w.entries
    }
}

/// A header whose only field is the consumer group: GET_CONSUMER_LIST_BY_GROUP (38) request
/// (GetConsumerListByGroupRequestHeader) and NOTIFY_CONSUMER_IDS_CHANGED (40)
/// (NotifyConsumerIdsChangedRequestHeader) have exactly this shape.
public struct ConsumerGroupHeader: CustomHeader {
    public static let javaName = "GetConsumerListByGroupRequestHeader"
    public var consumerGroup: String
    public var extra = ExtFields()

    public init(consumerGroup: String) { self.consumerGroup = consumerGroup }
    public init(extFields: ExtFields) throws {
        var r = HeaderFieldReader(extFields, header: Self.javaName)
        try self.init(from: &r)
    }
    init<R: HeaderFieldSource>(from r: inout R) throws {
        consumerGroup = try r.string("consumerGroup")
        extra = r.unused()
    }
    public var declaredFields: [(key: String, value: String)] { [(key: "consumerGroup", value: consumerGroup)] }
}

/// QUERY_CONSUMER_OFFSET (14) request.
public struct QueryConsumerOffsetRequestHeader: CustomHeader {
    public static let javaName = "QueryConsumerOffsetRequestHeader"
    public var consumerGroup: String
    public var topic: String
    public var queueId: Int32
    public var setZeroIfNotFound: Bool?
    public var extra = ExtFields()

    public init(consumerGroup: String, topic: String, queueId: Int32, setZeroIfNotFound: Bool? = nil) {
        self.consumerGroup = consumerGroup
        self.topic = topic
        self.queueId = queueId
        self.setZeroIfNotFound = setZeroIfNotFound
    }
    public init(extFields: ExtFields) throws {
        var r = HeaderFieldReader(extFields, header: Self.javaName)
        try self.init(from: &r)
    }
    init<R: HeaderFieldSource>(from r: inout R) throws {
        consumerGroup = try r.string("consumerGroup")
        topic = try r.string("topic")
        queueId = try r.int32("queueId")
        setZeroIfNotFound = r.optBool("setZeroIfNotFound")
        extra = r.unused()
    }
    public var declaredFields: [(key: String, value: String)] {
        var w = HeaderFieldWriter()
        w.add("consumerGroup", consumerGroup)
        w.add("topic", topic)
        w.add("queueId", queueId)
        w.add("setZeroIfNotFound", setZeroIfNotFound)
        return w.entries
    }
}

/// A response header with one `offset` (Long): QueryConsumerOffsetResponseHeader (14),
/// GetMaxOffsetResponseHeader (30), GetMinOffsetResponseHeader (31), SearchOffsetResponseHeader (29).
public struct OffsetResponseHeader: CustomHeader {
    public static let javaName = "OffsetResponseHeader"
    public var offset: Int64
    public var extra = ExtFields()

    public init(offset: Int64) { self.offset = offset }
    public init(extFields: ExtFields) throws {
        var r = HeaderFieldReader(extFields, header: Self.javaName)
        try self.init(from: &r)
    }
    init<R: HeaderFieldSource>(from r: inout R) throws {
        offset = try r.int64("offset")
        extra = r.unused()
    }
    public var declaredFields: [(key: String, value: String)] { [(key: "offset", value: String(offset))] }
}

/// UPDATE_CONSUMER_OFFSET (15) request.
public struct UpdateConsumerOffsetRequestHeader: CustomHeader {
    public static let javaName = "UpdateConsumerOffsetRequestHeader"
    public var consumerGroup: String
    public var topic: String
    public var queueId: Int32
    public var commitOffset: Int64
    public var extra = ExtFields()

    public init(consumerGroup: String, topic: String, queueId: Int32, commitOffset: Int64) {
        self.consumerGroup = consumerGroup
        self.topic = topic
        self.queueId = queueId
        self.commitOffset = commitOffset
    }
    public init(extFields: ExtFields) throws {
        var r = HeaderFieldReader(extFields, header: Self.javaName)
        try self.init(from: &r)
    }
    init<R: HeaderFieldSource>(from r: inout R) throws {
        consumerGroup = try r.string("consumerGroup")
        topic = try r.string("topic")
        queueId = try r.int32("queueId")
        commitOffset = try r.int64("commitOffset")
        extra = r.unused()
    }
    public var declaredFields: [(key: String, value: String)] {
        var w = HeaderFieldWriter()
        w.add("consumerGroup", consumerGroup)
        w.add("topic", topic)
        w.add("queueId", queueId)
        w.add("commitOffset", commitOffset)
        return w.entries
    }
}

/// PULL_MESSAGE sysFlag bits (PullSysFlag).
public struct PullSysFlag: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    public static let commitOffset = PullSysFlag(rawValue: 0x1)
    public static let suspend = PullSysFlag(rawValue: 0x2)
    public static let subscription = PullSysFlag(rawValue: 0x4)
    public static let classFilter = PullSysFlag(rawValue: 0x8)
    public static let litePull = PullSysFlag(rawValue: 0x10)

    static let names: [(PullSysFlag, String)] = [(.commitOffset, "COMMIT_OFFSET"), (.suspend, "SUSPEND"),
                                                 (.subscription, "SUBSCRIPTION"), (.classFilter, "CLASS_FILTER"),
                                                 (.litePull, "LITE_PULL")]
    /// e.g. `COMMIT_OFFSET|SUSPEND`; unknown bits as hex.
    public var description: String {
        var parts = Self.names.filter { contains($0.0) }.map(\.1)
        let rest = rawValue & ~0x1F
        if rest != 0 { parts.append("0x" + String(rest, radix: 16)) }
        return parts.isEmpty ? "NONE" : parts.joined(separator: "|")
    }
}

/// PULL_MESSAGE (11) request.
public struct PullMessageRequestHeader: CustomHeader {
    public static let javaName = "PullMessageRequestHeader"
    public var consumerGroup: String
    public var topic: String
    public var queueId: Int32
    public var queueOffset: Int64
    public var maxMsgNums: Int32
    public var sysFlag: PullSysFlag
    public var commitOffset: Int64
    public var suspendTimeoutMillis: Int64
    public var subscription: String?
    public var subVersion: Int64
    public var expressionType: String?
    public var maxMsgBytes: Int32?
    public var requestSource: Int32?
    public var proxyFrowardClientId: String?
    public var extra = ExtFields()

    public init(consumerGroup: String, topic: String, queueId: Int32, queueOffset: Int64, maxMsgNums: Int32 = 32,
                sysFlag: PullSysFlag, commitOffset: Int64, suspendTimeoutMillis: Int64 = 15000, subscription: String? = nil,
                subVersion: Int64, expressionType: String? = "TAG", maxMsgBytes: Int32? = nil, requestSource: Int32? = nil,
                proxyFrowardClientId: String? = nil) {
        self.consumerGroup = consumerGroup
        self.topic = topic
        self.queueId = queueId
        self.queueOffset = queueOffset
        self.maxMsgNums = maxMsgNums
        self.sysFlag = sysFlag
        self.commitOffset = commitOffset
        self.suspendTimeoutMillis = suspendTimeoutMillis
        self.subscription = subscription
        self.subVersion = subVersion
        self.expressionType = expressionType
        self.maxMsgBytes = maxMsgBytes
        self.requestSource = requestSource
        self.proxyFrowardClientId = proxyFrowardClientId
    }
    public init(extFields: ExtFields) throws {
        var r = HeaderFieldReader(extFields, header: Self.javaName)
        try self.init(from: &r)
    }
    init<R: HeaderFieldSource>(from r: inout R) throws {
        consumerGroup = try r.string("consumerGroup")
        topic = try r.string("topic")
        queueId = try r.int32("queueId")
        queueOffset = try r.int64("queueOffset")
        maxMsgNums = try r.int32("maxMsgNums")
        sysFlag = PullSysFlag(rawValue: try r.int32("sysFlag"))
        commitOffset = try r.int64("commitOffset")
        suspendTimeoutMillis = try r.int64("suspendTimeoutMillis")
        subscription = r.optString("subscription")
        subVersion = try r.int64("subVersion")
        expressionType = r.optString("expressionType")
        maxMsgBytes = try r.optInt32("maxMsgBytes")
        requestSource = try r.optInt32("requestSource")
        proxyFrowardClientId = r.optString("proxyFrowardClientId")
        extra = r.unused()
    }
    public var declaredFields: [(key: String, value: String)] {
        var w = HeaderFieldWriter()
        w.add("consumerGroup", consumerGroup)
        w.add("topic", topic)
        w.add("queueId", queueId)
        w.add("queueOffset", queueOffset)
        w.add("maxMsgNums", maxMsgNums)
        w.add("sysFlag", sysFlag.rawValue)
        w.add("commitOffset", commitOffset)
        w.add("suspendTimeoutMillis", suspendTimeoutMillis)
        w.add("subscription", subscription)
        w.add("subVersion", subVersion)
        w.add("expressionType", expressionType)
        w.add("maxMsgBytes", maxMsgBytes)
        w.add("requestSource", requestSource)
        w.add("proxyFrowardClientId", proxyFrowardClientId)
        return w.entries
    }
}

/// PULL_MESSAGE (11) response, on FOUND / NOT_FOUND / RETRY / OFFSET_MOVED answers.
public struct PullMessageResponseHeader: CustomHeader {
    public static let javaName = "PullMessageResponseHeader"
    public var suggestWhichBrokerId: Int64
    public var nextBeginOffset: Int64
    public var minOffset: Int64
    public var maxOffset: Int64
    public var offsetDelta: Int64?
    public var topicSysFlag: Int32?
    public var groupSysFlag: Int32?
    public var forbiddenType: Int32?
    public var extra = ExtFields()

    public init(suggestWhichBrokerId: Int64 = 0, nextBeginOffset: Int64, minOffset: Int64, maxOffset: Int64,
                offsetDelta: Int64? = nil, topicSysFlag: Int32? = nil, groupSysFlag: Int32? = nil, forbiddenType: Int32? = nil) {
        self.suggestWhichBrokerId = suggestWhichBrokerId
        self.nextBeginOffset = nextBeginOffset
        self.minOffset = minOffset
        self.maxOffset = maxOffset
        self.offsetDelta = offsetDelta
        self.topicSysFlag = topicSysFlag
        self.groupSysFlag = groupSysFlag
        self.forbiddenType = forbiddenType
    }
    public init(extFields: ExtFields) throws {
        var r = HeaderFieldReader(extFields, header: Self.javaName)
        try self.init(from: &r)
    }
    init<R: HeaderFieldSource>(from r: inout R) throws {
        suggestWhichBrokerId = try r.int64("suggestWhichBrokerId")
        nextBeginOffset = try r.int64("nextBeginOffset")
        minOffset = try r.int64("minOffset")
        maxOffset = try r.int64("maxOffset")
        offsetDelta = try r.optInt64("offsetDelta")
        topicSysFlag = try r.optInt32("topicSysFlag")
        groupSysFlag = try r.optInt32("groupSysFlag")
        forbiddenType = try r.optInt32("forbiddenType")
        extra = r.unused()
    }
    public var declaredFields: [(key: String, value: String)] {
        var w = HeaderFieldWriter()
        w.add("suggestWhichBrokerId", suggestWhichBrokerId)
        w.add("nextBeginOffset", nextBeginOffset)
        w.add("minOffset", minOffset)
        w.add("maxOffset", maxOffset)
        w.add("offsetDelta", offsetDelta)
        w.add("topicSysFlag", topicSysFlag)
        w.add("groupSysFlag", groupSysFlag)
        w.add("forbiddenType", forbiddenType)
        return w.entries
    }
}

/// SEND_MESSAGE (10) request with the long keys; SEND_MESSAGE_V2 (310) and SEND_BATCH_MESSAGE (320) carry the
/// same fields under the one-letter keys a…n (`v2Keys`).
public struct SendMessageRequestHeader: CustomHeader {
    public static let javaName = "SendMessageRequestHeader"
    public var producerGroup: String
    public var topic: String
    public var defaultTopic: String
    public var defaultTopicQueueNums: Int32
    public var queueId: Int32
    public var sysFlag: Int32
    public var bornTimestamp: Int64
    public var flag: Int32
    public var properties: String?
    public var reconsumeTimes: Int32?
    public var unitMode: Bool?
    public var batch: Bool?
    public var maxReconsumeTimes: Int32?
    public var brokerName: String?
    public var extra = ExtFields()

    /// V1 key ↔ V2 letter, in the V2 class's order a…n.
    public static let v2Keys: [(long: String, short: String)] = [
        ("producerGroup", "a"), ("topic", "b"), ("defaultTopic", "c"), ("defaultTopicQueueNums", "d"), ("queueId", "e"),
        ("sysFlag", "f"), ("bornTimestamp", "g"), ("flag", "h"), ("properties", "i"), ("reconsumeTimes", "j"),
        ("unitMode", "k"), ("maxReconsumeTimes", "l"), ("batch", "m"), ("brokerName", "n"),
    ]
    public static func longName(ofV2Key key: String) -> String? { v2Keys.first { $0.short == key }?.long }

    public init(producerGroup: String, topic: String, defaultTopic: String = "TBW102", defaultTopicQueueNums: Int32 = 4,
                queueId: Int32, sysFlag: Int32 = 0, bornTimestamp: Int64, flag: Int32 = 0, properties: String? = nil,
                reconsumeTimes: Int32? = 0, unitMode: Bool? = false, batch: Bool? = false, maxReconsumeTimes: Int32? = nil,
                brokerName: String? = nil) {
        self.producerGroup = producerGroup
        self.topic = topic
        self.defaultTopic = defaultTopic
        self.defaultTopicQueueNums = defaultTopicQueueNums
        self.queueId = queueId
        self.sysFlag = sysFlag
        self.bornTimestamp = bornTimestamp
        self.flag = flag
        self.properties = properties
        self.reconsumeTimes = reconsumeTimes
        self.unitMode = unitMode
        self.batch = batch
        self.maxReconsumeTimes = maxReconsumeTimes
        self.brokerName = brokerName
    }

    public init(extFields: ExtFields) throws {
        try self.init(extFields: extFields, v2: false)
    }

    /// Decodes the V1 (long keys) or V2 (letters) form.
    public init(extFields: ExtFields, v2: Bool) throws {
        var r = HeaderFieldReader(extFields, header: Self.headerName(v2: v2))
        try self.init(from: &r, v2: v2)
    }
    static func headerName(v2: Bool) -> String { v2 ? "SendMessageRequestHeaderV2" : javaName }
    init<R: HeaderFieldSource>(from r: inout R, v2: Bool) throws {
        func key(_ long: String) -> String { v2 ? (Self.v2Keys.first { $0.long == long }?.short ?? long) : long }
        producerGroup = try r.string(key("producerGroup"))
        topic = try r.string(key("topic"))
        defaultTopic = try r.string(key("defaultTopic"))
        defaultTopicQueueNums = try r.int32(key("defaultTopicQueueNums"))
        queueId = try r.int32(key("queueId"))
        sysFlag = try r.int32(key("sysFlag"))
        bornTimestamp = try r.int64(key("bornTimestamp"))
        flag = try r.int32(key("flag"))
        properties = r.optString(key("properties"))
        reconsumeTimes = try r.optInt32(key("reconsumeTimes"))
        unitMode = r.optBool(key("unitMode"))
        batch = r.optBool(key("batch"))
        maxReconsumeTimes = try r.optInt32(key("maxReconsumeTimes"))
        brokerName = r.optString(key("brokerName"))
        extra = r.unused()
    }

    public var declaredFields: [(key: String, value: String)] {
        var w = HeaderFieldWriter()
        w.add("producerGroup", producerGroup)
        w.add("topic", topic)
        w.add("defaultTopic", defaultTopic)
        w.add("defaultTopicQueueNums", defaultTopicQueueNums)
        w.add("queueId", queueId)
        w.add("sysFlag", sysFlag)
        w.add("bornTimestamp", bornTimestamp)
        w.add("flag", flag)
        w.add("properties", properties)
        w.add("reconsumeTimes", reconsumeTimes)
        w.add("unitMode", unitMode)
        w.add("maxReconsumeTimes", maxReconsumeTimes)
        w.add("batch", batch)
        w.add("brokerName", brokerName)
        return w.entries
    }

    /// The V2 extFields (letters), in HashMap order.
    public var v2ExtFields: ExtFields {
        let letters = declaredFields.map { f in (key: Self.v2Keys.first { $0.long == f.key }?.short ?? f.key, value: f.value) }
        var e = ExtFields(JavaHashMapOrder.ordered(letters))
        for x in extra.entries { e.append(x.key, x.value) }
        return e
    }

    /// The message properties of the `properties` field (6.4), parsed the Java way.
    public var parsedProperties: [(key: String, value: String)] { MessageProperties.parse(properties ?? "") }
}

/// SEND_MESSAGE / _V2 / SEND_BATCH_MESSAGE response.
public struct SendMessageResponseHeader: CustomHeader {
    public static let javaName = "SendMessageResponseHeader"
    public var msgId: String
    public var queueId: Int32
    public var queueOffset: Int64
    public var transactionId: String?
    public var batchUniqId: String?
    public var recallHandle: String?
    public var extra = ExtFields()

    public init(msgId: String, queueId: Int32, queueOffset: Int64, transactionId: String? = nil) {
        self.msgId = msgId
        self.queueId = queueId
        self.queueOffset = queueOffset
        self.transactionId = transactionId
    }
    public init(extFields: ExtFields) throws {
        var r = HeaderFieldReader(extFields, header: Self.javaName)
        try self.init(from: &r)
    }
    init<R: HeaderFieldSource>(from r: inout R) throws {
        msgId = try r.string("msgId")
        queueId = try r.int32("queueId")
        queueOffset = try r.int64("queueOffset")
        transactionId = r.optString("transactionId")
        batchUniqId = r.optString("batchUniqId")
        recallHandle = r.optString("recallHandle")
        extra = r.unused()
    }
    public var declaredFields: [(key: String, value: String)] {
        var w = HeaderFieldWriter()
        w.add("msgId", msgId)
        w.add("queueId", queueId)
        w.add("queueOffset", queueOffset)
        w.add("transactionId", transactionId)
        w.add("batchUniqId", batchUniqId)
        w.add("recallHandle", recallHandle)
        return w.entries
    }
}

/// CONSUMER_SEND_MSG_BACK (36) request.
public struct ConsumerSendMsgBackRequestHeader: CustomHeader {
    public static let javaName = "ConsumerSendMsgBackRequestHeader"
    public var offset: Int64
    public var group: String
    public var delayLevel: Int32
    public var originMsgId: String?
    public var originTopic: String?
    public var unitMode: Bool
    public var maxReconsumeTimes: Int32?
    public var extra = ExtFields()

    public init(offset: Int64, group: String, delayLevel: Int32, originMsgId: String? = nil, originTopic: String? = nil,
                unitMode: Bool = false, maxReconsumeTimes: Int32? = nil) {
        self.offset = offset
        self.group = group
        self.delayLevel = delayLevel
        self.originMsgId = originMsgId
        self.originTopic = originTopic
        self.unitMode = unitMode
        self.maxReconsumeTimes = maxReconsumeTimes
    }
    public init(extFields: ExtFields) throws {
        var r = HeaderFieldReader(extFields, header: Self.javaName)
        try self.init(from: &r)
    }
    init<R: HeaderFieldSource>(from r: inout R) throws {
        offset = try r.int64("offset")
        group = try r.string("group")
        delayLevel = try r.int32("delayLevel")
        originMsgId = r.optString("originMsgId")
        originTopic = r.optString("originTopic")
        unitMode = r.optBool("unitMode") ?? false
        maxReconsumeTimes = try r.optInt32("maxReconsumeTimes")
        extra = r.unused()
    }
    public var declaredFields: [(key: String, value: String)] {
        var w = HeaderFieldWriter()
        w.add("offset", offset)
        w.add("group", group)
        w.add("delayLevel", delayLevel)
        w.add("originMsgId", originMsgId)
        w.add("originTopic", originTopic)
        w.add("unitMode", unitMode)
        w.add("maxReconsumeTimes", maxReconsumeTimes)
        return w.entries
    }
}

/// A request addressing one queue of a topic: GET_MAX_OFFSET (30, 5.x adds `committed`), GET_MIN_OFFSET (31),
/// GET_EARLIEST_MSG_STORETIME (32) and, with `timestamp`/`boundaryType`, SEARCH_OFFSET_BY_TIMESTAMP (29).
public struct QueueOffsetRequestHeader: CustomHeader {
    public static let javaName = "GetMaxOffsetRequestHeader"
    public var topic: String
    public var queueId: Int32
    /// SEARCH_OFFSET_BY_TIMESTAMP only (required there).
    public var timestamp: Int64?
    /// SEARCH_OFFSET_BY_TIMESTAMP, 5.x: LOWER or UPPER.
    public var boundaryType: String?
    /// GET_MAX_OFFSET, 5.x.
    public var committed: Bool?
    public var extra = ExtFields()

    public init(topic: String, queueId: Int32, timestamp: Int64? = nil, boundaryType: String? = nil, committed: Bool? = nil) {
        self.topic = topic
        self.queueId = queueId
        self.timestamp = timestamp
        self.boundaryType = boundaryType
        self.committed = committed
    }
    public init(extFields: ExtFields) throws {
        var r = HeaderFieldReader(extFields, header: Self.javaName)
        try self.init(from: &r)
    }
    init<R: HeaderFieldSource>(from r: inout R) throws {
        topic = try r.string("topic")
        queueId = try r.int32("queueId")
        timestamp = try r.optInt64("timestamp")
        boundaryType = r.optString("boundaryType")
        committed = r.optBool("committed")
        extra = r.unused()
    }
    /// SEARCH_OFFSET_BY_TIMESTAMP requires `timestamp`.
    public static func searchOffset(extFields: ExtFields) throws -> QueueOffsetRequestHeader {
        var r = HeaderFieldReader(extFields, header: Self.javaName)
        return try searchOffset(from: &r)
    }
    static func searchOffset<R: HeaderFieldSource>(from r: inout R) throws -> QueueOffsetRequestHeader {
        let h = try QueueOffsetRequestHeader(from: &r)
        if h.timestamp == nil { throw RemotingDecodingError("SearchOffsetRequestHeader", .missingField(field: "timestamp")) }
        return h
    }
    public var declaredFields: [(key: String, value: String)] {
        var w = HeaderFieldWriter()
        w.add("topic", topic)
        w.add("queueId", queueId)
        w.add("timestamp", timestamp)
        w.add("boundaryType", boundaryType)
        w.add("committed", committed)
        return w.entries
    }
}

/// GET_CONSUMER_RUNNING_INFO (307) request.
public struct GetConsumerRunningInfoRequestHeader: CustomHeader {
    public static let javaName = "GetConsumerRunningInfoRequestHeader"
    public var consumerGroup: String
    public var clientId: String
    public var jstackEnable: Bool
    public var extra = ExtFields()

    public init(consumerGroup: String, clientId: String, jstackEnable: Bool = false) {
        self.consumerGroup = consumerGroup
        self.clientId = clientId
        self.jstackEnable = jstackEnable
    }
    public init(extFields: ExtFields) throws {
        var r = HeaderFieldReader(extFields, header: Self.javaName)
        try self.init(from: &r)
    }
    init<R: HeaderFieldSource>(from r: inout R) throws {
        consumerGroup = try r.string("consumerGroup")
        clientId = try r.string("clientId")
        jstackEnable = r.optBool("jstackEnable") ?? false
        extra = r.unused()
    }
    public var declaredFields: [(key: String, value: String)] {
        var w = HeaderFieldWriter()
        w.add("consumerGroup", consumerGroup)
        w.add("clientId", clientId)
        w.add("jstackEnable", jstackEnable)
        return w.entries
    }
}

/// The typed header of a command, chosen by its request code (and, for responses, by the code of the
/// request it answers).
public enum TypedHeader: Hashable, Sendable {
    case getRouteInfo(GetRouteInfoRequestHeader)
    case unregisterClient(UnregisterClientRequestHeader)
    case getConsumerListByGroup(ConsumerGroupHeader)
    case notifyConsumerIdsChanged(ConsumerGroupHeader)
    case queryConsumerOffset(QueryConsumerOffsetRequestHeader)
    case updateConsumerOffset(UpdateConsumerOffsetRequestHeader)
    case pullMessage(PullMessageRequestHeader)
    case sendMessage(SendMessageRequestHeader, v2: Bool)
    case consumerSendMsgBack(ConsumerSendMsgBackRequestHeader)
    case queueOffset(QueueOffsetRequestHeader)
    case getConsumerRunningInfo(GetConsumerRunningInfoRequestHeader)
    case offsetResponse(OffsetResponseHeader)
    case pullMessageResponse(PullMessageResponseHeader)
    case sendMessageResponse(SendMessageResponseHeader)

    /// The header of a request (or oneway) with this code, or nil when the code has no typed header here.
    public static func decodeRequest(code: Int32, extFields: ExtFields?) throws -> TypedHeader? {
        let ext = extFields ?? ExtFields()
        return try decodeRequest(code: code) { HeaderFieldReader(ext, header: $0) }
    }

    /// `decodeRequest` over any field source; `reader` makes the source for a header (error context) name.
    static func decodeRequest<R: HeaderFieldSource>(code: Int32, reader: (String) -> R) throws -> TypedHeader? {
        switch code {
        case RequestCode.getRouteInfoByTopic:
            var r = reader(GetRouteInfoRequestHeader.javaName)
            return .getRouteInfo(try .init(from: &r))
        case RequestCode.unregisterClient:
            var r = reader(UnregisterClientRequestHeader.javaName)
            return .unregisterClient(try .init(from: &r))
        case RequestCode.getConsumerListByGroup:
            var r = reader(ConsumerGroupHeader.javaName)
            return .getConsumerListByGroup(try .init(from: &r))
        case RequestCode.notifyConsumerIdsChanged:
            var r = reader(ConsumerGroupHeader.javaName)
            do { return .notifyConsumerIdsChanged(try .init(from: &r)) } catch var e as RemotingDecodingError {
                e.context = "NotifyConsumerIdsChangedRequestHeader"
                throw e
            }
        case RequestCode.queryConsumerOffset:
            var r = reader(QueryConsumerOffsetRequestHeader.javaName)
            return .queryConsumerOffset(try .init(from: &r))
        case RequestCode.updateConsumerOffset:
            var r = reader(UpdateConsumerOffsetRequestHeader.javaName)
            return .updateConsumerOffset(try .init(from: &r))
        case RequestCode.pullMessage, RequestCode.litePullMessage:
            var r = reader(PullMessageRequestHeader.javaName)
            return .pullMessage(try .init(from: &r))
        case RequestCode.sendMessage, RequestCode.sendReplyMessage:
            var r = reader(SendMessageRequestHeader.headerName(v2: false))
            return .sendMessage(try .init(from: &r, v2: false), v2: false)
        case RequestCode.sendMessageV2, RequestCode.sendBatchMessage, RequestCode.sendReplyMessageV2:
            var r = reader(SendMessageRequestHeader.headerName(v2: true))
            return .sendMessage(try .init(from: &r, v2: true), v2: true)
        case RequestCode.consumerSendMsgBack:
            var r = reader(ConsumerSendMsgBackRequestHeader.javaName)
            return .consumerSendMsgBack(try .init(from: &r))
        case RequestCode.getMaxOffset, RequestCode.getMinOffset, RequestCode.getEarliestMsgStoretime:
            var r = reader(QueueOffsetRequestHeader.javaName)
            return .queueOffset(try .init(from: &r))
        case RequestCode.searchOffsetByTimestamp:
            var r = reader(QueueOffsetRequestHeader.javaName)
            return .queueOffset(try .searchOffset(from: &r))
        case RequestCode.getConsumerRunningInfo:
            var r = reader(GetConsumerRunningInfoRequestHeader.javaName)
            return .getConsumerRunningInfo(try .init(from: &r))
        default: return nil
        }
    }

    /// The header of a response with `responseCode` to a request with `requestCode`. Error answers carry no
    /// typed header (nil), except the pull statuses that keep the offsets.
    public static func decodeResponse(requestCode: Int32, responseCode: Int32, extFields: ExtFields?) throws -> TypedHeader? {
        guard let ext = extFields else { return nil }
        return try decodeResponse(requestCode: requestCode, responseCode: responseCode, present: true) {
            HeaderFieldReader(ext, header: $0)
        }
    }

    /// `decodeResponse` over any field source; `present` says whether the command has extFields at all.
    static func decodeResponse<R: HeaderFieldSource>(requestCode: Int32, responseCode: Int32, present: Bool,
                                                     reader: (String) -> R) throws -> TypedHeader? {
        guard present else { return nil }
        switch requestCode {
        case RequestCode.pullMessage, RequestCode.litePullMessage:
            switch responseCode {
            case ResponseCode.success, ResponseCode.pullNotFound, ResponseCode.pullRetryImmediately, ResponseCode.pullOffsetMoved:
                var r = reader(PullMessageResponseHeader.javaName)
                return .pullMessageResponse(try .init(from: &r))
            default:
                return nil
            }
        case RequestCode.queryConsumerOffset, RequestCode.getMaxOffset, RequestCode.getMinOffset,
             RequestCode.searchOffsetByTimestamp:
            guard responseCode == ResponseCode.success else { return nil }
            var r = reader(OffsetResponseHeader.javaName)
            return .offsetResponse(try .init(from: &r))
        case RequestCode.sendMessage, RequestCode.sendMessageV2, RequestCode.sendBatchMessage:
            switch responseCode {
            case 0, 10, 11, 12:
                var r = reader(SendMessageResponseHeader.javaName)
                return .sendMessageResponse(try .init(from: &r))
            default: return nil
            }
        default:
            return nil
        }
    }

    /// The Java class name of the header.
    public var javaName: String {
        switch self {
        case .getRouteInfo: return GetRouteInfoRequestHeader.javaName
        case .unregisterClient: return UnregisterClientRequestHeader.javaName
        case .getConsumerListByGroup: return "GetConsumerListByGroupRequestHeader"
        case .notifyConsumerIdsChanged: return "NotifyConsumerIdsChangedRequestHeader"
        case .queryConsumerOffset: return QueryConsumerOffsetRequestHeader.javaName
        case .updateConsumerOffset: return UpdateConsumerOffsetRequestHeader.javaName
        case .pullMessage: return PullMessageRequestHeader.javaName
        case .sendMessage(_, let v2): return v2 ? "SendMessageRequestHeaderV2" : SendMessageRequestHeader.javaName
        case .consumerSendMsgBack: return ConsumerSendMsgBackRequestHeader.javaName
        case .queueOffset: return QueueOffsetRequestHeader.javaName
        case .getConsumerRunningInfo: return GetConsumerRunningInfoRequestHeader.javaName
        case .offsetResponse: return OffsetResponseHeader.javaName
        case .pullMessageResponse: return PullMessageResponseHeader.javaName
        case .sendMessageResponse: return SendMessageResponseHeader.javaName
        }
    }

    /// Named fields for display: declared fields with the V2 letters spelled out and flag bits named.
    public var displayFields: [(key: String, value: String)] {
        switch self {
        case .getRouteInfo(let h): return h.declaredFields
        case .unregisterClient(let h): return h.declaredFields
        case .getConsumerListByGroup(let h), .notifyConsumerIdsChanged(let h): return h.declaredFields
        case .queryConsumerOffset(let h): return h.declaredFields
        case .updateConsumerOffset(let h): return h.declaredFields
        case .pullMessage(let h):
            return h.declaredFields.map { $0.key == "sysFlag" ? (key: "sysFlag", value: "\($0.value) (\(h.sysFlag))") : $0 }
        case .sendMessage(let h, _):
            return h.declaredFields.map { f in
                f.key == "properties"
                    ? (key: "properties", value: h.parsedProperties.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
                    : f
            }
        case .consumerSendMsgBack(let h): return h.declaredFields
        case .queueOffset(let h): return h.declaredFields
        case .getConsumerRunningInfo(let h): return h.declaredFields
        case .offsetResponse(let h): return h.declaredFields
        case .pullMessageResponse(let h): return h.declaredFields
        case .sendMessageResponse(let h): return h.declaredFields
        }
    }
}
