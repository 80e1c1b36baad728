import RocketMQRemoting

/// How a group shares a topic's queues (Java `MessageModel`).
public enum MessageModel: String, Hashable, Sendable {
    /// Every queue belongs to one consumer of the group; offsets are stored at the broker.
    case clustering = "CLUSTERING"
    /// Every consumer takes every queue; offsets are the client's own (`LocalFileOffsetStore`).
    case broadcasting = "BROADCASTING"
}

/// Where a queue without a stored offset starts (PROTOCOL.md 7.4, Java `ConsumeFromWhere`).
public enum ConsumeFrom: Hashable, Sendable {
    /// CONSUME_FROM_LAST_OFFSET (the default): the end of the queue; retry queues from 0.
    case lastOffset
    /// CONSUME_FROM_FIRST_OFFSET: offset 0 (moved by PULL_OFFSET_MOVED when 0 is gone).
    case firstOffset
    /// CONSUME_FROM_TIMESTAMP with Java's `consumeTimestamp` text, `yyyyMMddHHmmss`.
    case timestamp(String)

    /// The enum name sent in heartbeats.
    public var javaName: String {
        switch self {
        case .lastOffset: return "CONSUME_FROM_LAST_OFFSET"
        case .firstOffset: return "CONSUME_FROM_FIRST_OFFSET"
        case .timestamp: return "CONSUME_FROM_TIMESTAMP"
        }
    }

    /// Java's default `consumeTimestamp`: 30 minutes before `now`, as `yyyyMMddHHmmss` in the given zone.
    public static func defaultTimestamp(now: Timestamp, utcOffsetSeconds: Int = 0) -> ConsumeFrom {
        .timestamp(ConsumeTimestamp.format(millisecondsSinceEpoch: now.millisecondsSinceEpoch - 30 * 60 * 1000,
                                           utcOffsetSeconds: utcOffsetSeconds))
    }
}

/// The client-side queue allocation (`AllocateMessageQueueStrategy`).
public enum Allocation: String, Hashable, Sendable {
    /// AllocateMessageQueueAveragely ("AVG"), the default.
    case average = "AVG"
    /// AllocateMessageQueueAveragelyByCircle ("AVG_BY_CIRCLE").
    case circle = "AVG_BY_CIRCLE"

    var strategy: AllocationStrategy { self == .average ? .averagely : .circle }
}

/// The push consumer's settings, defaulting to the Java 4.9 client's values (PROTOCOL.md 7.1). Everything a
/// Java client reads from its environment (IP, pid, `System.nanoTime()`) is an input here.
public struct ConsumerConfiguration: Hashable, Sendable {
    // MARK: Identity and subscription

    /// Name server addresses (`ip:port`), tried in order; the client moves to the next one on failure.
    public var nameServers: [Address]
    public var topic: String
    public var group: String
    /// TAG expression: `*` or `TagA || TagB`.
    public var subscriptionExpression: String
    public var consumeFrom: ConsumeFrom
    /// The zone `consumeTimestamp` is read in, seconds east of UTC (Java uses the JVM's default zone).
    public var consumeTimestampUTCOffsetSeconds: Int = 0
    /// Broadcasting mode: the offsets the driver loaded from its local store (Java's `offsets.json`).
    public var initialLocalOffsets: [MessageQueue: Int64] = [:]
    public var messageModel: MessageModel
    public var allocation: Allocation
    /// The host's address as the client reports it (Java: the preferred non-loopback address).
    public var clientIP: String
    /// Java `instanceName` (system property `rocketmq.client.name`, else `DEFAULT`).
    public var instanceName: String
    /// Replaces `DEFAULT` in clustering mode: Java's `UtilAll.getPid()`.
    public var processID: Int64
    /// Replaces `DEFAULT` in clustering mode: Java's `System.nanoTime()` at start.
    public var nanoTime: Int64
    /// Optional `unitName`, appended as `@unitName`.
    public var unitName: String?

    // MARK: Schedules

    /// `pollNameServerInterval`: route refresh for the topic and `%RETRY%group`.
    public var routeRefreshInterval: Duration = .seconds(30)
    /// First route refresh tick after start (the start itself asks at once).
    public var firstRouteRefreshDelay: Duration = .seconds(30)
    /// `heartbeatBrokerInterval`.
    public var heartbeatInterval: Duration = .seconds(30)
    /// `rocketmq.client.rebalance.waitInterval`.
    public var rebalanceInterval: Duration = .seconds(20)
    /// `persistConsumerOffsetInterval`.
    public var persistInterval: Duration = .seconds(5)
    /// First persist tick after start (Java: 10 s).
    public var firstPersistDelay: Duration = .seconds(10)

    // MARK: Pulling

    public var pullBatchSize: Int32 = 32
    /// `brokerSuspendMaxTimeMillis`, sent as `suspendTimeoutMillis`.
    public var brokerSuspendTimeout: Duration = .seconds(15)
    /// `consumerTimeoutMillisWhenSuspend`: the client-side timeout of a long poll.
    public var pullTimeout: Duration = .seconds(30)
    /// `pullInterval`: delay between a pull's answer and the next pull (0 = at once).
    public var pullInterval: Duration = .zero
    /// `pullThresholdForQueue`: cached messages per queue before pulling pauses.
    public var pullThresholdForQueue: Int = 1000
    /// `pullThresholdSizeForQueue` in MiB.
    public var pullThresholdSizeForQueueMiB: Int = 100
    /// `consumeConcurrentlyMaxSpan`: cached offset span before pulling pauses.
    public var consumeConcurrentlyMaxSpan: Int64 = 2000
    /// `postSubscriptionWhenPull`: send the expression on every pull (sysFlag bit 0x4).
    public var postSubscriptionWhenPull: Bool = false
    /// `pullTimeDelayMillsWhenException`.
    public var delayAfterException: Duration = .milliseconds(1000)
    /// `PULL_TIME_DELAY_MILLS_WHEN_BROKER_FLOW_CONTROL`.
    public var delayAfterBrokerFlowControl: Duration = .milliseconds(20)
    /// `PULL_TIME_DELAY_MILLS_WHEN_FLOW_CONTROL` (the local cache is full).
    public var delayAfterCacheFlowControl: Duration = .milliseconds(50)
    /// `rocketmq.client.pull.pullMaxIdleTime`: a queue not pulled for this long is dropped at the next
    /// rebalance (persisted first) and added again by the one after.
    public var pullMaxIdleTime: Duration = .seconds(120)
    /// 4.9.x waits this long after PULL_OFFSET_MOVED before storing the new offset and dropping the queue.
    public var offsetMovedDelay: Duration = .seconds(10)

    // MARK: Consuming

    /// `consumeMessageBatchMaxSize`: messages per `.deliver` action.
    public var consumeMessageBatchMaxSize: Int = 1
    /// `maxReconsumeTimes` (−1 in Java means 16), sent on CONSUMER_SEND_MSG_BACK.
    public var maxReconsumeTimes: Int32 = 16
    /// `consumeTimeout` (15 min): a message the listener holds longer is sent back (delay level 3), checked
    /// every `consumeTimeout`.
    public var consumeTimeout: Duration = .seconds(15 * 60)
    /// Delay before messages whose send-back failed are delivered again locally.
    public var localRedeliveryDelay: Duration = .seconds(5)
    /// How long shutdown waits for delivered messages to be consumed (Java `awaitTerminationMillisWhenShutdown`
    /// is 0; we wait so that what is processed gets committed).
    public var shutdownAwaitConsumption: Duration = .seconds(30)

    // MARK: RPC

    /// Heartbeats go to every address of the broker table, slaves included, as the Java client does when it
    /// has a consumer; false sends them to masters (id 0) only.
    public var heartbeatToSlaves: Bool = true

    /// `mqClientApiTimeout`: route, heartbeat, consumer list, unregister.
    public var rpcTimeout: Duration = .seconds(3)
    /// QUERY_CONSUMER_OFFSET, max/search offset, send-back.
    public var offsetRequestTimeout: Duration = .seconds(5)
    /// Header `version` of every request (401 = V4_9_4: name servers answer routes in standard JSON).
    public var clientVersion: Int32 = MQVersion.v4_9_4
    /// ACL credentials; every request is signed when set.
    public var credentials: SessionCredentials?

    public init(nameServers: [Address], topic: String, group: String, subscriptionExpression: String = "*",
                consumeFrom: ConsumeFrom = .lastOffset, messageModel: MessageModel = .clustering,
                allocation: Allocation = .average, clientIP: String, instanceName: String = "DEFAULT",
                processID: Int64, nanoTime: Int64, unitName: String? = nil) {
        self.nameServers = nameServers
        self.topic = topic
        self.group = group
        self.subscriptionExpression = subscriptionExpression
        self.consumeFrom = consumeFrom
        self.messageModel = messageModel
        self.allocation = allocation
        self.clientIP = clientIP
        self.instanceName = instanceName
        self.processID = processID
        self.nanoTime = nanoTime
        self.unitName = unitName
    }

    /// `%RETRY%<group>`.
    public var retryTopic: String { "%RETRY%" + group }

    /// The instance name after Java's `changeInstanceNameToPID`: clustering consumers replace `DEFAULT` with
    /// `<pid>#<nanoTime>` (4.9.0 and later); broadcasting ones keep it.
    public var effectiveInstanceName: String {
        if messageModel == .clustering && instanceName == "DEFAULT" { return "\(processID)#\(nanoTime)" }
        return instanceName
    }

    /// `ClientConfig.buildMQClientId`: `clientIP@instanceName[@unitName]`.
    public var clientID: String {
        var id = clientIP + "@" + effectiveInstanceName
        if let unit = unitName, !unit.isEmpty { id += "@" + unit }
        return id
    }

    /// The topics this consumer subscribes: the topic, and in clustering mode `%RETRY%group` with `*`.
    public var subscribedTopics: [String] {
        messageModel == .clustering ? [topic, retryTopic] : [topic]
    }
}

/// Parsing and formatting of Java's `yyyyMMddHHmmss` consume timestamps.
public enum ConsumeTimestamp {
    /// Milliseconds since the epoch of `text` read in a zone `utcOffsetSeconds` east of UTC; nil unless it is
    /// 14 digits of a valid date and time.
    public static func parse(_ text: String, utcOffsetSeconds: Int = 0) -> Int64? {
        let d = Array(text.utf8)
        guard d.count == 14, d.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        func n(_ r: Range<Int>) -> Int { d[r].reduce(0) { $0 * 10 + Int($1 - 0x30) } }
        let (y, mo, day, h, mi, s) = (n(0..<4), n(4..<6), n(6..<8), n(8..<10), n(10..<12), n(12..<14))
        guard (1...12).contains(mo), (1...daysIn(month: mo, year: y)).contains(day), h < 24, mi < 60, s < 60 else { return nil }
        let days = daysFromCivil(y, mo, day)
        return (Int64(days) * 86400 + Int64(h * 3600 + mi * 60 + s) - Int64(utcOffsetSeconds)) * 1000
    }

    /// `yyyyMMddHHmmss` of an instant, in a zone `utcOffsetSeconds` east of UTC.
    public static func format(millisecondsSinceEpoch ms: Int64, utcOffsetSeconds: Int = 0) -> String {
        let secs = Int64((Double(ms) / 1000).rounded(.down)) + Int64(utcOffsetSeconds)
        var days = secs / 86400
        var rem = secs % 86400
        if rem < 0 { rem += 86400; days -= 1 }
        let (y, m, d) = civilFromDays(Int(days))
        func p(_ v: Int, _ w: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, w - s.count)) + s }
        return p(y, 4) + p(m, 2) + p(d, 2) + p(Int(rem / 3600), 2) + p(Int(rem % 3600 / 60), 2) + p(Int(rem % 60), 2)
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    // Howard Hinnant's civil-date algorithms.
    static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    static func civilFromDays(_ z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp + (mp < 10 ? 3 : -9)
        return (m <= 2 ? y + 1 : y, m, d)
    }
}
