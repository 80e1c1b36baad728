import RocketMQRemoting

/// A problem in the consume flow (or a notable fact), with the frames that prove it. What was found is typed
/// data (`detail`); the one-line text every renderer prints is made from it.
public struct Finding: Sendable {
    public enum Severity: String, Sendable, Comparable {
        case info, warning, error
        private var rank: Int { self == .info ? 0 : (self == .warning ? 1 : 2) }
        public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
    }
    public var severity: Severity
    public var detail: FindingDetail
    /// Frame numbers that prove it (bounded by the analyzer's `maxFramesPerFinding`).
    public var frames: [Int]
    /// When it was seen (the proving frame's time); nil for whole-run findings.
    public var time: CaptureTime?
    /// How often it happened on the same queue (repeats are grouped into one finding), and the last time.
    public var occurrences = 1
    public var lastTime: CaptureTime? = nil

    public init(severity: Severity, detail: FindingDetail, frames: [Int], time: CaptureTime? = nil) {
        self.severity = severity
        self.detail = detail
        self.frames = frames
        self.time = time
    }

    /// The stable name of the kind (NDJSON `kind`, filters, tests).
    public var kind: String { detail.kind }
    /// The text printed for it (with the count and span of grouped repeats).
    public var message: String {
        guard occurrences > 1 else { return detail.message }
        let span = time.flatMap { a in lastTime.map { " over \(FindingDetail.seconds($0.nanoseconds - a.nanoseconds))" } } ?? ""
        return detail.message + " (\(occurrences) times on this queue\(span))"
    }
}

/// A message queue as the trace names it: topic, broker name (or address when the route was not seen), queue id.
public struct QueueRef: Hashable, Sendable, CustomStringConvertible {
    public var topic: String
    public var broker: String
    public var queueId: Int32
    public init(topic: String, broker: String, queueId: Int32) {
        self.topic = topic
        self.broker = broker
        self.queueId = queueId
    }
    public var description: String { "\(topic)@\(broker)#\(queueId)" }
}

/// Messages delivered to a client and not committed, on one queue.
public struct UncommittedRange: Hashable, Sendable {
    public var queue: QueueRef
    /// One past the last offset delivered.
    public var deliveredUpTo: Int64
    public var committed: Int64
    public init(queue: QueueRef, deliveredUpTo: Int64, committed: Int64) {
        self.queue = queue
        self.deliveredUpTo = deliveredUpTo
        self.committed = committed
    }
    public var count: Int64 { max(0, deliveredUpTo - committed) }
}

/// A queue whose committed offset stayed put while a member whose subscription differs from the applied one
/// was delivered messages it filters away.
public struct FilteredQueue: Hashable, Sendable {
    public var client: String
    public var queue: QueueRef
    public var committed: Int64
    public var filtered: Int
    public init(client: String, queue: QueueRef, committed: Int64, filtered: Int) {
        self.client = client
        self.queue = queue
        self.committed = committed
        self.filtered = filtered
    }
}

/// What a finding says, as data. Indirect: a finding (and an empty `Finding?`, which the analyzer moves around on
/// every pull) is then a few words, not the largest case's 120 bytes copied by `memcpy` at each move.
public indirect enum FindingDetail: Sendable, Hashable {
    /// Two client endpoints heartbeat to one server with the same clientID.
    case duplicateClientID(clientID: String, first: String, second: String, server: String)
    /// Members of a group subscribe differently: per member, its subscriptions.
    case subscriptionMismatch(group: String, members: [String: [String]])
    /// A committed offset went back.
    case offsetBackwards(group: String, queue: QueueRef, from: Int64, to: Int64, client: String)
    /// A client unregistered with delivered messages not committed.
    case uncommittedAtShutdown(group: String, client: String, ranges: [UncommittedRange])
    /// An error answer to a request, counted over the run.
    case errorAnswer(request: Int32, response: Int32, responseName: String, count: Int)
    /// The name server had no route for a topic, counted.
    case noRoute(topic: String, count: Int)
    /// No route at first, a route later (a topic auto-created by its first send).
    case noRouteAtFirst(topic: String, count: Int)
    /// GET_CONSUMER_LIST_BY_GROUP answered with an error.
    case groupNotOnline(group: String, broker: String, response: String, remark: String?)
    /// A pull answered after the client's own timeout.
    case longPollTimeout(group: String, topic: String, queueId: Int32, latencyNanos: Int64, timeoutNanos: Int64)
    /// The committed offset stays put while pulls deliver.
    case offsetStuck(group: String, queue: QueueRef, committed: Int64, forNanos: Int64, deliveredUpTo: Int64)
    /// PULL_OFFSET_MOVED: where the consumer jumps.
    case offsetMoved(group: String, topic: String, queueId: Int32, remark: String, requested: Int64, minOffset: Int64,
                     maxOffset: Int64, next: Int64)
    /// Two clients of a group pulled one queue at the same time.
    case queueDoubleOwner(group: String, queue: QueueRef, clients: [String], overlapNanos: Int64)
    /// A client pulls queues its consumer list gives it under neither strategy.
    case allocationMismatch(group: String, topic: String, client: String, extra: [String], averageShare: [String])
    /// Queues of a subscribed topic nobody in the group pulled.
    case queueUnowned(group: String, topic: String, queues: [String])
    /// Requests never answered, per request code.
    case unanswered(request: Int32, count: Int)
    /// A client whose connections closed or reset without UNREGISTER_CLIENT (a crash or kill, not a shutdown),
    /// with what had been delivered to it and not committed: the next owner receives those again.
    case consumerVanished(client: String, groups: [String], reason: String, ranges: [UncommittedRange])
    /// A queue passed to another client whose first pull starts below what the previous owner was delivered:
    /// messages `from..<to` are delivered to both.
    case redelivered(group: String, queue: QueueRef, previous: String, next: String, from: Int64, to: Int64)
    /// A queue holding unconsumed messages that no client pulled for longer than the threshold; `toEnd` when
    /// the window lasts to the end of the run.
    case queueUnattended(group: String, queue: QueueRef, fromNanos: Int64, untilNanos: Int64, toEnd: Bool, lag: Int64, thresholdNanos: Int64)
    /// A long poll of a queue's previous owner answered with messages after the queue moved on: that client
    /// drops them; the new owner reads them itself.
    case stalePull(group: String, queue: QueueRef, client: String, newOwner: String, count: Int)
    /// An AclException answer (4.9.4 sends them as SYSTEM_ERROR with the exception text), counted.
    case aclDenied(failure: AclFailure, request: Int32, account: String?, resource: String?, count: Int)
    /// A client whose heartbeat was refused by ACL: its groups never registered with the broker.
    case heartbeatRefused(client: String, groups: [String], account: String?)
    /// Signed traffic: the accounts (AccessKeys, never printed: labelled in order of appearance) and their clients.
    case signedTraffic(accounts: [String: [String]])
    /// The allocation strategy a group's clients are seen to use.
    case allocationInferred(group: String, strategy: String, clients: Int)
    /// Members of a group subscribe differently to a topic: the broker applies one subscription (the newest
    /// subVersion's) to every member's pulls; the others are answered with what it selects.
    /// `filtered`: per member, the delivered messages its own tags do not match (it drops them unconsumed);
    /// `held`: the queues whose committed offset stayed put meanwhile.
    case subscriptionApplied(group: String, topic: String, expression: String, by: String, changes: Int, others: [String: String],
                             retryImmediately: [String: Int], delivered: [String: Int], filtered: [String: Int], held: [FilteredQueue])
    /// Orderly consumption: LOCK_BATCH_MQ answered without queues the client asked for (another client still
    /// holds their lock), counted; the client does not consume those queues until it gets the lock.
    case lockNotGranted(group: String, client: String, queues: [String], count: Int)
    /// Orderly consumption: a client that owns a queue (it asked to lock it) but does not pull it for longer
    /// than the threshold because it holds no lock; `holder` is the client that held it (last granted it, or
    /// pulling it) when the lock was refused.
    case queueLockedOut(group: String, queue: QueueRef, client: String, holder: String?, fromNanos: Int64, untilNanos: Int64, toEnd: Bool,
                        thresholdNanos: Int64)
    /// 5.x POP: acks of offsets this run never saw popped (on queues it did see popped), counted.
    case ackNeverPopped(group: String, topic: String, count: Int, examples: [MessageOffset])
    /// 5.x POP: messages whose invisible time ran out before their ack (acked late, or never): the broker
    /// revives them, so they are consumed again.
    case invisibleTimeExpired(group: String, topic: String, ackedLate: Int, neverAcked: Int, examples: [MessageOffset])

    public var kind: String {
        switch self {
        case .duplicateClientID: return "duplicate-client-id"
        case .subscriptionMismatch: return "subscription-mismatch"
        case .offsetBackwards: return "offset-backwards"
        case .uncommittedAtShutdown: return "uncommitted-at-shutdown"
        case .errorAnswer: return "error-answer"
        case .noRoute, .noRouteAtFirst: return "no-route"
        case .groupNotOnline: return "group-not-online"
        case .longPollTimeout: return "long-poll-timeout"
        case .offsetStuck: return "offset-stuck"
        case .offsetMoved: return "offset-moved"
        case .queueDoubleOwner: return "queue-double-owner"
        case .allocationMismatch: return "allocation-mismatch"
        case .queueUnowned: return "queue-unowned"
        case .unanswered: return "unanswered"
        case .consumerVanished: return "consumer-vanished"
        case .redelivered: return "redelivered"
        case .queueUnattended: return "queue-unattended"
        case .stalePull: return "stale-pull"
        case .aclDenied: return "acl-denied"
        case .heartbeatRefused: return "heartbeat-refused"
        case .signedTraffic: return "signed-traffic"
        case .allocationInferred: return "allocation"
        case .subscriptionApplied: return "subscription-applied"
        case .lockNotGranted: return "lock-not-granted"
        case .queueLockedOut: return "queue-locked-out"
        case .ackNeverPopped: return "ack-never-popped"
        case .invisibleTimeExpired: return "invisible-time-expired"
        }
    }

    public static func seconds(_ nanos: Int64) -> String {
        let ms = Double(nanos) / 1e6
        return ms >= 1000 ? "\(Double(Int((ms / 1000) * 10)) / 10) s" : "\(Int(ms)) ms"
    }

    private static func times(_ n: Int) -> String { "\(n) time\(n == 1 ? "" : "s")" }

    public var message: String {
        switch self {
        case .duplicateClientID(let id, let first, let second, let server):
            return "two clients use clientID \(id): \(first) and \(second) both heartbeat to \(server); the broker cannot tell them apart and queue allocation breaks (set distinct instanceName)"
        case .subscriptionMismatch(let group, let members):
            let detail = members.sorted { $0.key < $1.key }.map { "\($0.key): [\($0.value.joined(separator: ", "))]" }.joined(separator: "; ")
            return "members of group \(group) subscribe differently (\(detail)); messages of the topics or tags only some members subscribe to are lost or redelivered"
        case .offsetBackwards(let group, let q, let from, let to, let client):
            return "\(group) \(q): committed offset went back from \(from) to \(to) (by \(client)); messages \(to)..\(from - 1) will be consumed again"
        case .uncommittedAtShutdown(let group, let client, let ranges):
            let total = ranges.reduce(Int64(0)) { $0 + $1.count }
            let lines = ranges.map { "\($0.queue) delivered up to \($0.deliveredUpTo - 1), committed \($0.committed)" }
            return "\(client) unregistered from \(group) with \(total) delivered messages not committed (\(lines.joined(separator: "; "))); after a restart they are delivered again"
        case .errorAnswer(let request, let response, let name, let count):
            var why = ""
            switch response {
            case ResponseCode.subscriptionNotLatest: why = " (a pull overtook the heartbeat carrying the new subVersion; the client retries)"
            case ResponseCode.flowControl: why = " (broker flow control; the client re-pulls after 20 ms)"
            case ResponseCode.systemBusy: why = " (broker busy, request rejected)"
            case ResponseCode.noPermission: why = " (broker, topic or group not readable/writable)"
            case ResponseCode.subscriptionNotExist: why = " (the broker has no heartbeat registration of this group for the topic)"
            default: break
            }
            return "\(RequestCode.name(request)) answered \(name)\(why): \(Self.times(count))"
        case .noRoute(let topic, let count):
            let retry = topic.hasPrefix("%RETRY%") || topic.hasPrefix("%DLQ%")
            return (retry ? "name server has no route for \(topic) yet (normal until the group's retry topic is created)"
                          : "name server has no route for topic \(topic) (TOPIC_NOT_EXIST): the consumer finds no queue to pull")
                + ": \(Self.times(count))"
        case .noRouteAtFirst(let topic, let count):
            return "name server had no route for \(topic) at first (\(Self.times(count))), then one: the topic was created on first use (autoCreateTopicEnable), its early lookups failed"
        case .groupNotOnline(let group, let broker, let response, let remark):
            return "broker \(broker) knows no online consumer of group \(group) (\(response)\(remark.map { ": \($0)" } ?? "")): the client's heartbeat did not register the group"
        case .longPollTimeout(let group, let topic, let queueId, let latency, let timeout):
            return "\(group) \(topic)#\(queueId): pull answered after \(Self.seconds(latency)), beyond the client's \(Self.seconds(timeout)) timeout (the client had already given up on it)"
        case .offsetStuck(let group, let q, let committed, let nanos, let delivered):
            return "\(group) \(q): committed offset stays at \(committed) for \(Self.seconds(nanos)) while pulls deliver up to \(delivered - 1) (consumption blocked, or offsets not persisted)"
        case .offsetMoved(let group, let topic, let queueId, let remark, let requested, let minOffset, let maxOffset, let next):
            return "\(group) \(topic)#\(queueId): PULL_OFFSET_MOVED (\(remark)): offset \(requested) is outside [\(minOffset), \(maxOffset)]; the consumer jumps to \(next)"
                + (next > requested ? " (messages \(requested)..\(next - 1) are skipped)" : " (messages are consumed again)")
        case .queueDoubleOwner(let group, let q, let clients, let overlap):
            return "\(group) \(q) pulled by both \(clients.joined(separator: " and ")) for \(Self.seconds(overlap)) at the same time: both consume the same messages (their consumer lists or allocation strategies disagree)"
        case .allocationMismatch(let group, let topic, let client, let extra, let avg):
            return "\(group) \(topic): \(client) pulls \(extra.joined(separator: ", ")), which its consumer list gives it neither with AVG ([\(avg.joined(separator: ", "))]) nor with AVG_BY_CIRCLE: its view of the group differs from the others' (stale consumer list, another allocation strategy)"
        case .queueUnowned(let group, let topic, let queues):
            return "\(group): \(queues.count) queue\(queues.count == 1 ? "" : "s") of \(topic) never pulled by any client in the capture (\(queues.joined(separator: ", "))): their messages pile up"
        case .unanswered(let request, let n):
            let pull = request == RequestCode.pullMessage
            return "\(RequestCode.name(request)): \(n) request\(n == 1 ? "" : "s") never answered"
                + (pull ? " (long polls still held by the broker when the capture or connection ended)" : "")
        case .consumerVanished(let client, let groups, let reason, let ranges):
            let total = ranges.reduce(Int64(0)) { $0 + $1.count }
            let what = ranges.isEmpty ? "nothing delivered to it was left uncommitted"
                : "\(total) delivered message\(total == 1 ? "" : "s") not committed ("
                    + ranges.map { "\($0.queue) delivered up to \($0.deliveredUpTo - 1), committed \($0.committed)" }.joined(separator: "; ")
                    + "), which the next owner receives again"
            return "\(client) (\(groups.joined(separator: ", "))) vanished: its connection \(reason) without UNREGISTER_CLIENT (a crash or kill, not a shutdown); \(what)"
        case .redelivered(let group, let q, let previous, let next, let from, let to):
            return "\(group) \(q) passed from \(previous) to \(next), which starts at \(from) while \(previous) had been delivered up to \(to - 1): \(to - from) message\(to - from == 1 ? "" : "s") (\(from)..\(to - 1)) delivered to both"
        case .queueUnattended(let group, let q, let from, let until, let toEnd, let lag, let threshold):
            return "\(group) \(q) held \(lag) unconsumed message\(lag == 1 ? "" : "s") and no client pulled it for \(Self.seconds(until - from))"
                + (toEnd ? " up to the end of the run" : "") + " (over \(Self.seconds(threshold)): an owner gone, or a rebalance not yet done)"
        case .stalePull(let group, let q, let client, let newOwner, let count):
            return "\(group) \(q): a long poll of \(client), its previous owner, was answered with \(count) message\(count == 1 ? "" : "s") after the queue moved to \(newOwner); \(client) drops them and \(newOwner) reads them itself"
        case .aclDenied(let failure, let request, let account, let resource, let count):
            let who = account.map { " for \($0)" } ?? ""
            let what: String
            switch failure {
            case .signatureMismatch: what = "signature check failed\(who) (wrong SecretKey, or the request was changed after signing)"
            case .unknownAccount: what = "no ACL account\(who) on the broker"
            case .noPermission: what = "permission missing\(who)" + (resource.map { " on \($0)" } ?? "")
            case .adminRequired: what = "admin permission required\(who)"
            case .noAccessKey: what = "request not signed while the broker requires ACL"
            case .other: what = "ACL refused the request\(who)"
            }
            return "\(RequestCode.name(request)) refused: \(what): \(Self.times(count))"
        case .heartbeatRefused(let client, let groups, let account):
            return "the heartbeat of \(client)\(account.map { " (\($0))" } ?? "") was refused by ACL: \(groups.isEmpty ? "it" : "group " + groups.joined(separator: ", ")) never registered, so the broker answers its rebalance and pulls as if the group were offline"
        case .signedTraffic(let accounts):
            return "signed traffic (ACL): " + accounts.sorted { $0.key < $1.key }.map { "\($0.key) used by \($0.value.sorted().joined(separator: ", "))" }.joined(separator: "; ")
        case .allocationInferred(let group, let strategy, let clients):
            return "\(group): its \(clients) client\(clients == 1 ? "" : "s") pull as \(strategy) allocates"
        case .subscriptionApplied(let group, let topic, let expression, let by, let changes, let others, let retry, let delivered, let filtered, let held):
            let who = others.sorted { $0.key < $1.key }.map { member in
                let dropped = filtered[member.key].map { $0 == 0 ? "all of them matching its own expression" : "\($0) of them not matching its own tags, dropped unconsumed" }
                    ?? "which it filters by its own expression"
                let stays = held.filter { $0.client == member.key }.map { "\($0.queue) stays at \($0.committed) over \($0.filtered) dropped" }
                return "\(member.key) (subscribes \(member.value): \(delivered[member.key] ?? 0) messages delivered, \(dropped), "
                    + "\(retry[member.key] ?? 0) PULL_RETRY_IMMEDIATELY answers where the broker's filter matched nothing"
                    + (stays.isEmpty ? "" : "; committed offset " + stays.joined(separator: ", ")) + ")"
            }
            let consequence = expression.hasSuffix("\"*\"")
                ? ": they receive every message and drop those their own expression does not match, unconsumed, while their offsets move past them"
                : ": messages of tags only they subscribe to never reach them, and those they do not want are dropped unconsumed while their offsets move on"
            return "\(group) \(topic): the broker filters every member's pulls with \(expression), the subscription of \(by) (newest subVersion"
                + (changes > 0 ? "; it changed \(Self.times(changes))" : "") + "); " + who.joined(separator: "; ") + consequence
        case .lockNotGranted(let group, let client, let queues, let count):
            return "\(group): LOCK_BATCH_MQ of \(client) was not granted \(queues.joined(separator: ", ")) (\(Self.times(count))): another client still holds the lock, so these queues are not consumed by \(client) until it is released (a hand-over of an orderly consumer)"
        case .queueLockedOut(let group, let q, let client, let holder, let from, let until, let toEnd, let threshold):
            return "\(group) \(q): \(client) owns it but did not pull it for \(Self.seconds(until - from))" + (toEnd ? " up to the end of the run" : "")
                + ": it holds no lock" + (holder.map { " (\($0) held it when the lock was refused)" } ?? "")
                + ", and an orderly consumer pulls only locked queues (over \(Self.seconds(threshold)); the lock is free once the previous owner unlocks it, and the client asks again every 20 s)"
        case .ackNeverPopped(let group, let topic, let count, let examples):
            return "\(group) \(topic): \(count) ACK_MESSAGE\(count == 1 ? "" : "s") for offsets never popped in this run ("
                + examples.map { "#\($0.queueId)@\($0.offset)" }.joined(separator: ", ") + "): acks of another pop, or a stale extraInfo"
        case .invisibleTimeExpired(let group, let topic, let late, let never, let examples):
            return "\(group) \(topic): invisible time ran out for \(late + never) popped message\(late + never == 1 ? "" : "s") ("
                + "\(late) acked late, \(never) never acked; " + examples.map { "#\($0.queueId)@\($0.offset)" }.joined(separator: ", ")
                + "): the broker revives them and they are consumed again (raise invisibleTime or consume faster)"
        }
    }
}

/// What an AclException answer says went wrong (4.9.4 PlainPermissionManager's texts).
public enum AclFailure: String, Sendable, Hashable {
    case signatureMismatch = "signature"
    case unknownAccount = "unknown-account"
    case noPermission = "permission"
    case adminRequired = "admin"
    case noAccessKey = "not-signed"
    case other

    /// The failure a SYSTEM_ERROR remark describes, and the resource it names; nil when it is no AclException.
    public static func classify(remark: String?) -> (AclFailure, resource: String?)? {
        guard let r = remark, r.contains("AclException") else { return nil }
        if r.contains("Check signature failed") { return (.signatureMismatch, nil) }
        if r.contains("No acl config for") || r.contains("No PlainAccessResource") { return (.unknownAccount, nil) }
        if r.contains("No accessKey is configured") { return (.noAccessKey, nil) }
        if r.contains("Need admin permission") { return (.adminRequired, nil) }
        let marker = Array("permission for ".utf8)
        let bytes = Array(r.utf8)
        if bytes.count >= marker.count {
            for i in 0...(bytes.count - marker.count) where bytes[i] == marker[0] && Array(bytes[i..<(i + marker.count)]) == marker {
                let rest = bytes[(i + marker.count)...].prefix { $0 != UInt8(ascii: ",") && $0 != UInt8(ascii: " ") && $0 != 0x0A }
                return (.noPermission, rest.isEmpty ? nil : String(decoding: rest, as: UTF8.self))
            }
        }
        return (.other, nil)
    }
}
