import NIOCore
import RocketMQRemoting

/// PermName bits.
public enum Perm {
    public static let priority: Int32 = 8
    public static let read: Int32 = 4
    public static let write: Int32 = 2
    public static let inherit: Int32 = 1
}

/// A topic on this broker (Java TopicConfig).
public struct TopicConfig: Hashable, Sendable, Codable {
    public var topicName: String
    public var readQueueNums: Int32
    public var writeQueueNums: Int32
    public var perm: Int32
    public var topicSysFlag: Int32
    public var order: Bool

    public init(topicName: String, readQueueNums: Int32 = 4, writeQueueNums: Int32 = 4, perm: Int32 = 6, topicSysFlag: Int32 = 0,
                order: Bool = false) {
        self.topicName = topicName
        self.readQueueNums = readQueueNums
        self.writeQueueNums = writeQueueNums
        self.perm = perm
        self.topicSysFlag = topicSysFlag
        self.order = order
    }

    /// Java's TopicConfig.toString, used in some remarks.
    public var javaDescription: String {
        "TopicConfig [topicName=\(topicName), readQueueNums=\(readQueueNums), writeQueueNums=\(writeQueueNums), perm=\(permText), topicFilterType=SINGLE_TAG, topicSysFlag=\(topicSysFlag), order=\(order), attributes={}]"
    }
    var permText: String {
        var s = ""
        s += perm & Perm.read != 0 ? "R" : "-"
        s += perm & Perm.write != 0 ? "W" : "-"
        s += perm & Perm.inherit != 0 ? "X" : "-"
        return s
    }
}

/// Broker settings (Java BrokerConfig / MessageStoreConfig defaults unless said otherwise).
public struct BrokerConfiguration: Sendable {
    public var clusterName = "DefaultCluster"
    public var brokerName = "broker-a"
    public var brokerId: Int64 = 0
    /// The broker's address as clients use it (`ip:port`), and the store host written into records.
    public var brokerAddress = "127.0.0.1:10911"
    public var storeHost = MessageHost(address: [127, 0, 0, 1], port: 10911)
    public var autoCreateTopicEnable = true
    /// Queues of the default topic TBW102 (Java defaultTopicQueueNums = 8).
    public var defaultTopicQueueNums: Int32 = 8
    /// A client whose last heartbeat is older than this is dropped (Java: 120 s).
    public var clientExpiryMillis: Int64 = 120_000
    /// How often held pulls are re-checked for their timeout (Java: every 5 s with long polling).
    public var holdCheckIntervalMillis: Int64 = 5_000
    /// Group default retryMaxTimes.
    public var maxReconsumeTimes: Int32 = 16
    /// messageDelayLevel, in ms: 1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h.
    public var delayLevelMillis: [Int64] = [1, 5, 10, 30, 60, 120, 180, 240, 300, 360, 420, 480, 540, 600, 1200, 1800, 3600, 7200].map { $0 * 1000 }
    /// Delays are multiplied by this (1 = real delays; 0 = delivered at the next tick).
    public var delayScale: Double = 1
    /// Rebalance locks expire after this (Java rocketmq.broker.rebalance.lockMaxLiveTime 60 s).
    public var lockExpiryMillis: Int64 = 60_000
    public var regionId = "DefaultRegion"
    public var traceOn = true
    public var notifyConsumerIdsChangedEnable = true
    /// maxTransferCountOnMessageInMemory / maxTransferBytesOnMessageInMemory.
    public var maxTransferCount = 32
    public var maxTransferBytes = 256 * 1024
    public var maxMessageSize = 4 * 1024 * 1024
    /// Memory only: the newest records kept, in bytes; older messages are dropped (their queues' minOffset moves
    /// past them), as the real broker deletes its oldest commit-log files.
    public var memoryRetentionBytes = 256 << 20
    /// With a cold storage (`--store`): the newest records kept in memory, in bytes; older ones are read back.
    public var recordCacheBytes = 64 << 20
    /// Bytes of the record cache allocated and touched at start-up (at most `recordCacheBytes` with a cold
    /// storage, `memoryRetentionBytes` without), as the real broker's JVM pre-touches its heap; 0: none.
    public var pretouchBytes = 0
    /// With a cold storage: consume-queue entries kept in memory per queue (twice this at most between ticks).
    public var hotEntriesPerQueue = 16384
    /// Broker version in responses.
    public var version: Int32 = MQVersion.v4_9_4

    public init() {}
}

public enum BrokerTopics {
    public static let defaultTopic = "TBW102"
    public static let scheduleTopic = "SCHEDULE_TOPIC_XXXX"
    public static let retryPrefix = "%RETRY%"
    public static let dlqPrefix = "%DLQ%"
    /// TopicValidator.NOT_ALLOWED_SEND_TOPIC_SET.
    public static let notAllowedSend: Set<String> = ["SCHEDULE_TOPIC_XXXX", "RMQ_SYS_TRANS_HALF_TOPIC", "RMQ_SYS_TRANS_OP_HALF_TOPIC",
                                                     "TRANS_CHECK_MAX_TIME_TOPIC", "SELF_TEST_TOPIC"]
    public static let faqSuffix = "\nSee http://rocketmq.apache.org/docs/faq/ for further details."
}

/// Who sent a request: the connection and what the broker needs to know of it.
public struct ClientRef: Hashable, Sendable {
    public var connection: Int
    /// The peer's address (born host of what it sends).
    public var remote: MessageHost
    public init(connection: Int, remote: MessageHost) {
        self.connection = connection
        self.remote = remote
    }
}

/// A consume-queue entry with its queue and offset, as the driver writes it to the queue's index file.
public struct IndexedEntry: Sendable, Equatable {
    public var queue: QueueKey
    public var queueOffset: Int64
    public var entry: QueueEntry
}

/// What the driver must do after the state changed. Executed in order: a `.persist` comes before the answers
/// that depend on it.
public enum BrokerAction: Sendable {
    /// Answer a request on its connection.
    case respond(connection: Int, RemotingCommand)
    /// A pull was parked (long polling) until `deadline` (ms) or a message arrives.
    case hold(connection: Int, opaque: Int32, topic: String, queueId: Int32, deadline: Int64)
    /// A parked pull is answered now.
    case wake(connection: Int, RemotingCommand)
    /// Send NOTIFY_CONSUMER_IDS_CHANGED (oneway) for `group` to these connections.
    case notifyConsumerIdsChanged(to: [Int], group: String)
    /// The client stopped heartbeating: close its connection.
    case expire(connection: Int, clientID: String)
    /// Append these stored records to the commit log (contiguous, from the first one's physical offset), and
    /// their consume-queue entries to the queues' index files.
    case persist([ByteBuffer], entries: [IndexedEntry])
    /// Committed offsets (or schedule progress) changed.
    case persistOffsets
    /// The topic table changed (the name server registration and the topics file follow it).
    case topicsChanged
    /// A line for the log.
    case log(String)
}

extension BrokerAction {
    public var response: RemotingCommand? {
        switch self {
        case .respond(_, let c), .wake(_, let c): return c
        default: return nil
        }
    }
}

/// Java String.hashCode widened to long, the consume queue's tags code.
func tagsCode(_ tags: String?) -> Int64 {
    guard let tags, !tags.isEmpty else { return 0 }
    return Int64(JavaHashMapOrder.javaHashCode(tags))
}

/// Java messageProperties2String over a HashMap filled in this order.
func hashMapProperties(_ props: [(key: String, value: String)]) -> String {
    MessageProperties.encode(JavaHashMapOrder.ordered(props))
}

func validateTopic(_ topic: String) -> String? {
    if topic.isEmpty { return "The specified topic is blank." }
    let ok = topic.utf8.allSatisfy { c in
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x25 || c == 0x7C || c == 0x5F || c == 0x2D
    }
    if !ok { return "The specified topic[\(topic)] contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$" }
    if topic.utf8.count > 127 { return "The specified topic is longer than topic max length." }
    return nil
}
