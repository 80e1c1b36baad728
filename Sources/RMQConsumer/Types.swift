import RocketMQRemoting

/// A name server or broker address, `ip:port` as RocketMQ writes it.
public struct Address: Hashable, Sendable, Comparable, ExpressibleByStringLiteral, CustomStringConvertible {
    public var hostPort: String
    public init(_ hostPort: String) { self.hostPort = hostPort }
    public init(stringLiteral value: String) { hostPort = value }
    public var description: String { hostPort }
    public static func < (a: Address, b: Address) -> Bool { a.hostPort.utf16.lexicographicallyPrecedes(b.hostPort.utf16) }
}

/// The address of a broker (the peer of `receivedRequest` and of every broker-bound request).
public typealias BrokerAddress = Address

/// Wall-clock time in milliseconds since the epoch: what the state machine is told `now` is. It becomes
/// `subVersion` values and the reference for consume timestamps, and orders nothing else (timers are the
/// driver's: the machine asks with `.schedule` and is told with `tick`).
public struct Timestamp: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var millisecondsSinceEpoch: Int64
    public init(millisecondsSinceEpoch: Int64) { self.millisecondsSinceEpoch = millisecondsSinceEpoch }
    public static func milliseconds(_ ms: Int64) -> Timestamp { Timestamp(millisecondsSinceEpoch: ms) }
    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.millisecondsSinceEpoch < b.millisecondsSinceEpoch }
    public static func + (a: Timestamp, d: Duration) -> Timestamp {
        Timestamp(millisecondsSinceEpoch: a.millisecondsSinceEpoch + d.milliseconds)
    }
    public var description: String { "\(millisecondsSinceEpoch) ms" }
}

extension Duration {
    /// Whole milliseconds (truncated).
    public var milliseconds: Int64 {
        let (s, atto) = components
        return s * 1000 + atto / 1_000_000_000_000_000
    }
}

/// Identifies a request the machine asked to send and expects an answer to. The command's `opaque` is the
/// low 32 bits, so a driver may pair answers by opaque per connection.
public struct RequestID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var rawValue: UInt64
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    public var opaque: Int32 { Int32(truncatingIfNeeded: rawValue) }
    public static func < (a: RequestID, b: RequestID) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "#\(rawValue)" }
}

/// The timers the machine schedules with `.schedule(_, after:)`; the driver calls `tick(_:now:)` when one
/// fires. Stale ticks (a queue that is gone, a phase that is over) are ignored.
public enum Timer: Hashable, Sendable, CustomStringConvertible {
    /// Route refresh for the topic and `%RETRY%group`.
    case routeRefresh
    /// Heartbeat to every broker.
    case heartbeat
    /// Periodic rebalance.
    case rebalance
    /// Periodic offset persistence.
    case persist
    /// A delayed pull for a queue (flow control, errors, `pullInterval`).
    case pullDelay(MessageQueue)
    /// Local redelivery of messages whose send-back failed.
    case redeliver(MessageQueue)
    /// The 4.9.x delay between PULL_OFFSET_MOVED and storing the corrected offset.
    case offsetMoved(MessageQueue)
    /// Messages held by the listener past `consumeTimeout` are sent back.
    case cleanExpired
    /// Shutdown stops waiting for in-flight consumption.
    case shutdownDeadline

    public var description: String {
        switch self {
        case .routeRefresh: return "routeRefresh"
        case .heartbeat: return "heartbeat"
        case .rebalance: return "rebalance"
        case .persist: return "persist"
        case .pullDelay(let q): return "pullDelay(\(q))"
        case .redeliver(let q): return "redeliver(\(q))"
        case .offsetMoved(let q): return "offsetMoved(\(q))"
        case .cleanExpired: return "cleanExpired"
        case .shutdownDeadline: return "shutdownDeadline"
        }
    }
}

/// Why a request got no answer.
public enum FailureReason: Hashable, Sendable, CustomStringConvertible {
    /// No answer within the request's timeout.
    case timeout
    /// The connection closed (or could not be opened) before the answer came.
    case connectionLost
    /// Anything else the driver knows (write failed, …).
    case other(String)

    public var description: String {
        switch self {
        case .timeout: return "timeout"
        case .connectionLost: return "connection lost"
        case .other(let s): return s
        }
    }
}

/// What the consume pool says about delivered messages (`ConsumeConcurrentlyStatus`).
public enum ConsumeStatus: String, Hashable, Sendable {
    case success = "CONSUME_SUCCESS"
    /// Consume again later: CONSUMER_SEND_MSG_BACK in clustering mode, dropped (logged) in broadcasting mode.
    case reconsumeLater = "RECONSUME_LATER"
}

/// A message handed to the consume pool.
///
/// A value whose fields (`DeliveredMessage.Fields`, read and written as `message.queue`, `message.topic`, ...)
/// live in one shared, copy-on-write box: the machine, the delivery actions, the consume pool and the outcomes
/// pass a message around several times, and a copy is one retain instead of one per String and array of the
/// record (a profile of the live consumer at 190 k messages/s spent a sixth of its time copying and destroying
/// these).
@dynamicMemberLookup
public struct DeliveredMessage: Hashable, Sendable, CustomStringConvertible {
    public struct Fields: Hashable, Sendable {
        /// The queue it was pulled from (for retry messages, a `%RETRY%group` queue).
        public var queue: MessageQueue
        public var queueOffset: Int64
        /// The topic the listener sees: the RETRY_TOPIC property for messages of `%RETRY%group`, as Java's
        /// `resetRetryAndNamespace` does, otherwise the stored topic.
        public var topic: String
        public var tags: String?
        /// Times this message was consumed before (from the record, plus local redeliveries).
        public var reconsumeTimes: Int32
        /// The stored record as pulled.
        public var record: Record
        /// The pull answer's minOffset and maxOffset, which the Java client adds to each message's properties
        /// (MIN_OFFSET, MAX_OFFSET; see `properties`); nil for a message not pulled (CONSUME_MESSAGE_DIRECTLY).
        public var minOffset: Int64?
        public var maxOffset: Int64?

        /// The stored record as a `StoredMessage` (body, properties and Strings made when asked).
        public var message: StoredMessage { record.message }
        /// UNIQ_KEY when present, else the offsetMsgId: made from the record when asked.
        public var msgId: String { record.msgId }
        /// The properties as Java's `MessageExt` has them: the record's, then MIN_OFFSET and MAX_OFFSET of the
        /// pull answer. Parsed when asked.
        public var properties: [(key: String, value: String)] {
            var p = message.properties
            if let minOffset { p.append((key: "MIN_OFFSET", value: String(minOffset))) }
            if let maxOffset { p.append((key: "MAX_OFFSET", value: String(maxOffset))) }
            return p
        }
    }

    /// A delivered message's stored record: read in place from the pull answer's bytes (a view: no copy of the
    /// body, no String until asked), or decoded (a compressed body inflated at the pull, a record given whole).
    public enum Record: Hashable, Sendable {
        case view(StoredMessageView)
        case decoded(StoredMessage)

        public var message: StoredMessage {
            switch self {
            // Views are kept only for records whose body needs no inflating (zlib ones are decoded at the pull).
            case .view(let v): return v.storedMessage()
            case .decoded(let m): return m
            }
        }
        /// A field read from either form: in place from the view, or from the decoded message. (Closures, not
        /// key paths: where this was not inlined, a key path was instantiated at run time for every read.)
        @inline(__always)
        func read<T>(_ view: (StoredMessageView) -> T, _ decoded: (StoredMessage) -> T) -> T {
            switch self {
            case .view(let v): return view(v)
            case .decoded(let m): return decoded(m)
            }
        }
        public var msgId: String { read({ $0.msgId }, { $0.msgId }) }
        public var storedBodyLength: Int { read({ $0.storedBodyLength }, { $0.storedBody.count }) }
        public var storeHost: MessageHost { read({ $0.storeHost }, { $0.storeHost }) }
        public var physicalOffset: Int64 { read({ $0.physicalOffset }, { $0.physicalOffset }) }

        /// Records are equal when they decode to equal messages, whatever their form.
        public static func == (a: Record, b: Record) -> Bool { a.message == b.message }
        public func hash(into h: inout Hasher) {
            h.combine(physicalOffset)
            h.combine(storedBodyLength)
        }
    }

    @usableFromInline final class Box: @unchecked Sendable {
        // Mutated only through `DeliveredMessage`'s setters, on a box no other value shares.
        @usableFromInline var fields: Fields
        @usableFromInline init(_ fields: Fields) { self.fields = fields }
    }
    @usableFromInline var box: Box

    // Inlinable: at a call site the key path is a literal, and the optimizer turns it into a field access.
    @inlinable public subscript<T>(dynamicMember key: WritableKeyPath<Fields, T>) -> T {
        get { box.fields[keyPath: key] }
        set {
            if !isKnownUniquelyReferenced(&box) { box = Box(box.fields) }
            box.fields[keyPath: key] = newValue
        }
    }

    @inlinable public subscript<T>(dynamicMember key: KeyPath<Fields, T>) -> T { box.fields[keyPath: key] }

    public init(queue: MessageQueue, queueOffset: Int64, topic: String, tags: String?, reconsumeTimes: Int32,
                record: Record, minOffset: Int64? = nil, maxOffset: Int64? = nil) {
        box = Box(Fields(queue: queue, queueOffset: queueOffset, topic: topic, tags: tags, reconsumeTimes: reconsumeTimes,
                         record: record, minOffset: minOffset, maxOffset: maxOffset))
    }

    public init(queue: MessageQueue, queueOffset: Int64, topic: String, tags: String?, reconsumeTimes: Int32,
                message: StoredMessage, minOffset: Int64? = nil, maxOffset: Int64? = nil) {
        self.init(queue: queue, queueOffset: queueOffset, topic: topic, tags: tags, reconsumeTimes: reconsumeTimes,
                  record: .decoded(message), minOffset: minOffset, maxOffset: maxOffset)
    }

    public static func == (a: DeliveredMessage, b: DeliveredMessage) -> Bool { a.box === b.box || a.box.fields == b.box.fields }
    public func hash(into h: inout Hasher) { h.combine(box.fields) }

    public var description: String { "\(box.fields.queue)@\(box.fields.queueOffset)" }
}

/// Something the machine could not do, or a broker answer worth telling (the driver logs or counts them).
public enum Problem: Hashable, Sendable, CustomStringConvertible {
    /// A name server did not answer a route request; the next one is used.
    case nameServerFailed(Address, topic: String, FailureReason)
    /// A route request was answered with an error (TOPIC_NOT_EXIST for the topic, …).
    case routeError(topic: String, code: Int32, remark: String?)
    /// No name server is configured.
    case noNameServer
    /// A broker answered a heartbeat with an error, or did not answer.
    case heartbeatFailed(BrokerAddress, String)
    /// The queue's broker has no known master address (offset requests, commits, send-backs go to masters).
    case noMasterAddress(brokerName: String)
    /// The topic has no route or no readable queue yet; rebalance skipped it.
    case noRoute(topic: String)
    /// GET_CONSUMER_LIST_BY_GROUP failed.
    case consumerListFailed(topic: String, String)
    /// This client is not in the group's consumer list: it gets no queue.
    case notInConsumerList(topic: String, clientID: String)
    /// The start offset of a queue could not be found; the queue is not added this round.
    case startOffsetFailed(MessageQueue, String)
    /// A pull was answered with an error or failed; the queue is pulled again after `delay`.
    case pullFailed(MessageQueue, String, retryAfter: Duration)
    /// A queue was not pulled for `pullMaxIdleTime`: dropped by this rebalance, added again by the next.
    case pullExpired(MessageQueue, idle: Duration)
    /// A pull body could not be decoded completely; the records before the bad one were delivered.
    case pullBodyDecodingFailed(MessageQueue, String)
    /// PULL_OFFSET_MOVED: the queue continues at `to`.
    case offsetMoved(MessageQueue, from: Int64, to: Int64)
    /// The listener held a message longer than `consumeTimeout`: it is sent back (delay level 3).
    case consumeTimeout(MessageQueue, offset: Int64)
    /// CONSUMER_SEND_MSG_BACK failed; the message is delivered again locally (unless it was sent back for
    /// `consumeTimeout`: then it stays with the listener).
    case sendBackFailed(MessageQueue, offset: Int64, String)
    /// A broker-initiated request that could not be served.
    case unsupportedRequest(code: Int32, from: BrokerAddress, String)
    /// An answer that did not decode.
    case badResponse(request: String, String)
    /// UNREGISTER_CLIENT failed at a broker.
    case unregisterFailed(BrokerAddress, String)

    /// Scrubbed of credentials: a broker's AclException remark quotes the AccessKey ("Check signature failed for
    /// accessKey=…"), and a problem is printed as it happens.
    public var description: String { Redaction.scrub(text) }

    private var text: String {
        switch self {
        case .nameServerFailed(let a, let t, let r): return "name server \(a) failed for route of \(t): \(r)"
        case .routeError(let t, let c, let r): return "route of \(t): \(ResponseCode.name(c)) \(r ?? "")"
        case .noNameServer: return "no name server configured"
        case .heartbeatFailed(let a, let s): return "heartbeat to \(a): \(s)"
        case .noMasterAddress(let b): return "no master address for broker \(b)"
        case .noRoute(let t): return "no readable queue known for \(t)"
        case .consumerListFailed(let t, let s): return "consumer list for \(t): \(s)"
        case .notInConsumerList(let t, let c): return "\(c) is not in the consumer list of \(t)"
        case .startOffsetFailed(let q, let s): return "start offset of \(q): \(s)"
        case .pullFailed(let q, let s, let d): return "pull \(q): \(s), again after \(d)"
        case .pullExpired(let q, let d): return "\(q) not pulled for \(d): dropped"
        case .pullBodyDecodingFailed(let q, let s): return "pull body of \(q): \(s)"
        case .offsetMoved(let q, let f, let t): return "offset of \(q) moved from \(f) to \(t)"
        case .consumeTimeout(let q, let o): return "\(q)@\(o) consumed for longer than consumeTimeout: sent back"
        case .sendBackFailed(let q, let o, let s): return "send-back of \(q)@\(o): \(s)"
        case .unsupportedRequest(let c, let a, let s): return "request \(RequestCode.name(c)) from \(a): \(s)"
        case .badResponse(let r, let s): return "answer to \(r): \(s)"
        case .unregisterFailed(let a, let s): return "unregister at \(a): \(s)"
        }
    }
}

/// What shutdown could not do. Empty lists mean a clean shutdown: every processed message committed, every
/// broker told.
public struct ShutdownReport: Hashable, Sendable {
    /// Messages still being consumed when shutdown stopped waiting: not committed (they will be delivered
    /// again, to this group, after a restart).
    public var unconsumed: [MessageQueue: [Int64]] = [:]
    /// The offsets persisted at shutdown (oneway UPDATE_CONSUMER_OFFSET, or `.persistLocalOffsets`).
    public var persistedOffsets: [MessageQueue: Int64] = [:]
    /// Queues whose offset could not be sent (no master address known).
    public var offsetsNotPersisted: [MessageQueue: Int64] = [:]
    /// Brokers where UNREGISTER_CLIENT failed or was not answered.
    public var unregisterFailed: [BrokerAddress: String] = [:]
    /// Send-backs still unanswered at the end (the messages stay uncommitted).
    public var pendingSendBacks: [MessageQueue: [Int64]] = [:]

    public init() {}

    /// Nothing left undone.
    public var isClean: Bool {
        unconsumed.isEmpty && offsetsNotPersisted.isEmpty && unregisterFailed.isEmpty && pendingSendBacks.isEmpty
    }
}

/// Identifies a CONSUME_MESSAGE_DIRECTLY request handed to the listener with `.consumeDirectly`.
public struct DirectConsumeID: Hashable, Sendable {
    public var rawValue: UInt64
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
}

/// What the machine asks the driver to do, in order.
public enum ConsumerAction: Hashable, Sendable {
    /// Send a request and report its answer with `received(response:for:now:)` or its failure with
    /// `requestFailed(_:reason:now:)` after `timeout`.
    case send(to: Address, command: RemotingCommand, id: RequestID, timeout: Duration)
    /// Send a oneway request (flag 2): no answer.
    case sendOneway(to: Address, command: RemotingCommand)
    /// Answer a broker-initiated request on the connection it came from.
    case respond(to: Address, command: RemotingCommand)
    /// Call `tick(timer, now:)` after `after` (replacing nothing: each schedule fires once).
    case schedule(Timer, after: Duration)
    /// Hand messages to the consume pool; report the outcome with `consumed(_:status:now:)`.
    case deliver(queue: MessageQueue, messages: [DeliveredMessage])
    /// CONSUME_MESSAGE_DIRECTLY from a broker: run the listener on this message and report with
    /// `consumedDirectly(_:status:spentMilliseconds:now:)`.
    case consumeDirectly(DirectConsumeID, DeliveredMessage)
    /// Broadcasting mode: store these offsets locally (Java's `offsets.json`).
    case persistLocalOffsets([MessageQueue: Int64])
    /// Informational.
    case log(String)
    /// Something that could not be done, or an answer worth attention.
    case report(Problem)
    /// Close every connection (the end of shutdown).
    case closeConnections
    /// Shutdown is complete.
    case finished(ShutdownReport)
}
