/// Code tables of PROTOCOL.md section 4 and appendices A and B. Request and response codes are separate
/// number spaces: a frame's `code` is a request code when flag bit 0 is clear, a response code when set.

/// Whether a code exists in the 5.x line: always, never, or only in some releases (the note says which).
public enum Availability: Hashable, Sendable {
    case yes
    case no
    case note(String)

    public var text: String {
        switch self {
        case .yes: return "yes"
        case .no: return "no"
        case .note(let n): return n
        }
    }
}

public struct CodeInfo: Hashable, Sendable {
    public let code: Int32
    public let name: String
    public let in4_9: Bool
    public let in5: Availability
    public let note: String
    init(_ code: Int32, _ name: String, in4_9: Bool, in5: Availability, note: String = "") {
        self.code = code
        self.name = name
        self.in4_9 = in4_9
        self.in5 = in5
        self.note = note
    }
}

public enum RequestCode {
    /// Every constant of RequestCode.java in 4.9.8 and 5.x, sorted by value (PROTOCOL.md appendix A).
    public static let all: [CodeInfo] = [
        .init(10, "SEND_MESSAGE", in4_9: true, in5: .yes),
        .init(11, "PULL_MESSAGE", in4_9: true, in5: .yes),
        .init(12, "QUERY_MESSAGE", in4_9: true, in5: .yes),
        .init(13, "QUERY_BROKER_OFFSET", in4_9: true, in5: .yes),
        .init(14, "QUERY_CONSUMER_OFFSET", in4_9: true, in5: .yes),
        .init(15, "UPDATE_CONSUMER_OFFSET", in4_9: true, in5: .yes),
        .init(17, "UPDATE_AND_CREATE_TOPIC", in4_9: true, in5: .yes),
        .init(18, "UPDATE_AND_CREATE_TOPIC_LIST", in4_9: false, in5: .yes),
        .init(21, "GET_ALL_TOPIC_CONFIG", in4_9: true, in5: .yes),
        .init(22, "GET_TOPIC_CONFIG_LIST", in4_9: true, in5: .yes),
        .init(23, "GET_TOPIC_NAME_LIST", in4_9: true, in5: .yes),
        .init(25, "UPDATE_BROKER_CONFIG", in4_9: true, in5: .yes),
        .init(26, "GET_BROKER_CONFIG", in4_9: true, in5: .yes),
        .init(27, "TRIGGER_DELETE_FILES", in4_9: true, in5: .yes),
        .init(28, "GET_BROKER_RUNTIME_INFO", in4_9: true, in5: .yes),
        .init(29, "SEARCH_OFFSET_BY_TIMESTAMP", in4_9: true, in5: .yes),
        .init(30, "GET_MAX_OFFSET", in4_9: true, in5: .yes),
        .init(31, "GET_MIN_OFFSET", in4_9: true, in5: .yes),
        .init(32, "GET_EARLIEST_MSG_STORETIME", in4_9: true, in5: .yes),
        .init(33, "VIEW_MESSAGE_BY_ID", in4_9: true, in5: .yes),
        .init(34, "HEART_BEAT", in4_9: true, in5: .yes),
        .init(35, "UNREGISTER_CLIENT", in4_9: true, in5: .yes),
        .init(36, "CONSUMER_SEND_MSG_BACK", in4_9: true, in5: .yes),
        .init(37, "END_TRANSACTION", in4_9: true, in5: .yes),
        .init(38, "GET_CONSUMER_LIST_BY_GROUP", in4_9: true, in5: .yes),
        .init(39, "CHECK_TRANSACTION_STATE", in4_9: true, in5: .yes),
        .init(40, "NOTIFY_CONSUMER_IDS_CHANGED", in4_9: true, in5: .yes),
        .init(41, "LOCK_BATCH_MQ", in4_9: true, in5: .yes),
        .init(42, "UNLOCK_BATCH_MQ", in4_9: true, in5: .yes),
        .init(43, "GET_ALL_CONSUMER_OFFSET", in4_9: true, in5: .yes),
        .init(45, "GET_ALL_DELAY_OFFSET", in4_9: true, in5: .yes),
        .init(46, "CHECK_CLIENT_CONFIG", in4_9: true, in5: .yes),
        .init(47, "GET_CLIENT_CONFIG", in4_9: false, in5: .yes),
        .init(50, "UPDATE_AND_CREATE_ACL_CONFIG", in4_9: true, in5: .note("5.0.0–5.3.2 only")),
        .init(51, "DELETE_ACL_CONFIG", in4_9: true, in5: .note("5.0.0–5.3.2 only")),
        .init(52, "GET_BROKER_CLUSTER_ACL_INFO", in4_9: true, in5: .note("5.0.0–5.3.2 only")),
        .init(53, "UPDATE_GLOBAL_WHITE_ADDRS_CONFIG", in4_9: true, in5: .note("5.0.0–5.3.2 only")),
        .init(54, "GET_BROKER_CLUSTER_ACL_CONFIG", in4_9: false, in5: .note("5.0.0–5.3.2 only")),
        .init(60, "GET_TIMER_CHECK_POINT", in4_9: false, in5: .yes),
        .init(61, "GET_TIMER_METRICS", in4_9: false, in5: .yes),
        .init(100, "PUT_KV_CONFIG", in4_9: true, in5: .yes),
        .init(101, "GET_KV_CONFIG", in4_9: true, in5: .yes),
        .init(102, "DELETE_KV_CONFIG", in4_9: true, in5: .yes),
        .init(103, "REGISTER_BROKER", in4_9: true, in5: .yes),
        .init(104, "UNREGISTER_BROKER", in4_9: true, in5: .yes),
        .init(105, "GET_ROUTEINFO_BY_TOPIC", in4_9: true, in5: .yes),
        .init(106, "GET_BROKER_CLUSTER_INFO", in4_9: true, in5: .yes),
        .init(200, "UPDATE_AND_CREATE_SUBSCRIPTIONGROUP", in4_9: true, in5: .yes),
        .init(201, "GET_ALL_SUBSCRIPTIONGROUP_CONFIG", in4_9: true, in5: .yes),
        .init(202, "GET_TOPIC_STATS_INFO", in4_9: true, in5: .yes),
        .init(203, "GET_CONSUMER_CONNECTION_LIST", in4_9: true, in5: .yes),
        .init(204, "GET_PRODUCER_CONNECTION_LIST", in4_9: true, in5: .yes),
        .init(205, "WIPE_WRITE_PERM_OF_BROKER", in4_9: true, in5: .yes),
        .init(206, "GET_ALL_TOPIC_LIST_FROM_NAMESERVER", in4_9: true, in5: .yes),
        .init(207, "DELETE_SUBSCRIPTIONGROUP", in4_9: true, in5: .yes),
        .init(208, "GET_CONSUME_STATS", in4_9: true, in5: .yes),
        .init(209, "SUSPEND_CONSUMER", in4_9: true, in5: .yes),
        .init(210, "RESUME_CONSUMER", in4_9: true, in5: .yes),
        .init(211, "RESET_CONSUMER_OFFSET_IN_CONSUMER", in4_9: true, in5: .yes),
        .init(212, "RESET_CONSUMER_OFFSET_IN_BROKER", in4_9: true, in5: .yes),
        .init(213, "ADJUST_CONSUMER_THREAD_POOL", in4_9: true, in5: .yes),
        .init(214, "WHO_CONSUME_THE_MESSAGE", in4_9: true, in5: .yes),
        .init(215, "DELETE_TOPIC_IN_BROKER", in4_9: true, in5: .yes),
        .init(216, "DELETE_TOPIC_IN_NAMESRV", in4_9: true, in5: .yes),
        .init(217, "REGISTER_TOPIC_IN_NAMESRV", in4_9: false, in5: .yes),
        .init(219, "GET_KVLIST_BY_NAMESPACE", in4_9: true, in5: .yes),
        .init(220, "RESET_CONSUMER_CLIENT_OFFSET", in4_9: true, in5: .yes),
        .init(221, "GET_CONSUMER_STATUS_FROM_CLIENT", in4_9: true, in5: .yes),
        .init(222, "INVOKE_BROKER_TO_RESET_OFFSET", in4_9: true, in5: .yes),
        .init(223, "INVOKE_BROKER_TO_GET_CONSUMER_STATUS", in4_9: true, in5: .yes),
        .init(224, "GET_TOPICS_BY_CLUSTER", in4_9: true, in5: .yes),
        .init(225, "UPDATE_AND_CREATE_SUBSCRIPTIONGROUP_LIST", in4_9: false, in5: .yes),
        .init(300, "QUERY_TOPIC_CONSUME_BY_WHO", in4_9: true, in5: .yes),
        .init(301, "REGISTER_FILTER_SERVER", in4_9: true, in5: .yes),
        .init(302, "REGISTER_MESSAGE_FILTER_CLASS", in4_9: true, in5: .yes),
        .init(303, "QUERY_CONSUME_TIME_SPAN", in4_9: true, in5: .yes),
        .init(304, "GET_SYSTEM_TOPIC_LIST_FROM_NS", in4_9: true, in5: .yes),
        .init(305, "GET_SYSTEM_TOPIC_LIST_FROM_BROKER", in4_9: true, in5: .yes),
        .init(306, "CLEAN_EXPIRED_CONSUMEQUEUE", in4_9: true, in5: .yes),
        .init(307, "GET_CONSUMER_RUNNING_INFO", in4_9: true, in5: .yes),
        .init(308, "QUERY_CORRECTION_OFFSET", in4_9: true, in5: .yes),
        .init(309, "CONSUME_MESSAGE_DIRECTLY", in4_9: true, in5: .yes),
        .init(310, "SEND_MESSAGE_V2", in4_9: true, in5: .yes),
        .init(311, "GET_UNIT_TOPIC_LIST", in4_9: true, in5: .yes),
        .init(312, "GET_HAS_UNIT_SUB_TOPIC_LIST", in4_9: true, in5: .yes),
        .init(313, "GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST", in4_9: true, in5: .yes),
        .init(314, "CLONE_GROUP_OFFSET", in4_9: true, in5: .yes),
        .init(315, "VIEW_BROKER_STATS_DATA", in4_9: true, in5: .yes),
        .init(316, "CLEAN_UNUSED_TOPIC", in4_9: true, in5: .yes),
        .init(317, "GET_BROKER_CONSUME_STATS", in4_9: true, in5: .yes),
        .init(318, "UPDATE_NAMESRV_CONFIG", in4_9: true, in5: .yes),
        .init(319, "GET_NAMESRV_CONFIG", in4_9: true, in5: .yes),
        .init(320, "SEND_BATCH_MESSAGE", in4_9: true, in5: .yes),
        .init(321, "QUERY_CONSUME_QUEUE", in4_9: true, in5: .yes),
        .init(322, "QUERY_DATA_VERSION", in4_9: true, in5: .yes),
        .init(323, "RESUME_CHECK_HALF_MESSAGE", in4_9: true, in5: .yes),
        .init(324, "SEND_REPLY_MESSAGE", in4_9: true, in5: .yes),
        .init(325, "SEND_REPLY_MESSAGE_V2", in4_9: true, in5: .yes),
        .init(326, "PUSH_REPLY_MESSAGE_TO_CLIENT", in4_9: true, in5: .yes),
        .init(327, "ADD_WRITE_PERM_OF_BROKER", in4_9: true, in5: .yes),
        .init(328, "GET_ALL_PRODUCER_INFO", in4_9: true, in5: .yes),
        .init(329, "DELETE_EXPIRED_COMMITLOG", in4_9: true, in5: .yes),
        .init(343, "QUERY_TOPICS_BY_CONSUMER", in4_9: false, in5: .yes),
        .init(345, "QUERY_SUBSCRIPTION_BY_CONSUMER", in4_9: false, in5: .yes),
        .init(351, "GET_TOPIC_CONFIG", in4_9: false, in5: .yes),
        .init(352, "GET_SUBSCRIPTIONGROUP_CONFIG", in4_9: false, in5: .yes),
        .init(353, "UPDATE_AND_GET_GROUP_FORBIDDEN", in4_9: false, in5: .yes),
        .init(354, "CHECK_ROCKSDB_CQ_WRITE_PROGRESS", in4_9: false, in5: .yes),
        .init(355, "EXPORT_ROCKSDB_CONFIG_TO_JSON", in4_9: false, in5: .yes),
        .init(361, "LITE_PULL_MESSAGE", in4_9: false, in5: .yes),
        .init(370, "RECALL_MESSAGE", in4_9: false, in5: .yes),
        .init(400, "QUERY_ASSIGNMENT", in4_9: false, in5: .yes),
        .init(401, "SET_MESSAGE_REQUEST_MODE", in4_9: false, in5: .yes),
        .init(402, "GET_ALL_MESSAGE_REQUEST_MODE", in4_9: false, in5: .yes),
        .init(513, "UPDATE_AND_CREATE_STATIC_TOPIC", in4_9: false, in5: .yes),
        .init(901, "GET_BROKER_MEMBER_GROUP", in4_9: false, in5: .yes),
        .init(902, "ADD_BROKER", in4_9: false, in5: .yes),
        .init(903, "REMOVE_BROKER", in4_9: false, in5: .yes),
        .init(904, "BROKER_HEARTBEAT", in4_9: false, in5: .yes),
        .init(905, "NOTIFY_MIN_BROKER_ID_CHANGE", in4_9: false, in5: .yes),
        .init(906, "EXCHANGE_BROKER_HA_INFO", in4_9: false, in5: .yes),
        .init(907, "GET_BROKER_HA_STATUS", in4_9: false, in5: .yes),
        .init(908, "RESET_MASTER_FLUSH_OFFSET", in4_9: false, in5: .yes),
        .init(1001, "CONTROLLER_ALTER_SYNC_STATE_SET", in4_9: false, in5: .yes),
        .init(1002, "CONTROLLER_ELECT_MASTER", in4_9: false, in5: .yes),
        .init(1003, "CONTROLLER_REGISTER_BROKER", in4_9: false, in5: .yes),
        .init(1004, "CONTROLLER_GET_REPLICA_INFO", in4_9: false, in5: .yes),
        .init(1005, "CONTROLLER_GET_METADATA_INFO", in4_9: false, in5: .yes),
        .init(1006, "CONTROLLER_GET_SYNC_STATE_DATA", in4_9: false, in5: .yes),
        .init(1007, "GET_BROKER_EPOCH_CACHE", in4_9: false, in5: .yes),
        .init(1008, "NOTIFY_BROKER_ROLE_CHANGED", in4_9: false, in5: .yes),
        .init(1009, "UPDATE_CONTROLLER_CONFIG", in4_9: false, in5: .yes),
        .init(1010, "GET_CONTROLLER_CONFIG", in4_9: false, in5: .yes),
        .init(1011, "CLEAN_BROKER_DATA", in4_9: false, in5: .yes),
        .init(1012, "CONTROLLER_GET_NEXT_BROKER_ID", in4_9: false, in5: .yes),
        .init(1013, "CONTROLLER_APPLY_BROKER_ID", in4_9: false, in5: .yes),
        .init(1014, "BROKER_CLOSE_CHANNEL_REQUEST", in4_9: false, in5: .yes),
        .init(1015, "CHECK_NOT_ACTIVE_BROKER_REQUEST", in4_9: false, in5: .yes),
        .init(1016, "GET_BROKER_LIVE_INFO_REQUEST", in4_9: false, in5: .yes),
        .init(1017, "GET_SYNC_STATE_DATA_REQUEST", in4_9: false, in5: .yes),
        .init(1018, "RAFT_BROKER_HEART_BEAT_EVENT_REQUEST", in4_9: false, in5: .yes),
        .init(2001, "UPDATE_COLD_DATA_FLOW_CTR_CONFIG", in4_9: false, in5: .yes),
        .init(2002, "REMOVE_COLD_DATA_FLOW_CTR_CONFIG", in4_9: false, in5: .yes),
        .init(2003, "GET_COLD_DATA_FLOW_CTR_INFO", in4_9: false, in5: .yes),
        .init(2004, "SET_COMMITLOG_READ_MODE", in4_9: false, in5: .yes),
        .init(3001, "AUTH_CREATE_USER", in4_9: false, in5: .yes),
        .init(3002, "AUTH_UPDATE_USER", in4_9: false, in5: .yes),
        .init(3003, "AUTH_DELETE_USER", in4_9: false, in5: .yes),
        .init(3004, "AUTH_GET_USER", in4_9: false, in5: .yes),
        .init(3005, "AUTH_LIST_USER", in4_9: false, in5: .yes),
        .init(3006, "AUTH_CREATE_ACL", in4_9: false, in5: .yes),
        .init(3007, "AUTH_UPDATE_ACL", in4_9: false, in5: .yes),
        .init(3008, "AUTH_DELETE_ACL", in4_9: false, in5: .yes),
        .init(3009, "AUTH_GET_ACL", in4_9: false, in5: .yes),
        .init(3010, "AUTH_LIST_ACL", in4_9: false, in5: .yes),
        .init(200050, "POP_MESSAGE", in4_9: false, in5: .yes),
        .init(200051, "ACK_MESSAGE", in4_9: false, in5: .yes),
        .init(200052, "PEEK_MESSAGE", in4_9: false, in5: .yes),
        .init(200053, "CHANGE_MESSAGE_INVISIBLETIME", in4_9: false, in5: .yes),
        .init(200054, "NOTIFICATION", in4_9: false, in5: .yes),
        .init(200055, "POLLING_INFO", in4_9: false, in5: .yes),
        .init(200056, "POP_ROLLBACK", in4_9: false, in5: .yes),
        .init(200151, "BATCH_ACK_MESSAGE", in4_9: false, in5: .yes),
    ]

    static let byCode: [Int32: CodeInfo] = Dictionary(all.map { ($0.code, $0) }, uniquingKeysWith: { a, _ in a })
    static let byName: [String: CodeInfo] = Dictionary(all.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })

    public static func info(_ code: Int32) -> CodeInfo? { byCode[code] }
    public static func info(named name: String) -> CodeInfo? { byName[name.uppercased()] }
    /// The name, or `UNKNOWN_REQUEST(n)` for a code we do not know (kept, never an error).
    public static func name(_ code: Int32) -> String { byCode[code]?.name ?? "UNKNOWN_REQUEST(\(code))" }

    public static let sendMessage: Int32 = 10
    public static let pullMessage: Int32 = 11
    public static let queryMessage: Int32 = 12
    public static let queryConsumerOffset: Int32 = 14
    public static let updateConsumerOffset: Int32 = 15
    public static let updateAndCreateTopic: Int32 = 17
    public static let searchOffsetByTimestamp: Int32 = 29
    public static let getMaxOffset: Int32 = 30
    public static let getMinOffset: Int32 = 31
    public static let getEarliestMsgStoretime: Int32 = 32
    public static let viewMessageById: Int32 = 33
    public static let heartBeat: Int32 = 34
    public static let unregisterClient: Int32 = 35
    public static let consumerSendMsgBack: Int32 = 36
    public static let endTransaction: Int32 = 37
    public static let getConsumerListByGroup: Int32 = 38
    public static let checkTransactionState: Int32 = 39
    public static let notifyConsumerIdsChanged: Int32 = 40
    public static let lockBatchMQ: Int32 = 41
    public static let unlockBatchMQ: Int32 = 42
    public static let checkClientConfig: Int32 = 46
    public static let registerBroker: Int32 = 103
    public static let unregisterBroker: Int32 = 104
    public static let getRouteInfoByTopic: Int32 = 105
    public static let getBrokerClusterInfo: Int32 = 106
    public static let resetConsumerClientOffset: Int32 = 220
    public static let getConsumerStatusFromClient: Int32 = 221
    public static let getConsumerRunningInfo: Int32 = 307
    public static let consumeMessageDirectly: Int32 = 309
    public static let sendMessageV2: Int32 = 310
    public static let sendBatchMessage: Int32 = 320
    public static let sendReplyMessage: Int32 = 324
    public static let sendReplyMessageV2: Int32 = 325
    public static let pushReplyMessageToClient: Int32 = 326
    public static let litePullMessage: Int32 = 361
    public static let popMessage: Int32 = 200050
    public static let ackMessage: Int32 = 200051
    public static let peekMessage: Int32 = 200052
    public static let changeMessageInvisibleTime: Int32 = 200053
    public static let notification: Int32 = 200054
    public static let pollingInfo: Int32 = 200055
    public static let popRollback: Int32 = 200056
    public static let batchAckMessage: Int32 = 200151
    public static let queryAssignment: Int32 = 400
    public static let setMessageRequestMode: Int32 = 401

    /// The ROCKETMQ binary header writes `code` as a 16-bit value (PROTOCOL.md 3.2): codes above 32767 (the 5.x
    /// POP family) lose their high bits, 200050 becomes 3442. `fromBinary16` maps such a truncated request code
    /// back to the known code whose low 16 bits it is, when the 16-bit value is no request code of its own
    /// (POP_MESSAGE 3442, ACK_MESSAGE 3443, … BATCH_ACK_MESSAGE 3543); any other value is returned as Java reads
    /// it (sign-extended). Re-encoding truncates again, so the bytes are unchanged.
    public static func fromBinary16(_ raw: Int16) -> Int32 {
        let code = Int32(raw)
        // Every truncated code of the table lies in 3442...3543 (checked by a test): nothing to look up outside.
        guard code >= widenedLow && code <= widenedHigh else { return code }
        if byCode[code] != nil { return code }
        return widened[UInt16(bitPattern: raw)] ?? code
    }

    /// The 16-bit wire value of `code` in a ROCKETMQ binary header.
    public static func binary16(_ code: Int32) -> Int16 { Int16(truncatingIfNeeded: code) }

    static let widenedLow: Int32 = 3442
    static let widenedHigh: Int32 = 3543
    static let widened: [UInt16: Int32] = {
        var m: [UInt16: Int32] = [:]
        for info in all where info.code > Int32(Int16.max) || info.code < Int32(Int16.min) {
            m[UInt16(truncatingIfNeeded: info.code)] = info.code
        }
        return m
    }()
}

public enum ResponseCode {
    /// RemotingSysResponseCode and ResponseCode of 4.9.8 and 5.x (PROTOCOL.md section 4.2). 209-211 have two
    /// meanings: ACL failures up to 4.9.x, POP/broker codes in 5.x.
    public static let all: [CodeInfo] = [
        .init(0, "SUCCESS", in4_9: true, in5: .yes, note: "also \"FOUND\" for PULL_MESSAGE"),
        .init(1, "SYSTEM_ERROR", in4_9: true, in5: .yes, note: ""),
        .init(2, "SYSTEM_BUSY", in4_9: true, in5: .yes, note: "flow control"),
        .init(3, "REQUEST_CODE_NOT_SUPPORTED", in4_9: true, in5: .yes, note: ""),
        .init(4, "TRANSACTION_FAILED", in4_9: true, in5: .yes, note: ""),
        .init(10, "FLUSH_DISK_TIMEOUT", in4_9: true, in5: .yes, note: "send: stored but disk flush timed out"),
        .init(11, "SLAVE_NOT_AVAILABLE", in4_9: true, in5: .yes, note: ""),
        .init(12, "FLUSH_SLAVE_TIMEOUT", in4_9: true, in5: .yes, note: ""),
        .init(13, "MESSAGE_ILLEGAL", in4_9: true, in5: .yes, note: ""),
        .init(14, "SERVICE_NOT_AVAILABLE", in4_9: true, in5: .yes, note: ""),
        .init(15, "VERSION_NOT_SUPPORTED", in4_9: true, in5: .yes, note: ""),
        .init(16, "NO_PERMISSION", in4_9: true, in5: .yes, note: ""),
        .init(17, "TOPIC_NOT_EXIST", in4_9: true, in5: .yes, note: ""),
        .init(18, "TOPIC_EXIST_ALREADY", in4_9: true, in5: .yes, note: ""),
        .init(19, "PULL_NOT_FOUND", in4_9: true, in5: .yes, note: "pull: no new message"),
        .init(20, "PULL_RETRY_IMMEDIATELY", in4_9: true, in5: .yes, note: "pull: nothing matched the filter / redirect"),
        .init(21, "PULL_OFFSET_MOVED", in4_9: true, in5: .yes, note: "pull: requested offset illegal"),
        .init(22, "QUERY_NOT_FOUND", in4_9: true, in5: .yes, note: "offset query / message query found nothing"),
        .init(23, "SUBSCRIPTION_PARSE_FAILED", in4_9: true, in5: .yes, note: ""),
        .init(24, "SUBSCRIPTION_NOT_EXIST", in4_9: true, in5: .yes, note: ""),
        .init(25, "SUBSCRIPTION_NOT_LATEST", in4_9: true, in5: .yes, note: ""),
        .init(26, "SUBSCRIPTION_GROUP_NOT_EXIST", in4_9: true, in5: .yes, note: ""),
        .init(27, "FILTER_DATA_NOT_EXIST", in4_9: true, in5: .yes, note: ""),
        .init(28, "FILTER_DATA_NOT_LATEST", in4_9: true, in5: .yes, note: ""),
        .init(29, "INVALID_PARAMETER", in4_9: false, in5: .note("yes (since 5.3.2)"), note: ""),
        .init(200, "TRANSACTION_SHOULD_COMMIT", in4_9: true, in5: .yes, note: ""),
        .init(201, "TRANSACTION_SHOULD_ROLLBACK", in4_9: true, in5: .yes, note: ""),
        .init(202, "TRANSACTION_STATE_UNKNOW", in4_9: true, in5: .yes, note: "(sic)"),
        .init(203, "TRANSACTION_STATE_GROUP_WRONG", in4_9: true, in5: .yes, note: ""),
        .init(204, "NO_BUYER_ID", in4_9: true, in5: .yes, note: ""),
        .init(205, "NOT_IN_CURRENT_UNIT", in4_9: true, in5: .yes, note: ""),
        .init(206, "CONSUMER_NOT_ONLINE", in4_9: true, in5: .yes, note: ""),
        .init(207, "CONSUME_MSG_TIMEOUT", in4_9: true, in5: .yes, note: ""),
        .init(208, "NO_MESSAGE", in4_9: true, in5: .yes, note: ""),
        .init(209, "UPDATE_AND_CREATE_ACL_CONFIG_FAILED", in4_9: true, in5: .note("5.0.0–5.3.2 (duplicate value!)"), note: "removed in 5.3.3"),
        .init(210, "DELETE_ACL_CONFIG_FAILED", in4_9: true, in5: .note("5.0.0–5.3.2 (duplicate value!)"), note: "removed in 5.3.3"),
        .init(211, "UPDATE_GLOBAL_WHITE_ADDRS_CONFIG_FAILED", in4_9: true, in5: .note("5.0.0–5.3.2 (duplicate value!)"), note: "removed in 5.3.3"),
        .init(209, "POLLING_FULL", in4_9: false, in5: .yes, note: "POP long polling queue full"),
        .init(210, "POLLING_TIMEOUT", in4_9: false, in5: .yes, note: "POP long polling timed out"),
        .init(211, "BROKER_NOT_EXIST", in4_9: false, in5: .yes, note: ""),
        .init(212, "BROKER_DISPATCH_NOT_COMPLETE", in4_9: false, in5: .yes, note: ""),
        .init(213, "BROADCAST_CONSUMPTION", in4_9: false, in5: .yes, note: ""),
        .init(215, "FLOW_CONTROL", in4_9: true, in5: .yes, note: "client retries pull after 20 ms"),
        .init(501, "NOT_LEADER_FOR_QUEUE", in4_9: false, in5: .yes, note: "static topics"),
        .init(604, "ILLEGAL_OPERATION", in4_9: false, in5: .note("yes (since 5.2.0)"), note: ""),
        .init(1500, "GO_AWAY", in4_9: false, in5: .note("yes (since 5.2.0)"), note: "server shutting down (2.4)"),
        .init(2000, "CONTROLLER_FENCED_MASTER_EPOCH", in4_9: false, in5: .yes, note: "controller (HA) codes 2000–2016"),
        .init(2001, "CONTROLLER_FENCED_SYNC_STATE_SET_EPOCH", in4_9: false, in5: .yes, note: ""),
        .init(2002, "CONTROLLER_INVALID_MASTER", in4_9: false, in5: .yes, note: ""),
        .init(2003, "CONTROLLER_INVALID_REPLICAS", in4_9: false, in5: .yes, note: ""),
        .init(2004, "CONTROLLER_MASTER_NOT_AVAILABLE", in4_9: false, in5: .yes, note: ""),
        .init(2005, "CONTROLLER_INVALID_REQUEST", in4_9: false, in5: .yes, note: ""),
        .init(2006, "CONTROLLER_BROKER_NOT_ALIVE", in4_9: false, in5: .yes, note: ""),
        .init(2007, "CONTROLLER_NOT_LEADER", in4_9: false, in5: .yes, note: ""),
        .init(2008, "CONTROLLER_BROKER_METADATA_NOT_EXIST", in4_9: false, in5: .yes, note: ""),
        .init(2009, "CONTROLLER_INVALID_CLEAN_BROKER_METADATA", in4_9: false, in5: .yes, note: ""),
        .init(2010, "CONTROLLER_BROKER_NEED_TO_BE_REGISTERED", in4_9: false, in5: .yes, note: "in 5.1.0: 2010 = CONTROLLER_ALTER_SYNC_STATE_SET_FAILED"),
        .init(2011, "CONTROLLER_MASTER_STILL_EXIST", in4_9: false, in5: .yes, note: "in 5.1.0: 2011 = CONTROLLER_ELECT_MASTER_FAILED"),
        .init(2012, "CONTROLLER_ELECT_MASTER_FAILED", in4_9: false, in5: .yes, note: "in 5.1.0: 2012 = CONTROLLER_REGISTER_BROKER_FAILED"),
        .init(2013, "CONTROLLER_ALTER_SYNC_STATE_SET_FAILED", in4_9: false, in5: .yes, note: ""),
        .init(2014, "CONTROLLER_BROKER_ID_INVALID", in4_9: false, in5: .yes, note: ""),
        .init(2015, "CONTROLLER_JRAFT_INTERNAL_ERROR", in4_9: false, in5: .yes, note: ""),
        .init(2016, "CONTROLLER_BROKER_LIVE_INFO_NOT_EXISTS", in4_9: false, in5: .yes, note: ""),
        .init(3001, "USER_NOT_EXIST", in4_9: false, in5: .yes, note: "auth 2.0"),
        .init(3002, "POLICY_NOT_EXIST", in4_9: false, in5: .yes, note: ""),
        .init(-1000, "RPC_UNKNOWN", in4_9: false, in5: .yes, note: "**client-internal**, never on the wire"),
        .init(-1002, "RPC_ADDR_IS_NULL", in4_9: false, in5: .yes, note: "client-internal"),
        .init(-1004, "RPC_SEND_TO_CHANNEL_FAILED", in4_9: false, in5: .yes, note: "client-internal"),
        .init(-1006, "RPC_TIME_OUT", in4_9: false, in5: .yes, note: "client-internal"),
    ]

    static let byCode: [Int32: [CodeInfo]] = Dictionary(grouping: all, by: { $0.code })
    static let byName: [String: CodeInfo] = Dictionary(all.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })

    /// Every meaning of a response code (209, 210 and 211 have two).
    public static func infos(_ code: Int32) -> [CodeInfo] { byCode[code] ?? [] }
    public static func info(named name: String) -> CodeInfo? { byName[name.uppercased()] }

    /// The name of a response code. Where 4.x and 5.x disagree (209-211) the responder's `version` decides:
    /// 413 (V5_0_0) or later picks the 5.x name; without a version both are given.
    public static func name(_ code: Int32, responderVersion: Int32? = nil) -> String {
        guard let infos = byCode[code], !infos.isEmpty else { return "UNKNOWN_RESPONSE(\(code))" }
        if infos.count == 1 { return infos[0].name }
        if let v = responderVersion {
            let want5 = v >= MQVersion.v5_0_0
            if let pick = infos.first(where: { want5 ? !$0.in4_9 : $0.in4_9 }) { return pick.name }
        }
        return infos.map(\.name).joined(separator: "|")
    }

    public static let success: Int32 = 0
    public static let systemError: Int32 = 1
    public static let systemBusy: Int32 = 2
    public static let requestCodeNotSupported: Int32 = 3
    public static let noPermission: Int32 = 16
    public static let topicNotExist: Int32 = 17
    public static let pullNotFound: Int32 = 19
    public static let pullRetryImmediately: Int32 = 20
    public static let pullOffsetMoved: Int32 = 21
    public static let queryNotFound: Int32 = 22
    public static let subscriptionParseFailed: Int32 = 23
    public static let subscriptionNotExist: Int32 = 24
    public static let subscriptionNotLatest: Int32 = 25
    public static let subscriptionGroupNotExist: Int32 = 26
    public static let consumerNotOnline: Int32 = 206
    public static let flowControl: Int32 = 215
    public static let goAway: Int32 = 1500
}

/// LanguageCode: the byte of the binary header and the name of the JSON header. Unknown values are kept:
/// an unknown byte as `code` with a synthetic name, an unknown JSON name as `name` with no code.
public struct LanguageCode: Hashable, Sendable, CustomStringConvertible {
    public let code: UInt8?
    public let name: String

    /// The known names, by code: `knownName(_:)` from 0 up to the first code without one.
    public static let names: [String] = Array((UInt8(0)...UInt8.max).lazy.map(knownName).prefix { $0 != nil }.map { $0! })

    public init(code: UInt8) {
        self.code = code
        name = Self.knownName(code) ?? "UNKNOWN(\(code))"
    }

    /// The name of a known code: a switch of literals, the one table of them (no array lookup per frame).
    @inline(__always)
    static func knownName(_ code: UInt8) -> String? {
        switch code {
        case 0: "JAVA"
        case 1: "CPP"
        case 2: "DOTNET"
        case 3: "PYTHON"
        case 4: "DELPHI"
        case 5: "ERLANG"
        case 6: "RUBY"
        case 7: "OTHER"
        case 8: "HTTP"
        case 9: "GO"
        case 10: "PHP"
        case 11: "OMS"
        case 12: "RUST"
        case 13: "NODE_JS"
        default: nil
        }
    }

    public init(name: String) {
        if name == "JAVA" {
            self.code = 0
        } else if let i = Self.names.firstIndex(of: name) {
            self.code = UInt8(i)
        } else {
            self.code = nil
        }
        self.name = name
    }

    /// The byte written in a ROCKETMQ header: the known code, else 7 (OTHER).
    public var binaryCode: UInt8 { code ?? 7 }
    public var description: String { name }

    public static let java = LanguageCode(code: 0)
    public static let cpp = LanguageCode(code: 1)
    public static let python = LanguageCode(code: 3)
    public static let go = LanguageCode(code: 9)
    public static let rust = LanguageCode(code: 12)
}

/// MQVersion ordinals (PROTOCOL.md 2.5): the `version` header field to a release name.
public enum MQVersion {
    public static let v4_4_0: Int32 = 293
    public static let v4_9_3: Int32 = 399
    public static let v4_9_4: Int32 = 401
    public static let v5_0_0: Int32 = 413

    /// Release name of an ordinal, e.g. 401 → "V4_9_4", 400 → "V4_9_4_SNAPSHOT". Out-of-range values are
    /// named HIGHER_VERSION (612 and above) or UNKNOWN(n) when negative.
    public static func name(_ v: Int32) -> String {
        let v = Int(v)
        if v < 0 { return "UNKNOWN(\(v))" }
        switch v {
        case 0: return "V3_0_0_SNAPSHOT"
        case 1: return "V3_0_0_ALPHA1"
        case 2...6: return "V3_0_0_BETA\(v - 1)"
        case 7...14:
            let n = 6 + (v - 7) / 2
            return (v - 7) % 2 == 0 ? "V3_0_0_BETA\(n)_SNAPSHOT" : "V3_0_0_BETA\(n)"
        case 15: return "V3_0_0_FINAL"
        case 16...45:
            let n = (v - 14) / 2
            return v % 2 == 0 ? "V3_0_\(n)_SNAPSHOT" : "V3_0_\(n)"
        case 46...85:
            let k = (v - 46) / 2
            let m = 1 + k / 10, p = k % 10
            return v % 2 == 0 ? "V3_\(m)_\(p)_SNAPSHOT" : "V3_\(m)_\(p)"
        case 86...211:
            let k = (v - 86) / 2
            let m = 3 + k / 9, p = 1 + k % 9
            return v % 2 == 0 ? "V3_\(m)_\(p)_SNAPSHOT" : "V3_\(m)_\(p)"
        case 212...611:
            let k = (v - 212) / 2
            let major = 4 + k / 100, x = (k % 100) / 10, y = k % 10
            return v % 2 == 0 ? "V\(major)_\(x)_\(y)_SNAPSHOT" : "V\(major)_\(x)_\(y)"
        default:
            return "HIGHER_VERSION"
        }
    }

    /// The ordinal of a release name (inverse of `name`), e.g. "V4_9_4" → 401.
    public static func ordinal(_ name: String) -> Int32? {
        let upper = name.uppercased()
        for v in Int32(0)...612 where Self.name(v) == upper { return v }
        return nil
    }
}
