import NIOCore

// JSON bodies of the consume flow (PROTOCOL.md section 5 and appendix C). Parsed with the lenient JSONParser;
// encoded the way fastjson writes them (members in alphabetical order).

func bodyError(_ body: String, _ reason: RemotingDecodingError.Reason) -> RemotingDecodingError {
    RemotingDecodingError(body, reason)
}

extension JSONValue {
    func require(_ key: String, in body: String) throws -> JSONValue {
        guard let v = self[key] else { throw bodyError(body, .missingField(field: key)) }
        return v
    }
    func requireString(_ key: String, in body: String) throws -> String {
        guard let s = try require(key, in: body).scalarText else { throw bodyError(body, .wrongType(field: key, expected: "a string")) }
        return s
    }
    func requireInt(_ key: String, in body: String) throws -> Int64 {
        guard let n = try require(key, in: body).int64Value else { throw bodyError(body, .wrongType(field: key, expected: "an integer")) }
        return n
    }
    func array(_ key: String, in body: String) throws -> [JSONValue] {
        guard let v = self[key] else { return [] }
        if v == .null { return [] }
        guard let a = v.arrayValue else { throw bodyError(body, .wrongType(field: key, expected: "an array")) }
        return a
    }
}

/// A queue of a topic on one broker. Ordered as Java's `MessageQueue.compareTo`: topic, broker name (UTF-16
/// code-unit order), queue id.
public struct MessageQueue: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var topic: String
    public var brokerName: String
    public var queueId: Int32
    public init(topic: String, brokerName: String, queueId: Int32) {
        self.topic = topic
        self.brokerName = brokerName
        self.queueId = queueId
    }
    public static func < (a: MessageQueue, b: MessageQueue) -> Bool {
        if a.topic != b.topic { return a.topic.utf16.lexicographicallyPrecedes(b.topic.utf16) }
        if a.brokerName != b.brokerName { return a.brokerName.utf16.lexicographicallyPrecedes(b.brokerName.utf16) }
        return a.queueId < b.queueId
    }
    public var description: String { "\(topic)@\(brokerName)#\(queueId)" }

    init(json v: JSONValue, in body: String) throws {
        topic = try v.requireString("topic", in: body)
        brokerName = try v.requireString("brokerName", in: body)
        guard let q = Int32(exactly: try v.requireInt("queueId", in: body)) else {
            throw bodyError(body, .wrongType(field: "queueId", expected: "a 32-bit integer"))
        }
        queueId = q
    }
    var json: JSONValue {
        .object([JSONMember("brokerName", .string(brokerName)), JSONMember("queueId", .number(String(queueId))),
                 JSONMember("topic", .string(topic))])
    }
}

public struct BrokerData: Hashable, Sendable {
    public var cluster: String
    public var brokerName: String
    /// broker id → "ip:port"; 0 is the master.
    public var brokerAddrs: [(id: Int64, address: String)]
    public var enableActingMaster: Bool?
    public var zoneName: String?

    public init(cluster: String, brokerName: String, brokerAddrs: [(id: Int64, address: String)]) {
        self.cluster = cluster
        self.brokerName = brokerName
        self.brokerAddrs = brokerAddrs
    }
    public var masterAddress: String? { brokerAddrs.first { $0.id == 0 }?.address }

    public static func == (a: BrokerData, b: BrokerData) -> Bool {
        a.cluster == b.cluster && a.brokerName == b.brokerName && a.enableActingMaster == b.enableActingMaster
            && a.zoneName == b.zoneName && a.brokerAddrs.map(\.id) == b.brokerAddrs.map(\.id)
            && a.brokerAddrs.map(\.address) == b.brokerAddrs.map(\.address)
    }
    public func hash(into h: inout Hasher) {
        h.combine(brokerName)
        h.combine(brokerAddrs.map(\.address))
    }
}

public struct QueueData: Hashable, Sendable {
    public var brokerName: String
    public var readQueueNums: Int32
    public var writeQueueNums: Int32
    /// PermName bits: 8 priority, 4 read, 2 write, 1 inherit.
    public var perm: Int32
    public var topicSysFlag: Int32
    /// Written as `topicSynFlag` by name servers up to 4.8.0.
    public var spelledTopicSynFlag: Bool = false

    public init(brokerName: String, readQueueNums: Int32, writeQueueNums: Int32, perm: Int32 = 6, topicSysFlag: Int32 = 0) {
        self.brokerName = brokerName
        self.readQueueNums = readQueueNums
        self.writeQueueNums = writeQueueNums
        self.perm = perm
        self.topicSysFlag = topicSysFlag
    }
    public var readable: Bool { perm & 4 != 0 }
    public var writable: Bool { perm & 2 != 0 }
    public var permText: String {
        (perm & 8 != 0 ? "P" : "") + (readable ? "R" : "-") + (writable ? "W" : "-") + (perm & 1 != 0 ? "X" : "")
    }
}

/// GET_ROUTEINFO_BY_TOPIC SUCCESS body.
public struct TopicRouteData: Hashable, Sendable {
    public static let name = "TopicRouteData body"
    public var brokerDatas: [BrokerData]
    public var queueDatas: [QueueData]
    public var orderTopicConf: String?
    public var filterServerTable: [(broker: String, servers: [String])] = []

    public init(brokerDatas: [BrokerData], queueDatas: [QueueData], orderTopicConf: String? = nil) {
        self.brokerDatas = brokerDatas
        self.queueDatas = queueDatas
        self.orderTopicConf = orderTopicConf
    }

    public static func == (a: TopicRouteData, b: TopicRouteData) -> Bool {
        a.brokerDatas == b.brokerDatas && a.queueDatas == b.queueDatas && a.orderTopicConf == b.orderTopicConf
    }
    public func hash(into h: inout Hasher) {
        h.combine(brokerDatas)
        h.combine(queueDatas)
    }

    public init(json v: JSONValue) throws {
        let n = Self.name
        brokerDatas = try v.array("brokerDatas", in: n).map { b in
            var addrs: [(id: Int64, address: String)] = []
            for m in b["brokerAddrs"]?.objectMembers ?? [] {
                guard let id = Int64(m.key.text), let addr = m.value.scalarText else {
                    throw bodyError(n, .wrongType(field: "brokerAddrs", expected: "a map of broker id to address"))
                }
                addrs.append((id, addr))
            }
            var bd = BrokerData(cluster: b["cluster"]?.scalarText ?? "", brokerName: try b.requireString("brokerName", in: n),
                                brokerAddrs: addrs)
            bd.enableActingMaster = b["enableActingMaster"]?.boolValue
            bd.zoneName = b["zoneName"]?.scalarText
            return bd
        }
        queueDatas = try v.array("queueDatas", in: n).map { q in
            func int(_ k: String) throws -> Int32 {
                guard let x = q[k]?.int64Value, let y = Int32(exactly: x) else {
                    throw bodyError(n, .wrongType(field: "queueDatas.\(k)", expected: "an integer"))
                }
                return y
            }
            var qd = QueueData(brokerName: try q.requireString("brokerName", in: n), readQueueNums: try int("readQueueNums"),
                               writeQueueNums: try int("writeQueueNums"), perm: try int("perm"))
            if let f = q["topicSysFlag"]?.int64Value {
                qd.topicSysFlag = Int32(truncatingIfNeeded: f)
            } else if let f = q["topicSynFlag"]?.int64Value {
                qd.topicSysFlag = Int32(truncatingIfNeeded: f)
                qd.spelledTopicSynFlag = true
            }
            return qd
        }
        orderTopicConf = v["orderTopicConf"]?.scalarText
        filterServerTable = (v["filterServerTable"]?.objectMembers ?? []).map { m in
            (m.key.text, (m.value.arrayValue ?? []).compactMap(\.scalarText))
        }
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer) throws -> TopicRouteData {
        try TopicRouteData(json: try JSONParser.parse(bytes, context: name))
    }

    /// The readable queues a consumer derives from the route (5.1), sorted.
    public func subscribeQueues(topic: String) -> [MessageQueue] {
        var out: [MessageQueue] = []
        for q in queueDatas where q.readable && q.readQueueNums > 0 {
            for i in 0..<q.readQueueNums { out.append(MessageQueue(topic: topic, brokerName: q.brokerName, queueId: i)) }
        }
        return out.sorted()
    }

    /// fastjson text: `standardJSON` quotes the broker ids (what 4.9.4+ name servers send to clients with
    /// version ≥ 401); otherwise they are bare integers.
    public func json(standardJSON: Bool) -> JSONValue {
        var members: [JSONMember] = []
        members.append(JSONMember("brokerDatas", .array(brokerDatas.map { b in
            var m: [JSONMember] = [
                JSONMember("brokerAddrs", .object(b.brokerAddrs.map {
                    JSONMember(key: standardJSON ? .string(String($0.id)) : .bare(String($0.id)), value: .string($0.address))
                })),
                JSONMember("brokerName", .string(b.brokerName)),
                JSONMember("cluster", .string(b.cluster)),
            ]
            if let e = b.enableActingMaster { m.insert(JSONMember("enableActingMaster", .bool(e)), at: 3) }
            if let z = b.zoneName { m.append(JSONMember("zoneName", .string(z))) }
            return .object(m)
        })))
        members.append(JSONMember("filterServerTable", .object(filterServerTable.map {
            JSONMember($0.broker, .array($0.servers.map(JSONValue.string)))
        })))
        if let o = orderTopicConf { members.append(JSONMember("orderTopicConf", .string(o))) }
        members.append(JSONMember("queueDatas", .array(queueDatas.map { q in
            .object([JSONMember("brokerName", .string(q.brokerName)), JSONMember("perm", .number(String(q.perm))),
                     JSONMember("readQueueNums", .number(String(q.readQueueNums))),
                     JSONMember("topicSysFlag", .number(String(q.topicSysFlag))),
                     JSONMember("writeQueueNums", .number(String(q.writeQueueNums)))])
        })))
        return .object(members)
    }
}

public struct SubscriptionData: Hashable, Sendable {
    public var topic: String
    public var subString: String
    public var expressionType: String
    public var subVersion: Int64
    public var tagsSet: [String]
    public var codeSet: [Int32]
    public var classFilterMode: Bool = false

    public init(topic: String, subString: String, expressionType: String, subVersion: Int64, tagsSet: [String], codeSet: [Int32]) {
        self.topic = topic
        self.subString = subString
        self.expressionType = expressionType
        self.subVersion = subVersion
        self.tagsSet = tagsSet
        self.codeSet = codeSet
    }

    /// FilterAPI.buildSubscriptionData for TAG expressions: split on `||`, trim, drop empties; `*` or empty
    /// means everything; codeSet holds Java `String.hashCode()` of each tag.
    public static func tag(topic: String, expression: String, subVersion: Int64) -> SubscriptionData {
        let trimmed = expression.trimmingCharacters(in: " \t")
        if trimmed.isEmpty || trimmed == "*" {
            return SubscriptionData(topic: topic, subString: "*", expressionType: "TAG", subVersion: subVersion, tagsSet: [], codeSet: [])
        }
        var tags: [String] = []
        for part in expression.split(separator: "||", omittingEmptySubsequences: false) {
            let t = String(part).trimmingCharacters(in: " \t")
            if !t.isEmpty && !tags.contains(t) { tags.append(t) }
        }
        return SubscriptionData(topic: topic, subString: expression, expressionType: "TAG", subVersion: subVersion, tagsSet: tags,
                                codeSet: tags.map(JavaHashMapOrder.javaHashCode))
    }

    /// Whether a message with `tag` passes this TAG subscription.
    public func accepts(tag: String?) -> Bool {
        if subString == "*" || tagsSet.isEmpty { return true }
        guard let tag else { return false }
        return tagsSet.contains(tag)
    }

    init(json s: JSONValue, in n: String) throws {
        topic = try s.requireString("topic", in: n)
        subString = s["subString"]?.scalarText ?? "*"
        expressionType = s["expressionType"]?.scalarText ?? "TAG"
        subVersion = s["subVersion"]?.int64Value ?? 0
        tagsSet = try s.array("tagsSet", in: n).compactMap(\.scalarText)
        codeSet = try s.array("codeSet", in: n).compactMap { $0.int64Value.flatMap { Int32(exactly: $0) } }
        classFilterMode = s["classFilterMode"]?.boolValue ?? false
    }

    var json: JSONValue {
        .object([
            JSONMember("classFilterMode", .bool(classFilterMode)),
            JSONMember("codeSet", .array(codeSet.map { .number(String($0)) })),
            JSONMember("expressionType", .string(expressionType)),
            JSONMember("subString", .string(subString)),
            JSONMember("subVersion", .number(String(subVersion))),
            JSONMember("tagsSet", .array(tagsSet.map(JSONValue.string))),
            JSONMember("topic", .string(topic)),
        ])
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        let chars = Set(set)
        var s = Substring(self)
        while let f = s.first, chars.contains(f) { s.removeFirst() }
        while let l = s.last, chars.contains(l) { s.removeLast() }
        return String(s)
    }
}

public struct ConsumerData: Hashable, Sendable {
    public var groupName: String
    public var consumeType: String
    public var messageModel: String
    public var consumeFromWhere: String
    public var subscriptionDataSet: [SubscriptionData]
    public var unitMode: Bool = false

    public init(groupName: String, consumeType: String = "CONSUME_PASSIVELY", messageModel: String = "CLUSTERING",
                consumeFromWhere: String, subscriptionDataSet: [SubscriptionData]) {
        self.groupName = groupName
        self.consumeType = consumeType
        self.messageModel = messageModel
        self.consumeFromWhere = consumeFromWhere
        self.subscriptionDataSet = subscriptionDataSet
    }
}

/// HEART_BEAT request body.
public struct HeartbeatData: Hashable, Sendable {
    public static let name = "HeartbeatData body"
    public var clientID: String
    public var consumerDataSet: [ConsumerData]
    public var producerGroups: [String]
    public var heartbeatFingerprint: Int32?
    public var withoutSub: Bool?

    public init(clientID: String, consumerDataSet: [ConsumerData], producerGroups: [String]) {
        self.clientID = clientID
        self.consumerDataSet = consumerDataSet
        self.producerGroups = producerGroups
    }

    /// An enum field as its Java name: the name itself, or the name of an ordinal (kept as written when out of range).
    static func enumName(_ v: JSONValue?, _ names: [String]) -> String {
        guard let text = v?.scalarText else { return "" }
        if case .number = v, let i = Int(text), names.indices.contains(i) { return names[i] }
        return text
    }

    public init(json v: JSONValue) throws {
        let n = Self.name
        clientID = try v.requireString("clientID", in: n)
        consumerDataSet = try v.array("consumerDataSet", in: n).map { c in
            // Java writes the enums by name; the C++ client writes their ordinals (messageModel 0 is BROADCASTING).
            var cd = ConsumerData(groupName: try c.requireString("groupName", in: n),
                                  consumeType: Self.enumName(c["consumeType"], ["CONSUME_ACTIVELY", "CONSUME_PASSIVELY", "CONSUME_POP"]),
                                  messageModel: Self.enumName(c["messageModel"], ["BROADCASTING", "CLUSTERING"]),
                                  consumeFromWhere: Self.enumName(c["consumeFromWhere"], [
                                      "CONSUME_FROM_LAST_OFFSET", "CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST",
                                      "CONSUME_FROM_MIN_OFFSET", "CONSUME_FROM_MAX_OFFSET", "CONSUME_FROM_FIRST_OFFSET", "CONSUME_FROM_TIMESTAMP"]),
                                  subscriptionDataSet: try c.array("subscriptionDataSet", in: n).map { try SubscriptionData(json: $0, in: n) })
            cd.unitMode = c["unitMode"]?.boolValue ?? false
            return cd
        }
        producerGroups = try v.array("producerDataSet", in: n).compactMap { $0["groupName"]?.scalarText }
        heartbeatFingerprint = v["heartbeatFingerprint"]?.int64Value.flatMap { Int32(exactly: $0) }
        withoutSub = v["withoutSub"]?.boolValue
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer) throws -> HeartbeatData {
        try HeartbeatData(json: try JSONParser.parse(bytes, context: name))
    }

    public var json: JSONValue {
        var m: [JSONMember] = [
            JSONMember("clientID", .string(clientID)),
            JSONMember("consumerDataSet", .array(consumerDataSet.map { c in
                .object([
                    JSONMember("consumeFromWhere", .string(c.consumeFromWhere)),
                    JSONMember("consumeType", .string(c.consumeType)),
                    JSONMember("groupName", .string(c.groupName)),
                    JSONMember("messageModel", .string(c.messageModel)),
                    JSONMember("subscriptionDataSet", .array(c.subscriptionDataSet.map(\.json))),
                    JSONMember("unitMode", .bool(c.unitMode)),
                ])
            })),
        ]
        if let f = heartbeatFingerprint { m.append(JSONMember("heartbeatFingerprint", .number(String(f)))) }
        m.append(JSONMember("producerDataSet", .array(producerGroups.map { .object([JSONMember("groupName", .string($0))]) })))
        if let w = withoutSub { m.append(JSONMember("withoutSub", .bool(w))) }
        return .object(m)
    }
}

/// GET_CONSUMER_LIST_BY_GROUP SUCCESS body.
public enum ConsumerIdList {
    public static let name = "consumer id list body"
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws -> [String] {
        let v = try JSONParser.parse(bytes, context: name)
        return try v.array("consumerIdList", in: name).map {
            guard let s = $0.scalarText else { throw bodyError(name, .wrongType(field: "consumerIdList", expected: "strings")) }
            return s
        }
    }
    public static func json(_ ids: [String]) -> JSONValue {
        .object([JSONMember("consumerIdList", .array(ids.map(JSONValue.string)))])
    }
}

/// LOCK_BATCH_MQ / UNLOCK_BATCH_MQ request body.
public struct LockBatchRequestBody: Hashable, Sendable {
    public static let name = "LockBatchRequestBody"
    public var consumerGroup: String
    public var clientId: String
    public var mqSet: [MessageQueue]
    public var onlyThisBroker: Bool?

    public init(consumerGroup: String, clientId: String, mqSet: [MessageQueue], onlyThisBroker: Bool? = nil) {
        self.consumerGroup = consumerGroup
        self.clientId = clientId
        self.mqSet = mqSet
        self.onlyThisBroker = onlyThisBroker
    }
    public init(json v: JSONValue) throws {
        consumerGroup = try v.requireString("consumerGroup", in: Self.name)
        clientId = try v.requireString("clientId", in: Self.name)
        mqSet = try v.array("mqSet", in: Self.name).map { try MessageQueue(json: $0, in: Self.name) }
        onlyThisBroker = v["onlyThisBroker"]?.boolValue
    }
    public var json: JSONValue {
        var m = [JSONMember("clientId", .string(clientId)), JSONMember("consumerGroup", .string(consumerGroup)),
                 JSONMember("mqSet", .array(mqSet.map(\.json)))]
        if let o = onlyThisBroker { m.append(JSONMember("onlyThisBroker", .bool(o))) }
        return .object(m)
    }
}

/// LOCK_BATCH_MQ SUCCESS body: the queues now locked by the client.
public enum LockBatchResponseBody {
    public static let name = "LockBatchResponseBody"
    public static func decode(_ v: JSONValue) throws -> [MessageQueue] {
        try v.array("lockOKMQSet", in: name).map { try MessageQueue(json: $0, in: name) }
    }
    public static func json(_ mqs: [MessageQueue]) -> JSONValue {
        .object([JSONMember("lockOKMQSet", .array(mqs.map(\.json)))])
    }
}

/// One message of a SEND_BATCH_MESSAGE body (5.8).
public struct BatchMessageRecord: Hashable, Sendable {
    public var flag: Int32
    public var body: [UInt8]
    /// The properties as the record carries them (`k\u{1}v\u{2}…`): the broker stores this text as it is,
    /// as 4.9.4's MessageExtBatchEncoder copies the bytes.
    public var propertiesText: String
    /// The properties, parsed when asked.
    public var properties: [(key: String, value: String)] { MessageProperties.parse(propertiesText) }

    public init(flag: Int32, body: [UInt8], propertiesText: String) {
        self.flag = flag
        self.body = body
        self.propertiesText = propertiesText
    }

    /// Writes the record as the 4.9.4 client's batch encoder does: TOTALSIZE, MAGICCODE and BODYCRC (0: the
    /// broker ignores them), FLAG, the body and the properties text, each with its length.
    public func encode(into out: inout ByteBuffer) {
        let text = propertiesText
        Self.write(flag: flag, body: body, into: &out) { $0.writeString(text) }
    }

    /// Writes one record whose properties text `writeProperties` appends to the buffer (a producer writes its
    /// properties in place, with no String per message); the lengths are filled in after.
    public static func write(flag: Int32, body: [UInt8], into out: inout ByteBuffer, properties writeProperties: (inout ByteBuffer) -> Void) {
        let start = out.writerIndex
        out.writeInteger(Int32(0))  // TOTALSIZE, set below
        out.writeInteger(Int32(0))
        out.writeInteger(Int32(0))
        out.writeInteger(flag)
        out.writeInteger(Int32(body.count))
        out.writeBytes(body)
        let lengthAt = out.writerIndex
        out.writeInteger(Int16(0))  // properties length, set below
        writeProperties(&out)
        out.setInteger(Int16(out.writerIndex - lengthAt - 2), at: lengthAt)
        out.setInteger(Int32(out.writerIndex - start), at: start)
    }

    /// `write(flag:body:into:properties:)` with the properties' length known ahead: the record is written with one
    /// reservation of exactly its size, one checked access to the buffer instead of nine; `writeProperties` must
    /// write exactly `propertiesLength` bytes.
    package static func write(flag: Int32, body: UnsafeRawBufferPointer, propertiesLength: Int, into out: inout ByteBuffer,
                              properties writeProperties: (inout RecordWriter) -> Void) {
        let total = 20 + body.count + 2 + propertiesLength
        out.writeWithUnsafeMutableBytes(minimumWritableBytes: total) { raw in
            var w = RecordWriter(base: raw.baseAddress!)
            w.put(Int32(truncatingIfNeeded: total))
            w.put(Int32(0))
            w.put(Int32(0))
            w.put(flag)
            w.put(Int32(truncatingIfNeeded: body.count))
            w.put(body)
            w.put(Int16(truncatingIfNeeded: propertiesLength))
            writeProperties(&w)
            precondition(w.offset == total, "batch record size")
            return total
        }
    }

    /// A SEND_BATCH_MESSAGE body of `records`, in order.
    public static func encodeAll(_ records: [BatchMessageRecord]) -> ByteBuffer {
        var out = ByteBuffer()
        for r in records { r.encode(into: &out) }
        return out
    }

    public static func decodeAll(_ bytes: UnsafeRawBufferPointer) throws -> [BatchMessageRecord] {
        try scanAll(bytes).map { l in
            BatchMessageRecord(flag: l.flag, body: Array(UnsafeRawBufferPointer(rebasing: bytes[l.body])),
                               propertiesText: String(decoding: UnsafeRawBufferPointer(rebasing: bytes[l.properties]), as: UTF8.self))
        }
    }

    /// The records of a batch body, read in place: each one's flag and where its body and properties are, after
    /// the checks of `decodeAll` (the same errors; the properties valid UTF-8). The broker stores them from
    /// there, without an array and a String per message.
    public static func scanAll(_ bytes: UnsafeRawBufferPointer) throws -> [Layout] {
        var out: [Layout] = []
        var offset = 0
        while offset < bytes.count {
            if out.isEmpty { out.reserveCapacity(16) }
            // The context's text is built only for an error ("batch body: record N at offset M").
            var r = BinaryReader(bytes: UnsafeRawBufferPointer(rebasing: bytes[offset...]),
                                 errorContext: ErrorContext("batch body", .record(index: out.count, offset: offset)))
            let total = try r.readInt32("TOTALSIZE")
            guard total >= 22, Int(total) <= bytes.count - offset else {
                throw RemotingDecodingError("batch body", .record(index: out.count, reason: "TOTALSIZE \(total) is invalid"), offset: offset)
            }
            _ = try r.readInt32("MAGICCODE")
            _ = try r.readInt32("BODYCRC")
            let flag = try r.readInt32("FLAG")
            let bodyLength = try r.readInt32("BODY length")
            let bodyStart = offset + r.index
            _ = try r.readBytes(Int(bodyLength), "BODY")
            let propsLength = try r.readInt16("PROPERTIES length")
            // The checks and errors of `readString`, without making the String.
            let props = try r.readText(length: Int(propsLength), field: "PROPERTIES").range
            out.append(Layout(flag: flag, body: bodyStart..<bodyStart + Int(bodyLength),
                              properties: offset + props.lowerBound..<offset + props.upperBound))
            offset += Int(total)
        }
        return out
    }

    /// Where one record of a batch body is: its flag, and its body and properties as ranges of the body's bytes.
    public struct Layout: Sendable, Equatable {
        public var flag: Int32
        public var body: Range<Int>
        public var properties: Range<Int>
    }
}

/// The decoded body of a command, interpreted by (request code, direction, response code) as in PROTOCOL.md
/// appendix E step 5.
public enum DecodedBody: Hashable, Sendable {
    case none
    case topicRoute(TopicRouteData)
    case heartbeat(HeartbeatData)
    case consumerIdList([String])
    case lockBatchRequest(LockBatchRequestBody)
    case lockedQueues([MessageQueue])
    /// 5.x QUERY_ASSIGNMENT request and answer, SET_MESSAGE_REQUEST_MODE, BATCH_ACK_MESSAGE.
    case queryAssignment(QueryAssignmentRequestBody)
    case assignments([MessageQueueAssignment])
    case requestMode(SetMessageRequestModeRequestBody)
    case batchAck(BatchAckMessageRequestBody)
    case messages(StoredMessageBatch)
    case messageBody([UInt8])
    case batch([BatchMessageRecord])
    case json(JSONValue)
    case raw([UInt8])

    /// Decodes `command`'s body. `requestCode` is the code of the request a response answers.
    public static func decode(_ command: RemotingCommand, requestCode: Int32? = nil,
                              maxInflatedBodySize: Int = StoredMessageDecoder.defaultMaxInflatedBodySize) throws -> DecodedBody {
        guard let body = command.body, body.readableBytes > 0 else { return .none }
        return try body.withUnsafeReadableBytes { bytes -> DecodedBody in
            if command.isResponse {
                let req = requestCode ?? -1
                switch req {
                case RequestCode.getRouteInfoByTopic where command.code == 0: return .topicRoute(try .decode(bytes))
                case RequestCode.getConsumerListByGroup where command.code == 0: return .consumerIdList(try ConsumerIdList.decode(bytes))
                case RequestCode.lockBatchMQ where command.code == 0:
                    return .lockedQueues(try LockBatchResponseBody.decode(try JSONParser.parse(bytes, context: LockBatchResponseBody.name)))
                case RequestCode.queryAssignment where command.code == 0:
                    return .assignments(try QueryAssignmentResponseBody.decode(try JSONParser.parse(bytes, context: QueryAssignmentResponseBody.name)))
                case RequestCode.pullMessage, RequestCode.litePullMessage, RequestCode.queryMessage, RequestCode.viewMessageById,
                     RequestCode.popMessage:
                    return .messages(StoredMessageDecoder.decodeAll(bytes, maxInflatedBodySize: maxInflatedBodySize))
                default:
                    return jsonOrRaw(bytes)
                }
            }
            switch command.code {
            case RequestCode.heartBeat: return .heartbeat(try .decode(bytes))
            case RequestCode.lockBatchMQ, RequestCode.unlockBatchMQ:
                return .lockBatchRequest(try LockBatchRequestBody(json: try JSONParser.parse(bytes, context: LockBatchRequestBody.name)))
            case RequestCode.queryAssignment:
                return .queryAssignment(try QueryAssignmentRequestBody(json: try JSONParser.parse(bytes, context: QueryAssignmentRequestBody.name)))
            case RequestCode.setMessageRequestMode:
                return .requestMode(try SetMessageRequestModeRequestBody(json: try JSONParser.parse(bytes, context: SetMessageRequestModeRequestBody.name)))
            case RequestCode.batchAckMessage:
                return .batchAck(try BatchAckMessageRequestBody(json: try JSONParser.parse(bytes, context: BatchAckMessageRequestBody.name)))
            case RequestCode.sendMessage, RequestCode.sendMessageV2, RequestCode.sendReplyMessage, RequestCode.sendReplyMessageV2:
                return .messageBody(Array(bytes))
            case RequestCode.sendBatchMessage: return .batch(try BatchMessageRecord.decodeAll(bytes))
            case RequestCode.consumeMessageDirectly, RequestCode.checkTransactionState:
                return .messages(StoredMessageDecoder.decodeAll(bytes, maxInflatedBodySize: maxInflatedBodySize))
            default:
                return jsonOrRaw(bytes)
            }
        }
    }

    private static func jsonOrRaw(_ bytes: UnsafeRawBufferPointer) -> DecodedBody {
        if let first = bytes.first(where: { $0 != 0x20 && $0 != 0x0A }), first == UInt8(ascii: "{") || first == UInt8(ascii: "["),
           let v = try? JSONParser.parse(bytes, context: "body") {
            return .json(v)
        }
        return .raw(Array(bytes))
    }
}
