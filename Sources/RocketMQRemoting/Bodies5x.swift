import NIOCore

// RocketMQ 5.x remoting bodies (from the 5.x source's classes in remoting/protocol/body, read with the search
// tool): broker-side assignment (QUERY_ASSIGNMENT 400), the request mode of a group (SET_MESSAGE_REQUEST_MODE
// 401) and batched POP acks (BATCH_ACK_MESSAGE 200151). All are fastjson JSON.

/// QUERY_ASSIGNMENT request body: a client asks the broker which queues of a topic it should consume.
public struct QueryAssignmentRequestBody: Hashable, Sendable {
    public static let name = "QueryAssignmentRequestBody"
    public var topic: String
    public var consumerGroup: String
    public var clientId: String
    public var strategyName: String?
    /// CLUSTERING or BROADCASTING.
    public var messageModel: String?

    public init(topic: String, consumerGroup: String, clientId: String, strategyName: String? = nil, messageModel: String? = nil) {
        self.topic = topic
        self.consumerGroup = consumerGroup
        self.clientId = clientId
        self.strategyName = strategyName
        self.messageModel = messageModel
    }
    public init(json v: JSONValue) throws {
        topic = try v.requireString("topic", in: Self.name)
        consumerGroup = try v.requireString("consumerGroup", in: Self.name)
        clientId = try v.requireString("clientId", in: Self.name)
        strategyName = v["strategyName"]?.scalarText
        messageModel = v["messageModel"]?.scalarText
    }
    public var json: JSONValue {
        var m = [JSONMember("clientId", .string(clientId)), JSONMember("consumerGroup", .string(consumerGroup))]
        if let s = messageModel { m.append(JSONMember("messageModel", .string(s))) }
        if let s = strategyName { m.append(JSONMember("strategyName", .string(s))) }
        m.append(JSONMember("topic", .string(topic)))
        return .object(m)
    }
}

/// One queue the broker assigns, with the mode the client should read it in (PULL or POP).
public struct MessageQueueAssignment: Hashable, Sendable {
    public var queue: MessageQueue
    public var mode: String
    public var attachments: [String: String]

    public init(queue: MessageQueue, mode: String = "PULL", attachments: [String: String] = [:]) {
        self.queue = queue
        self.mode = mode
        self.attachments = attachments
    }
    init(json v: JSONValue, in body: String) throws {
        guard let q = v["messageQueue"] else { throw bodyError(body, .missingField(field: "messageQueue")) }
        queue = try MessageQueue(json: q, in: body)
        mode = v["mode"]?.scalarText ?? "PULL"
        var a: [String: String] = [:]
        for m in v["attachments"]?.objectMembers ?? [] { if let s = m.value.scalarText { a[m.key.text] = s } }
        attachments = a
    }
    var json: JSONValue {
        .object([JSONMember("attachments", .object(attachments.sorted { $0.key < $1.key }.map { JSONMember($0.key, .string($0.value)) })),
                 JSONMember("messageQueue", queue.json), JSONMember("mode", .string(mode))])
    }
}

/// QUERY_ASSIGNMENT SUCCESS body.
public enum QueryAssignmentResponseBody {
    public static let name = "QueryAssignmentResponseBody"
    public static func decode(_ v: JSONValue) throws -> [MessageQueueAssignment] {
        try v.array("messageQueueAssignments", in: name).map { try MessageQueueAssignment(json: $0, in: name) }
    }
    public static func json(_ assignments: [MessageQueueAssignment]) -> JSONValue {
        .object([JSONMember("messageQueueAssignments", .array(assignments.map(\.json)))])
    }
}

/// SET_MESSAGE_REQUEST_MODE request body: a group's topic switched to PULL or POP consumption.
public struct SetMessageRequestModeRequestBody: Hashable, Sendable {
    public static let name = "SetMessageRequestModeRequestBody"
    public var topic: String
    public var consumerGroup: String
    public var mode: String
    /// POP consumers may share the queues of the next N consumers in the client id list.
    public var popShareQueueNum: Int32

    public init(topic: String, consumerGroup: String, mode: String = "PULL", popShareQueueNum: Int32 = 0) {
        self.topic = topic
        self.consumerGroup = consumerGroup
        self.mode = mode
        self.popShareQueueNum = popShareQueueNum
    }
    public init(json v: JSONValue) throws {
        topic = try v.requireString("topic", in: Self.name)
        consumerGroup = try v.requireString("consumerGroup", in: Self.name)
        mode = v["mode"]?.scalarText ?? "PULL"
        popShareQueueNum = Int32(clamping: v["popShareQueueNum"]?.int64Value ?? 0)
    }
    public var json: JSONValue {
        .object([JSONMember("consumerGroup", .string(consumerGroup)), JSONMember("mode", .string(mode)),
                 JSONMember("popShareQueueNum", .number(String(popShareQueueNum))), JSONMember("topic", .string(topic))])
    }
}

/// One entry of a BATCH_ACK_MESSAGE body: the acked offsets of one queue as a bit set from `startOffset`.
/// fastjson2 writes the fields under short names (`c`, `t`, `r`, `so`, `q`, `rq`, `pt`, `it`, `b`) and reads
/// the long ones too; the bit set is `BitSet.toByteArray()` (little-endian bytes), written as an array of
/// signed bytes or, with WriteByteArrayAsBase64, as a base64 string. Both are read.
public struct BatchAck: Hashable, Sendable {
    public var consumerGroup: String
    public var topic: String
    /// "1" when the topic is the group's retry topic.
    public var retry: String?
    public var startOffset: Int64
    public var queueId: Int32
    public var reviveQueueId: Int32
    public var popTime: Int64
    public var invisibleTime: Int64
    /// The bit set's bytes (bit i of the set is bit i % 8 of byte i / 8).
    public var bits: [UInt8]

    public init(consumerGroup: String, topic: String, retry: String? = nil, startOffset: Int64, queueId: Int32, reviveQueueId: Int32 = 0,
                popTime: Int64, invisibleTime: Int64, ackedOffsets: [Int64]) {
        self.consumerGroup = consumerGroup
        self.topic = topic
        self.retry = retry
        self.startOffset = startOffset
        self.queueId = queueId
        self.reviveQueueId = reviveQueueId
        self.popTime = popTime
        self.invisibleTime = invisibleTime
        var b: [UInt8] = []
        for o in ackedOffsets where o >= startOffset {
            let i = Int(o - startOffset)
            if i / 8 >= b.count { b += [UInt8](repeating: 0, count: i / 8 - b.count + 1) }
            b[i / 8] |= 1 << UInt8(i % 8)
        }
        bits = b
    }

    /// Bit sets beyond this many bytes are cut (a hostile length never sizes memory).
    public static let maxBitSetBytes = 8192

    init(json v: JSONValue, in body: String) throws {
        func field(_ short: String, _ long: String) -> JSONValue? { v[short] ?? v[long] }
        guard let c = field("c", "consumerGroup")?.scalarText else { throw bodyError(body, .missingField(field: "consumerGroup")) }
        guard let t = field("t", "topic")?.scalarText else { throw bodyError(body, .missingField(field: "topic")) }
        consumerGroup = c
        topic = t
        retry = field("r", "retry")?.scalarText
        startOffset = field("so", "startOffset")?.int64Value ?? 0
        queueId = Int32(clamping: field("q", "queueId")?.int64Value ?? 0)
        reviveQueueId = Int32(clamping: field("rq", "reviveQueueId")?.int64Value ?? 0)
        popTime = field("pt", "popTime")?.int64Value ?? 0
        invisibleTime = field("it", "invisibleTime")?.int64Value ?? 0
        switch field("b", "bitSet") {
        case .array(let a)?:
            bits = a.prefix(Self.maxBitSetBytes).map { UInt8(truncatingIfNeeded: $0.int64Value ?? 0) }
        case .string(let s)?:
            bits = Array((Base64.decode(s) ?? []).prefix(Self.maxBitSetBytes))
        default:
            bits = []
        }
    }

    /// The acked queue offsets, in order.
    public var ackedOffsets: [Int64] {
        var out: [Int64] = []
        for (i, byte) in bits.enumerated() where byte != 0 {
            for bit in 0..<8 where byte & (1 << UInt8(bit)) != 0 { out.append(startOffset + Int64(i * 8 + bit)) }
        }
        return out
    }

    var json: JSONValue {
        var m = [JSONMember("b", .array(bits.map { .number(String(Int8(bitPattern: $0))) })), JSONMember("c", .string(consumerGroup)),
                 JSONMember("it", .number(String(invisibleTime))), JSONMember("pt", .number(String(popTime))),
                 JSONMember("q", .number(String(queueId)))]
        if let r = retry { m.append(JSONMember("r", .string(r))) }
        m += [JSONMember("rq", .number(String(reviveQueueId))), JSONMember("so", .number(String(startOffset))),
              JSONMember("t", .string(topic))]
        return .object(m)
    }
}

/// BATCH_ACK_MESSAGE request body.
public struct BatchAckMessageRequestBody: Hashable, Sendable {
    public static let name = "BatchAckMessageRequestBody"
    public var brokerName: String?
    public var acks: [BatchAck]

    public init(brokerName: String?, acks: [BatchAck]) {
        self.brokerName = brokerName
        self.acks = acks
    }
    public init(json v: JSONValue) throws {
        brokerName = v["brokerName"]?.scalarText
        acks = try v.array("acks", in: Self.name).map { try BatchAck(json: $0, in: Self.name) }
    }
    public var json: JSONValue {
        var m = [JSONMember("acks", .array(acks.map(\.json)))]
        if let b = brokerName { m.append(JSONMember("brokerName", .string(b))) }
        return .object(m)
    }
}

/// Standard base64 with padding (what fastjson writes for byte arrays with WriteByteArrayAsBase64).
enum Base64 {
    static func decode(_ s: String) -> [UInt8]? {
        var out: [UInt8] = []
        var acc: UInt32 = 0
        var n = 0
        for c in s.utf8 {
            let v: UInt8
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): v = c - UInt8(ascii: "A")
            case UInt8(ascii: "a")...UInt8(ascii: "z"): v = c - UInt8(ascii: "a") + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = c - UInt8(ascii: "0") + 52
            case UInt8(ascii: "+"): v = 62
            case UInt8(ascii: "/"): v = 63
            case UInt8(ascii: "="): continue
            default: return nil
            }
            acc = acc << 6 | UInt32(v)
            n += 6
            if n >= 8 {
                n -= 8
                out.append(UInt8(truncatingIfNeeded: acc >> UInt32(n)))
            }
        }
        return out
    }
}
