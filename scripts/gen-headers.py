#!/usr/bin/env python3
"""Generates Sources/RocketMQRemoting/Generated/Headers.generated.swift from the header table below.

Every Java custom-header class the codec knows is declared once, here: its fields in Java declaration order
(Apache RocketMQ 4.9.4, with the 5.x additions after them), each with its wire key, its type and whether the
Java receiver requires it (@CFNotNull), keeps a default when it is absent (primitive fields, fields with an
initializer), or leaves it null. From each declaration come the struct, the single-pass decoder (a static
switch on the key length, then the key bytes as 8/4/2/1-byte words; no hashing), the encoder in Java HashMap
order (precomputed here for every HashMap capacity the field count can reach), the display fields and the
consume-flow keys.

    scripts/gen-headers.py           # writes the Swift file
    scripts/gen-headers.py --check   # exits 1 when the committed file differs from what this generates
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Sources", "RocketMQRemoting", "Generated", "Headers.generated.swift")

# Field: (swift name, type, presence[, options])
#   type: String, Int32, Int64, Bool, or "PullSysFlag" (an Int32 on the wire)
#   presence: "req" (@CFNotNull: absent is an error), "opt" (absent is nil), ("def", literal) (absent keeps the
#   Java default; always written, as Java writes non-null fields)
#   options: {"key": wire key when it differs from the name, "init": default of the init parameter,
#             "display": Swift expression of the display value, with `v` the field's text}


def F(name, type_, presence, **opts):
    return dict(name=name, type=type_, presence=presence, **opts)


def H(swift, java, fields, doc, flow=None, v2=None, extra_api=""):
    return dict(swift=swift, java=java, fields=fields, doc=doc, flow=flow or {}, v2=v2, extra_api=extra_api)


REQ, OPT = "req", "opt"


def DEF(lit):
    return ("def", lit)


HEADERS = [
    # ---- consume flow (existing) ------------------------------------------------------------------------
    H("GetRouteInfoRequestHeader", "GetRouteInfoRequestHeader",
      [F("topic", "String", REQ), F("acceptStandardJsonOnly", "Bool", OPT)],
      "GET_ROUTEINFO_BY_TOPIC (105) request.", flow={"topic": "topic"}),
    H("UnregisterClientRequestHeader", "UnregisterClientRequestHeader",
      [F("clientID", "String", REQ), F("producerGroup", "String", OPT), F("consumerGroup", "String", OPT)],
      "UNREGISTER_CLIENT (35) request. Note the capital \"ID\" of `clientID`.",
      flow={"clientID": "clientID", "consumerGroup": "consumerGroup", "producerGroup": "producerGroup"}),
    H("ConsumerGroupHeader", "GetConsumerListByGroupRequestHeader",
      [F("consumerGroup", "String", REQ)],
      "A header whose only field is the consumer group: GET_CONSUMER_LIST_BY_GROUP (38) request\n"
      "/// (GetConsumerListByGroupRequestHeader) and NOTIFY_CONSUMER_IDS_CHANGED (40)\n"
      "/// (NotifyConsumerIdsChangedRequestHeader) have exactly this shape.",
      flow={"consumerGroup": "consumerGroup"}),
    H("QueryConsumerOffsetRequestHeader", "QueryConsumerOffsetRequestHeader",
      [F("consumerGroup", "String", REQ), F("topic", "String", REQ), F("queueId", "Int32", REQ),
       F("setZeroIfNotFound", "Bool", OPT)],
      "QUERY_CONSUMER_OFFSET (14) request (5.x adds `setZeroIfNotFound`).",
      flow={"topic": "topic", "consumerGroup": "consumerGroup", "queueId": "queueId"}),
    H("OffsetResponseHeader", "OffsetResponseHeader",
      [F("offset", "Int64", REQ)],
      "A response header with one `offset` (Long): QueryConsumerOffsetResponseHeader (14),\n"
      "/// GetMaxOffsetResponseHeader (30), GetMinOffsetResponseHeader (31), SearchOffsetResponseHeader (29)."),
    H("UpdateConsumerOffsetRequestHeader", "UpdateConsumerOffsetRequestHeader",
      [F("consumerGroup", "String", REQ), F("topic", "String", REQ), F("queueId", "Int32", REQ),
       F("commitOffset", "Int64", REQ)],
      "UPDATE_CONSUMER_OFFSET (15) request.",
      flow={"topic": "topic", "consumerGroup": "consumerGroup", "queueId": "queueId"}),
    H("PullMessageRequestHeader", "PullMessageRequestHeader",
      [F("consumerGroup", "String", REQ), F("topic", "String", REQ), F("queueId", "Int32", REQ),
       F("queueOffset", "Int64", REQ), F("maxMsgNums", "Int32", REQ, init="32"),
       F("sysFlag", "PullSysFlag", REQ, display='"\\(v) (\\(sysFlag))"'),
       F("commitOffset", "Int64", REQ), F("suspendTimeoutMillis", "Int64", REQ, init="15000"),
       F("subscription", "String", OPT), F("subVersion", "Int64", REQ),
       F("expressionType", "String", OPT, init='"TAG"'),
       # 5.x
       F("maxMsgBytes", "Int32", OPT), F("requestSource", "Int32", OPT), F("proxyFrowardClientId", "String", OPT)],
      "PULL_MESSAGE (11) and LITE_PULL_MESSAGE (361) request (5.x adds `maxMsgBytes`, `requestSource`,\n"
      "/// `proxyFrowardClientId`; `bname`, `lo`, `ns`, `nsd`, `oway` of the 5.x RpcRequestHeader stay in `extra`).",
      flow={"topic": "topic", "consumerGroup": "consumerGroup", "queueId": "queueId"}),
    H("PullMessageResponseHeader", "PullMessageResponseHeader",
      [F("suggestWhichBrokerId", "Int64", REQ, init="0"), F("nextBeginOffset", "Int64", REQ),
       F("minOffset", "Int64", REQ), F("maxOffset", "Int64", REQ),
       # 5.x
       F("offsetDelta", "Int64", OPT), F("topicSysFlag", "Int32", OPT), F("groupSysFlag", "Int32", OPT),
       F("forbiddenType", "Int32", OPT)],
      "PULL_MESSAGE (11) response, on FOUND / NOT_FOUND / RETRY / OFFSET_MOVED answers (5.x adds `offsetDelta`,\n"
      "/// `topicSysFlag`, `groupSysFlag`, `forbiddenType`)."),
    H("SendMessageRequestHeader", "SendMessageRequestHeader",
      [F("producerGroup", "String", REQ), F("topic", "String", REQ), F("defaultTopic", "String", REQ, init='"TBW102"'),
       F("defaultTopicQueueNums", "Int32", REQ, init="4"), F("queueId", "Int32", REQ),
       F("sysFlag", "Int32", REQ, init="0"), F("bornTimestamp", "Int64", REQ), F("flag", "Int32", REQ, init="0"),
       F("properties", "String", OPT,
         display='MessageProperties.parse(v).map { "\\($0.key)=\\($0.value)" }.joined(separator: " ")'),
       F("reconsumeTimes", "Int32", OPT, init="0"), F("unitMode", "Bool", OPT, init="false"),
       F("batch", "Bool", OPT, init="false"), F("maxReconsumeTimes", "Int32", OPT),
       # 5.x
       F("brokerName", "String", OPT)],
      "SEND_MESSAGE (10) request with the long keys; SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE (320) and\n"
      "/// SEND_REPLY_MESSAGE_V2 (325) carry the same fields as SendMessageRequestHeaderV2, under the one-letter\n"
      "/// keys a…n (`v2Keys`; 4.9.4 has a…m, 5.x adds n = brokerName).",
      flow={"topic": "topic", "producerGroup": "producerGroup", "queueId": "queueId"},
      v2=["producerGroup:a", "topic:b", "defaultTopic:c", "defaultTopicQueueNums:d", "queueId:e", "sysFlag:f",
          "bornTimestamp:g", "flag:h", "properties:i", "reconsumeTimes:j", "unitMode:k", "maxReconsumeTimes:l",
          "batch:m", "brokerName:n"]),
    H("SendMessageResponseHeader", "SendMessageResponseHeader",
      [F("msgId", "String", REQ), F("queueId", "Int32", REQ), F("queueOffset", "Int64", REQ),
       F("transactionId", "String", OPT),
       # 5.x
       F("batchUniqId", "String", OPT), F("recallHandle", "String", OPT)],
      "SEND_MESSAGE / _V2 / SEND_BATCH_MESSAGE response (5.x adds `batchUniqId`, `recallHandle`).",
      flow={"queueId": "queueId"}),
    H("ConsumerSendMsgBackRequestHeader", "ConsumerSendMsgBackRequestHeader",
      [F("offset", "Int64", REQ), F("group", "String", REQ), F("delayLevel", "Int32", REQ),
       F("originMsgId", "String", OPT), F("originTopic", "String", OPT), F("unitMode", "Bool", DEF("false")),
       F("maxReconsumeTimes", "Int32", OPT)],
      "CONSUMER_SEND_MSG_BACK (36) request.",
      flow={"topic": "originTopic", "consumerGroup": "group"}),
    H("QueueOffsetRequestHeader", "GetMaxOffsetRequestHeader",
      [F("topic", "String", REQ), F("queueId", "Int32", REQ), F("timestamp", "Int64", OPT),
       F("boundaryType", "String", OPT), F("committed", "Bool", OPT)],
      "A request addressing one queue of a topic: GET_MAX_OFFSET (30, 5.x adds `committed`), GET_MIN_OFFSET (31),\n"
      "/// GET_EARLIEST_MSG_STORETIME (32) and, with `timestamp` (required there) and 5.x `boundaryType`,\n"
      "/// SEARCH_OFFSET_BY_TIMESTAMP (29, SearchOffsetRequestHeader).",
      flow={"topic": "topic", "queueId": "queueId"}),
    H("GetConsumerRunningInfoRequestHeader", "GetConsumerRunningInfoRequestHeader",
      [F("consumerGroup", "String", REQ), F("clientId", "String", REQ), F("jstackEnable", "Bool", DEF("false"))],
      "GET_CONSUMER_RUNNING_INFO (307) request.",
      flow={"consumerGroup": "consumerGroup", "clientID": "clientId"}),

    # ---- broker, name server, admin and transactions (4.9.4, 5.x additions last) --------------------------
    H("CreateTopicRequestHeader", "CreateTopicRequestHeader",
      [F("topic", "String", REQ), F("defaultTopic", "String", REQ, init='"TBW102"'),
       F("readQueueNums", "Int32", REQ), F("writeQueueNums", "Int32", REQ), F("perm", "Int32", REQ),
       F("topicFilterType", "String", REQ, init='"SINGLE_TAG"'), F("topicSysFlag", "Int32", OPT),
       F("order", "Bool", REQ, init="false"),
       # 5.x
       F("attributes", "String", OPT), F("force", "Bool", OPT)],
      "UPDATE_AND_CREATE_TOPIC (17) request (5.x adds `attributes`, `force`).",
      flow={"topic": "topic"}),
    H("GetEarliestMsgStoretimeResponseHeader", "GetEarliestMsgStoretimeResponseHeader",
      [F("timestamp", "Int64", REQ)],
      "GET_EARLIEST_MSG_STORETIME (32) response."),
    H("ConsumeMessageDirectlyResultRequestHeader", "ConsumeMessageDirectlyResultRequestHeader",
      [F("consumerGroup", "String", REQ), F("clientId", "String", OPT), F("msgId", "String", OPT),
       F("brokerName", "String", OPT),
       # 5.x
       F("topic", "String", OPT), F("topicSysFlag", "Int32", OPT), F("groupSysFlag", "Int32", OPT)],
      "CONSUME_MESSAGE_DIRECTLY (309) request (5.x adds `topic`, `topicSysFlag`, `groupSysFlag`).",
      flow={"topic": "topic", "consumerGroup": "consumerGroup", "clientID": "clientId"}),
    H("ResetOffsetRequestHeader", "ResetOffsetRequestHeader",
      [F("topic", "String", REQ), F("group", "String", REQ), F("timestamp", "Int64", REQ),
       F("isForce", "Bool", REQ),
       # 5.x
       F("queueId", "Int32", OPT), F("offset", "Int64", OPT)],
      "RESET_CONSUMER_CLIENT_OFFSET (220) request, broker → client (5.x adds `queueId`, always sent, −1 for\n"
      "/// every queue, and `offset`).",
      flow={"topic": "topic", "consumerGroup": "group", "queueId": "queueId"}),
    H("GetConsumerStatusRequestHeader", "GetConsumerStatusRequestHeader",
      [F("topic", "String", REQ), F("group", "String", REQ), F("clientAddr", "String", OPT)],
      "GET_CONSUMER_STATUS_FROM_CLIENT (221) request, broker → client.",
      flow={"topic": "topic", "consumerGroup": "group"}),
    H("ViewMessageRequestHeader", "ViewMessageRequestHeader",
      [F("offset", "Int64", REQ),
       # 5.x
       F("topic", "String", OPT)],
      "VIEW_MESSAGE_BY_ID (33) request: the commit-log offset of an offsetMsgId (5.x adds `topic`).",
      flow={"topic": "topic"}),
    H("QueryMessageRequestHeader", "QueryMessageRequestHeader",
      [F("topic", "String", REQ), F("key", "String", REQ), F("maxNum", "Int32", REQ),
       F("beginTimestamp", "Int64", REQ), F("endTimestamp", "Int64", REQ)],
      "QUERY_MESSAGE (12) request (the extra key `_UNIQUE_KEY_QUERY` stays in `extra`).",
      flow={"topic": "topic"}),
    H("QueryMessageResponseHeader", "QueryMessageResponseHeader",
      [F("indexLastUpdateTimestamp", "Int64", REQ), F("indexLastUpdatePhyoffset", "Int64", REQ)],
      "QUERY_MESSAGE (12) response."),
    H("EndTransactionRequestHeader", "EndTransactionRequestHeader",
      [F("producerGroup", "String", REQ), F("tranStateTableOffset", "Int64", REQ), F("commitLogOffset", "Int64", REQ),
       F("commitOrRollback", "Int32", REQ), F("fromTransactionCheck", "Bool", DEF("false")),
       F("msgId", "String", REQ), F("transactionId", "String", OPT),
       # 5.x
       F("topic", "String", OPT)],
      "END_TRANSACTION (37) request, producer → broker, oneway (commitOrRollback: 0 unknown, 8 commit, 12 rollback;\n"
      "/// 5.x adds `topic`).",
      flow={"topic": "topic", "producerGroup": "producerGroup"}),
    H("CheckTransactionStateRequestHeader", "CheckTransactionStateRequestHeader",
      [F("tranStateTableOffset", "Int64", REQ), F("commitLogOffset", "Int64", REQ), F("msgId", "String", OPT),
       F("transactionId", "String", OPT), F("offsetMsgId", "String", OPT),
       # 5.x
       F("topic", "String", OPT)],
      "CHECK_TRANSACTION_STATE (39) request, broker → producer, oneway (5.x adds `topic`).",
      flow={"topic": "topic"}),
    H("RegisterBrokerRequestHeader", "RegisterBrokerRequestHeader",
      [F("brokerName", "String", REQ), F("brokerAddr", "String", REQ), F("clusterName", "String", REQ),
       F("haServerAddr", "String", REQ), F("brokerId", "Int64", REQ),
       # 5.x
       F("heartbeatTimeoutMillis", "Int64", OPT), F("enableActingMaster", "Bool", OPT),
       # 4.9.4 again (declared after brokerId there too)
       F("compressed", "Bool", DEF("false")), F("bodyCrc32", "Int32", DEF("0"))],
      "REGISTER_BROKER (103) request, broker → name server (5.x adds `heartbeatTimeoutMillis`,\n"
      "/// `enableActingMaster`)."),
    H("RegisterBrokerResponseHeader", "RegisterBrokerResponseHeader",
      [F("haServerAddr", "String", OPT), F("masterAddr", "String", OPT)],
      "REGISTER_BROKER (103) response."),
    H("UnregisterBrokerRequestHeader", "UnRegisterBrokerRequestHeader",
      [F("brokerName", "String", REQ), F("brokerAddr", "String", REQ), F("clusterName", "String", REQ),
       F("brokerId", "Int64", REQ)],
      "UNREGISTER_BROKER (104) request, broker → name server (Java: UnRegisterBrokerRequestHeader)."),

    # ---- 5.x POP family ----------------------------------------------------------------------------------
    H("PopMessageRequestHeader", "PopMessageRequestHeader",
      [F("consumerGroup", "String", REQ), F("topic", "String", REQ), F("queueId", "Int32", REQ, init="-1"),
       F("maxMsgNums", "Int32", REQ), F("invisibleTime", "Int64", REQ), F("pollTime", "Int64", REQ),
       F("bornTime", "Int64", REQ), F("initMode", "Int32", REQ, init="0"), F("expType", "String", OPT),
       F("exp", "String", OPT), F("order", "Bool", DEF("false")), F("attemptId", "String", OPT)],
      "POP_MESSAGE (200050) request, 5.x (queueId −1: any queue; initMode 0 from min, 1 from max).",
      flow={"topic": "topic", "consumerGroup": "consumerGroup", "queueId": "queueId"}),
    H("PopMessageResponseHeader", "PopMessageResponseHeader",
      [F("popTime", "Int64", REQ), F("invisibleTime", "Int64", REQ), F("reviveQid", "Int32", REQ),
       F("restNum", "Int64", REQ), F("startOffsetInfo", "String", OPT), F("msgOffsetInfo", "String", OPT),
       F("orderCountInfo", "String", OPT)],
      "POP_MESSAGE (200050) response, 5.x."),
    H("AckMessageRequestHeader", "AckMessageRequestHeader",
      [F("consumerGroup", "String", REQ), F("topic", "String", REQ), F("queueId", "Int32", REQ),
       F("extraInfo", "String", REQ), F("offset", "Int64", REQ)],
      "ACK_MESSAGE (200051) request, 5.x (`extraInfo`: the POP_CK receipt text).",
      flow={"topic": "topic", "consumerGroup": "consumerGroup", "queueId": "queueId"}),
    H("PeekMessageRequestHeader", "PeekMessageRequestHeader",
      [F("topic", "String", REQ), F("queueId", "Int32", REQ), F("maxMsgNums", "Int32", REQ),
       F("consumerGroup", "String", REQ)],
      "PEEK_MESSAGE (200052) request, 5.x.",
      flow={"topic": "topic", "consumerGroup": "consumerGroup", "queueId": "queueId"}),
    H("ChangeInvisibleTimeRequestHeader", "ChangeInvisibleTimeRequestHeader",
      [F("consumerGroup", "String", REQ), F("topic", "String", REQ), F("queueId", "Int32", REQ),
       F("extraInfo", "String", REQ), F("offset", "Int64", REQ), F("invisibleTime", "Int64", REQ)],
      "CHANGE_MESSAGE_INVISIBLETIME (200053) request, 5.x.",
      flow={"topic": "topic", "consumerGroup": "consumerGroup", "queueId": "queueId"}),
    H("ChangeInvisibleTimeResponseHeader", "ChangeInvisibleTimeResponseHeader",
      [F("popTime", "Int64", REQ), F("invisibleTime", "Int64", REQ), F("reviveQid", "Int32", REQ)],
      "CHANGE_MESSAGE_INVISIBLETIME (200053) response, 5.x."),
    H("NotificationRequestHeader", "NotificationRequestHeader",
      [F("consumerGroup", "String", REQ), F("topic", "String", REQ), F("queueId", "Int32", REQ),
       F("pollTime", "Int64", REQ), F("bornTime", "Int64", REQ), F("order", "Bool", DEF("false")),
       F("attemptId", "String", OPT)],
      "NOTIFICATION (200054) request, 5.x.",
      flow={"topic": "topic", "consumerGroup": "consumerGroup", "queueId": "queueId"}),
    H("NotificationResponseHeader", "NotificationResponseHeader",
      [F("hasMsg", "Bool", REQ), F("pollingFull", "Bool", DEF("false"))],
      "NOTIFICATION (200054) response, 5.x."),
    H("PollingInfoRequestHeader", "PollingInfoRequestHeader",
      [F("consumerGroup", "String", REQ), F("topic", "String", REQ), F("queueId", "Int32", REQ)],
      "POLLING_INFO (200055) request, 5.x.",
      flow={"topic": "topic", "consumerGroup": "consumerGroup", "queueId": "queueId"}),
    H("PollingInfoResponseHeader", "PollingInfoResponseHeader",
      [F("pollingNum", "Int32", REQ)],
      "POLLING_INFO (200055) response, 5.x."),
]

# --------------------------------------------------------------------------------------------------------
# Java HashMap<String, String> iteration order


# The headers whose keys the binary header scanner dispatches to their fields while it walks the extFields
# block (`BinaryHeaderCodec.scanASCIIBlock`): the walk waits on its chain of length fields, and the dispatch
# fills that wait; the typed decoder then takes each field from its entry (`RawExtField.slot`) instead of
# matching the key again. (header, key set); each gets its tag (`RawExtField.slotOwner`, from 1) and a
# `KeySlots` type. Only the PULL_MESSAGE request's (consume traffic is long polls): each header dispatched is
# one more copy of the walk in the scanner, and with several of them its registers spilled and it ran slower.
SCAN_DISPATCH = [("PullMessageRequestHeader", "wire")]
SLOT_OWNERS = {hk: i + 1 for i, hk in enumerate(SCAN_DISPATCH)}


def slots_type(header, keys):
    return f"{header}{keys[0].upper()}{keys[1:]}Slots"


def java_hash(s):
    """Java String.hashCode over UTF-16 code units, as an unsigned 32-bit value."""
    b = s.encode("utf-16-be")
    h = 0
    for i in range(0, len(b), 2):
        h = (31 * h + int.from_bytes(b[i:i + 2], "big")) & 0xFFFFFFFF
    return h


def bucket(key, capacity):
    h = java_hash(key)
    return (h ^ (h >> 16)) & (capacity - 1)


def capacities(n):
    """Capacities a map of 1..n entries reaches (default 16, load factor 0.75, doubling)."""
    caps, cap = [], 16
    while True:
        caps.append(cap)
        if n <= cap * 3 // 4:
            return caps
        cap *= 2


def order(keys, capacity):
    return sorted(range(len(keys)), key=lambda i: (bucket(keys[i], capacity), i))


# --------------------------------------------------------------------------------------------------------
# Swift emission

SWIFT_TYPE = {"String": "String", "Int32": "Int32", "Int64": "Int64", "Bool": "Bool", "PullSysFlag": "PullSysFlag"}


def prop_type(f):
    t = SWIFT_TYPE[f["type"]]
    return t + "?" if f["presence"] == OPT else t


def text_expr(f, v):
    """Swift expression: the wire text of value `v` (non-optional) of field f."""
    t = f["type"]
    if t == "String":
        return v
    if t == "Bool":
        return f'({v} ? "true" : "false")'
    if t == "PullSysFlag":
        return f"String({v}.rawValue)"
    return f"String({v})"


def le(bs):
    return int.from_bytes(bs, "little")


def key_test(key):
    b = key.encode("utf-8")
    n = len(b)
    if n >= 8:
        offs = list(range(0, n - 7, 8))
        if n % 8:
            offs.append(n - 8)
        return " && ".join(f"k.le64({o}) == 0x{le(b[o:o + 8]):016X}" for o in offs)
    if n >= 4:
        return f"k.le32(0) == 0x{le(b[0:4]):08X} && k.le32({n - 4}) == 0x{le(b[n - 4:n]):08X}"
    if n >= 2:
        return f"k.le16(0) == 0x{le(b[0:2]):04X} && k.le16({n - 2}) == 0x{le(b[n - 2:n]):04X}"
    if n == 1:
        return f"k[0] == 0x{b[0]:02X}"
    return "true"


def emit_slot(lines, fname, keys):
    lines.append(f"    /// The declared field of an ASCII wire key: its index in `{fname}Keys`, or -1.")
    lines.append("    @inline(__always)")
    lines.append(f"    static func {fname}(ascii k: UnsafeRawBufferPointer) -> Int {{")
    lines.append("        switch k.count {")
    by_len = {}
    for i, k in enumerate(keys):
        by_len.setdefault(len(k.encode()), []).append((i, k))
    for n in sorted(by_len):
        lines.append(f"        case {n}:")
        for i, k in by_len[n]:
            lines.append(f"            if {key_test(k)} {{ return {i} }}  // {k}")
    lines.append("        default: break")
    lines.append("        }")
    lines.append("        return -1")
    lines.append("    }")


def emit_header(h):
    L = []
    fields = h["fields"]
    n = len(fields)
    sw = h["swift"]
    assert n <= 64
    L.append(f"/// {h['doc']}")
    texts = [f for f in fields if f["type"] == "String"]
    L.append(f"public struct {sw}: CustomHeader {{")
    L.append(f'    public static let javaName = "{h["java"]}"')
    if texts:
        L.append("    /// The header bytes the String fields decoded as spans refer to (none when built in code).")
        L.append("    var _source: ByteBuffer")
    for f in fields:
        if f["type"] == "String":
            L.append(f"    var _{f['name']}: HeaderText{'?' if f['presence'] == OPT else ''}")
        else:
            L.append(f"    public var {f['name']}: {prop_type(f)}")
    L.append("    /// Keys on the wire that this header does not declare, in wire order.")
    L.append("    public var extra: ExtFields")
    L.append("}")
    L.append("")
    # Everything else in an extension: the struct keeps its implicit memberwise initializer, which the decoder
    # uses (Swift 6.3 builds the header in place through it; through an explicit initializer it copied the
    # whole header at the end, one retain and one release per String field).
    L.append(f"extension {sw} {{")
    # init
    params = []
    for f in fields:
        p = f"{f['name']}: {prop_type(f)}"
        if "init" in f:
            p += f" = {f['init']}"
        elif f["presence"] == OPT:
            p += " = nil"
        elif isinstance(f["presence"], tuple):
            p += f" = {f['presence'][1]}"
        params.append(p)
    L.append(f"    public init({', '.join(params)}) {{")
    # Delegates to the memberwise initializer (assigning the fields here would copy the header at the end).
    def text_value(f, v):
        """The stored HeaderText (optional for an optional field) of the String expression `v`."""
        return f"{v}.map {{ HeaderText($0) }}" if f["presence"] == OPT else f"HeaderText({v})"

    def stored_arg(f, v):
        if f["type"] != "String":
            return f"{f['name']}: {v}"
        return f"_{f['name']}: {text_value(f, v)}"
    # No default value on `_source`: an initializer that assigns `self` would evaluate it first (a retain and
    # a release of the shared empty buffer per decode).
    args0 = ("_source: HeaderText.noSource, " if texts else "") + "".join(stored_arg(f, f["name"]) + ", " for f in fields)
    L.append(f"        self.init({args0}extra: ExtFields())")
    L.append("    }")
    L.append("")
    L.append("    public init(extFields: ExtFields) throws {")
    L.append("        try self.init(fields: ExtFieldsView(extFields))")
    L.append("    }")
    L.append("")
    L.append("    public init(fields: borrowing ExtFieldsView) throws {")
    L.append("        self = try fields.withUnsafeFieldsAndSource {")
    L.append(f'            try Self.decode($0, $1, source: $2, text: SpanText.self, header: "{h["java"]}", keys: .wire)')
    L.append("        }")
    L.append("    }")
    L.append("")
    L.append("    /// With `ownText`, every String field a String of its own at once: the header keeps nothing of the view's bytes.")
    L.append("    public init(fields: borrowing ExtFieldsView, ownText: Bool) throws {")
    L.append("        guard ownText else { try self.init(fields: fields); return }")
    L.append("        self = try fields.withUnsafeFieldsAndSource {")
    L.append(f'            try Self.decode($0, $1, source: $2, text: OwnText.self, header: "{h["java"]}", keys: .wire)')
    L.append("        }")
    L.append("    }")
    L.append("")
    if texts:
        L.append("    // The String fields: a span of the decoded header is made a String each time it is read.")
        for f in texts:
            k = f["name"]
            if f["presence"] == OPT:
                L.append(f"    public var {k}: String? {{")
                L.append(f"        get {{ _{k}.map {{ $0.string(_source) }} }}")
            else:
                L.append(f"    public var {k}: String {{")
                L.append(f"        get {{ _{k}.string(_source) }}")
            L.append(f"        set {{ _{k} = {text_value(f, 'newValue')} }}")
            L.append("    }")
        L.append("")
        L.append("    /// Equal when every field reads equal, however its text is held.")
        L.append("    public static func == (a: Self, b: Self) -> Bool {")
        L.append("        " + "\n            && ".join([f"a.{f['name']} == b.{f['name']}" for f in fields] + ["a.extra == b.extra"]))
        L.append("    }")
        L.append("")
        L.append("    public func hash(into hasher: inout Hasher) {")
        for f in fields:
            L.append(f"        hasher.combine({f['name']})")
        L.append("        hasher.combine(extra)")
        L.append("    }")
        L.append("")
    keysets = [("wire", [f.get("key", f["name"]) for f in fields])]
    if h["v2"]:
        m = dict(x.split(":") for x in h["v2"])
        keysets.append(("v2Wire", [m[f["name"]] for f in fields]))
    for name, keys in keysets:
        L.append(f"    /// The wire keys of the fields ({name} form), in declaration order.")
        L.append(f"    public static let {name}Keys: [String] = [{', '.join(repr(k).replace(chr(39), chr(34)) for k in keys)}]")
        emit_slot(L, name + "Slot", keys)
        L.append("")
    L.append("    enum KeySet { case " + ", ".join(k for k, _ in keysets) + " }")
    L.append("")
    # decoder
    L.append("    /// The single-pass decoder: each wire key goes to its field by a static switch (the last of duplicate")
    L.append("    /// keys wins, as in a Java HashMap); then the fields are parsed in declaration order with the Java")
    L.append("    /// receiver's rules, so the first missing or unparsable field is the one Java would report.")
    L.append("    /// String fields longer than a small String stay spans of `source` (the bytes under `bytes`) until read;")
    L.append("    /// with `OwnText`, every String field is a String of its own at once (the header keeps nothing of `source`).")
    L.append("    /// Generic over the text mode so that each mode is its own specialization, with no test per field.")
    L.append("    static func decode<Text: HeaderTextMode>(_ bytes: UnsafeRawBufferPointer, _ fields: UnsafeBufferPointer<RawExtField>,")
    L.append("                       source: ByteBuffer, text: Text.Type, header: String, keys: KeySet) throws -> Self {")
    for i in range(n):
        L.append(f"        var at{i} = -1")
    owners = [SLOT_OWNERS.get((h["swift"], name), 0) for name, _ in keysets]
    L.append("        var seen: UInt64 = 0")
    L.append("        var unknown = 0")
    if any(owners):
        if len(keysets) == 1:
            L.append(f"        let owner: UInt8 = {owners[0]}  // the binary scanner's tag on the keys it dispatched to this header")
        else:
            L.append("        let owner: UInt8  // the binary scanner's tag on the keys it dispatched to this header (0: none)")
            L.append("        switch keys {")
            for (name, _), o in zip(keysets, owners):
                L.append(f"        case .{name}: owner = {o}")
            L.append("        }")
    L.append("        for i in 0..<fields.count {")
    L.append("            let f = fields[i]")
    L.append("            let slot: Int")
    if any(owners):
        L.append("            if f.slotOwner == owner {" if all(owners) else "            if owner != 0 && f.slotOwner == owner {")
        L.append("                slot = Int(f.slot)")
        L.append("            } else if f.keyKind == .ascii {")
    else:
        L.append("            if f.keyKind == .ascii {")
    L.append("                let k = f.keyBytes(in: bytes)")
    if len(keysets) == 1:
        L.append("                slot = wireSlot(ascii: k)")
    else:
        L.append("                switch keys {")
        for name, _ in keysets:
            L.append(f"                case .{name}: slot = {name}Slot(ascii: k)")
        L.append("                }")
    L.append("            } else {")
    L.append("                let s = f.keyString(in: bytes)")
    if len(keysets) == 1:
        L.append("                slot = wireKeys.firstIndex { $0 == s } ?? -1")
    else:
        L.append("                switch keys {")
        for name, _ in keysets:
            L.append(f"                case .{name}: slot = {name}Keys.firstIndex {{ $0 == s }} ?? -1")
        L.append("                }")
    L.append("            }")
    L.append("            switch slot {")
    for i in range(n):
        L.append(f"            case {i}: at{i} = i")
    L.append("            default: unknown += 1; continue")
    L.append("            }")
    L.append("            // Presence by bit; a duplicate of a declared key (binary headers allow them): the later entry wins.")
    L.append("            seen |= 1 &<< UInt64(slot)")
    L.append("        }")
    keyexpr = "(keys == .wire ? wireKeys : v2WireKeys)" if len(keysets) > 1 else "wireKeys"
    vals = []
    for i, f in enumerate(fields):
        t, pres = f["type"], f["presence"]
        key = f"{keyexpr}[{i}]"
        base = {"String": "HeaderText.decode", "Int32": "HeaderValue.int32", "Int64": "HeaderValue.int64",
                "Bool": "HeaderValue.bool", "PullSysFlag": "HeaderValue.int32"}[t]
        needs_try = t not in ("String", "Bool")
        call = f"{base}(fields[at{i}], bytes" + (f", key: {key}, header: header)" if needs_try else (", own: Text.own)" if t == "String" else ")"))
        if needs_try:
            # Short plain digits read at once, inline; anything else through the checked reader.
            quick = {"Int32": "quickInt32", "Int64": "quickInt64", "PullSysFlag": "quickInt32"}[t]
            call = f"try HeaderValue.{quick}(fields[at{i}], bytes) ?? {call}"
        if t == "PullSysFlag":
            call = f"PullSysFlag(rawValue: {call})"
        v = f"v{i}"
        if pres == REQ:
            L.append(f"        guard seen & 0x{1 << i:X} != 0 else {{ throw HeaderValue.missing({key}, header: header) }}")
            L.append(f"        let {v} = {call}")
        elif pres == OPT:
            L.append(f"        let {v}: {'HeaderText' if t == 'String' else SWIFT_TYPE[t]}? = at{i} < 0 ? nil : {call}")
        else:
            lit = f"HeaderText({pres[1]})" if t == "String" else pres[1]
            L.append(f"        let {v}: {'HeaderText' if t == 'String' else SWIFT_TYPE[t]} = at{i} < 0 ? {lit} : {call}")
        vals.append(v)
    args = ("_source: Text.own ? HeaderText.noSource : source, " if texts else "") + ", ".join(
        f"{'_' if f['type'] == 'String' else ''}{f['name']}: {v}" for f, v in zip(fields, vals))
    L.append(f"        guard unknown > 0 else {{ return Self({args}, extra: ExtFields()) }}")
    L.append("        var rest: [(key: String, value: String)] = []")
    L.append("        rest.reserveCapacity(unknown)")
    L.append("        for i in 0..<fields.count {")
    L.append("            let f = fields[i]")
    if len(keysets) == 1:
        L.append("            let slot = f.keyKind == .ascii ? wireSlot(ascii: f.keyBytes(in: bytes))")
        L.append("                : (wireKeys.firstIndex { $0 == f.keyString(in: bytes) } ?? -1)")
    else:
        L.append("            let slot: Int")
        L.append("            switch keys {")
        for name, _ in keysets:
            L.append(f"            case .{name}: slot = f.keyKind == .ascii ? {name}Slot(ascii: f.keyBytes(in: bytes))")
            L.append(f"                : ({name}Keys.firstIndex {{ $0 == f.keyString(in: bytes) }} ?? -1)")
        L.append("            }")
    L.append("            if slot < 0 { rest.append((key: f.keyString(in: bytes), value: f.valueString(in: bytes))) }")
    L.append("        }")
    L.append(f"        return Self({args}, extra: ExtFields(rest))")
    L.append("    }")
    L.append("")
    # declared fields
    L.append("    /// The declared fields in declaration order, non-null only (before HashMap ordering).")
    L.append("    public var declaredFields: [(key: String, value: String)] {")
    L.append("        var w: [(key: String, value: String)] = []")
    L.append(f"        w.reserveCapacity({n})")
    for f in fields:
        k = f.get("key", f["name"])
        if f["presence"] == OPT:
            L.append(f'        if let v = {f["name"]} {{ w.append((key: "{k}", value: {text_expr(f, "v")})) }}')
        else:
            L.append(f'        w.append((key: "{k}", value: {text_expr(f, f["name"])}))')
    L.append("        return w")
    L.append("    }")
    L.append("")
    # encoder
    for name, keys in keysets:
        fn = "extFields" if name == "wire" else "v2ExtFields"
        doc = ("The extFields Java sends for this header: the non-null fields in Java HashMap order, then `extra`."
               if name == "wire" else "The SendMessageRequestHeaderV2 extFields (letters) in Java HashMap order, then `extra`.")
        L.append(f"    /// {doc}")
        L.append("    /// The order of every reachable HashMap capacity is precomputed (scripts/gen-headers.py): for a fixed")
        L.append("    /// capacity the order is by bucket, then insertion, so present fields keep the precomputed order.")
        L.append(f"    public var {fn}: ExtFields {{")
        for i, f in enumerate(fields):
            if f["presence"] == OPT:
                L.append(f"        let t{i}: String? = {f['name']}.map {{ {text_expr(f, '$0')} }}")
            else:
                L.append(f"        let t{i}: String? = {text_expr(f, f['name'])}")
        L.append(f"        let present = " + " + ".join(f"(t{i} == nil ? 0 : 1)" for i in range(n)))
        L.append("        var e: [(key: String, value: String)] = []")
        L.append("        e.reserveCapacity(present + extra.count)")
        caps = capacities(n)
        for ci, cap in enumerate(caps):
            perm = order(keys, cap)
            if len(caps) == 1:
                L.append(f"        // HashMap capacity {cap}")
                ind = "        "
            else:
                if ci == 0:
                    L.append(f"        if present <= {cap * 3 // 4} {{  // HashMap capacity {cap}")
                elif ci < len(caps) - 1:
                    L.append(f"        }} else if present <= {cap * 3 // 4} {{  // HashMap capacity {cap}")
                else:
                    L.append(f"        }} else {{  // HashMap capacity {cap}")
                ind = "            "
            for i in perm:
                L.append(f'{ind}if let t = t{i} {{ e.append((key: "{keys[i]}", value: t)) }}')
        if len(caps) > 1:
            L.append("        }")
        L.append("        e.append(contentsOf: extra.entries)")
        L.append("        return ExtFields(e)")
        L.append("    }")
        L.append("")
    # display
    L.append("    /// Named fields for display (the timeline): declared fields, with flag bits and properties spelled out.")
    L.append("    public var displayFields: [(key: String, value: String)] {")
    if any("display" in f for f in fields):
        L.append("        var w: [(key: String, value: String)] = []")
        for f in fields:
            k = f["name"]
            if f["presence"] == OPT:
                val = f["display"].replace("\\(v)", "\\(v)") if "display" in f else "v"
                if "display" in f:
                    L.append(f'        if let v = {k} {{ w.append((key: "{k}", value: {f["display"]})) }}')
                else:
                    L.append(f'        if let v = {k} {{ w.append((key: "{k}", value: {text_expr(f, "v")})) }}')
            else:
                if "display" in f:
                    L.append(f'        do {{ let v = {text_expr(f, k)}; w.append((key: "{k}", value: {f["display"]})) }}')
                else:
                    L.append(f'        w.append((key: "{k}", value: {text_expr(f, k)}))')
        L.append("        return w")
    else:
        L.append("        declaredFields")
    L.append("    }")
    L.append("")
    # flow keys
    flow = h["flow"]
    for req, typ in (("topic", "String"), ("consumerGroup", "String"), ("producerGroup", "String"),
                     ("queueId", "Int32"), ("clientID", "String")):
        if req in flow:
            L.append(f"    public var flow{req[0].upper() + req[1:]}: {typ}? {{ {flow[req]} }}")
    L.append("}")
    return "\n".join(L)


def generate():
    out = [
        "// Generated by scripts/gen-headers.py from its header table: do not edit; edit the table and run",
        "// `scripts/gen-headers.py` (the test suite checks that this file equals what the generator makes).",
        "",
        "import NIOCore",
        "",
    ]
    for h in HEADERS:
        out.append(emit_header(h))
        out.append("")
    out.append("// MARK: - Keys dispatched by the binary header scanner (SCAN_DISPATCH)")
    out.append("")
    for (header, keys), owner in SLOT_OWNERS.items():
        out.append(f"/// The `{keys}` keys of `{header}`, dispatched during the binary scan (tag {owner}).")
        out.append(f"enum {slots_type(header, keys)}: KeySlots {{")
        out.append(f"    @inline(__always) static var owner: UInt8 {{ {owner} }}")
        out.append(f"    @inline(__always) static func slot(ascii k: UnsafeRawBufferPointer) -> Int {{ {header}.{keys}Slot(ascii: k) }}")
        out.append("}")
        out.append("")
    return "\n".join(out)


def main():
    text = generate()
    if "--check" in sys.argv:
        try:
            current = open(OUT).read()
        except FileNotFoundError:
            current = ""
        if current != text:
            print(f"{os.path.relpath(OUT, ROOT)} differs from what scripts/gen-headers.py generates; run it", file=sys.stderr)
            sys.exit(1)
        print("generated headers are up to date")
        return
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write(text)
    print(f"wrote {os.path.relpath(OUT, ROOT)} ({len(HEADERS)} headers)")


if __name__ == "__main__":
    main()
