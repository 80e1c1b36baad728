import RMQTraceModel
import RocketMQRemoting

/// Annotates frames with their consume-flow phase and client, keeps the per-queue picture (owners, broker
/// max offset, committed offset) and detects what went wrong. A plain value with no I/O: the pcap decoder and
/// the live consumer feed it the same FrameRecords.
public struct ConsumeFlowAnalyzer: Sendable {
    public struct Configuration: Sendable {
        /// The push consumer's pull RPC timeout (consumerTimeoutMillisWhenSuspend).
        public var clientPullTimeoutNanos: Int64 = 30_000_000_000
        /// Two clients pulling one queue for longer than this at the same time is a double assignment.
        public var doubleOwnershipNanos: Int64 = 20_000_000_000
        /// Committed offset not advancing for this long while pulls deliver messages.
        public var stuckCommitNanos: Int64 = 30_000_000_000
        /// A client whose connection closed without UNREGISTER_CLIENT and that is not seen again for this long
        /// vanished (a heartbeat interval and some).
        public var vanishGraceNanos: Int64 = 35_000_000_000
        /// A queue holding unconsumed messages with no pull in flight for longer than this is unattended.
        public var unattendedNanos: Int64 = 10_000_000_000
        /// An orderly client that has not asked for a queue's lock for this long no longer owns it (the Java client
        /// re-locks its queues every 20 s).
        public var lockAskGapNanos: Int64 = 45_000_000_000
        /// The window at the end of the run over which lag status is judged (STOP: no commit and no pull in it).
        public var lagWindowNanos: Int64 = 30_000_000_000
        /// Frames quoted per finding.
        public var maxFramesPerFinding = 10
        /// Bound on what the analyzer remembers (queues, clients, heartbeat sources), so that memory depends on
        /// configuration, not on the capture: beyond it new ones are not tracked (counted in `untracked`).
        public var maxTracked = 100_000
        public init() {}
    }

    /// Per queue and consumer group: what the console's consumer progress shows.
    public struct QueueProgress: Sendable {
        public var group: String
        public var ref: QueueRef
        /// `topic@broker#queueId`.
        public var queue: String { ref.description }
        public var topic: String { ref.topic }
        public var queueId: Int32 { ref.queueId }
        public var broker: String { ref.broker }
        public var brokerMaxOffset: Int64?
        public var committedOffset: Int64?
        public var deliveredOffset: Int64?
        public var lastPullTime: CaptureTime?
        public var owner: String?
        public var pulls = 0
        public var messages = 0
        var owners: [String: (first: CaptureTime, last: CaptureTime, pulls: Int, frames: [Int])] = [:]
        var lastCommitAdvance: CaptureTime? {
            didSet { uncommittedSince = nil }
        }
        /// The first delivery past the committed offset since it last advanced.
        var uncommittedSince: CaptureTime?
        var commitFrame: Int?
        var stuckReported = false
        /// Per client: one past the last offset delivered to it.
        var deliveredTo: [String: Int64] = [:]
        /// Pulls sent and not yet answered, and since when none was.
        var pullsInFlight = 0
        var idleSince: CaptureTime?
        var idleReported = false
        /// When the current owner took the queue over (its first pull after another client's).
        var ownerSince: CaptureTime?
        /// Lag (broker max − committed) over the run, for the status.
        public internal(set) var lagFirst: Int64?
        public internal(set) var lagMax: Int64?
        public internal(set) var lagLast: Int64?
        var lagNeverFell = true
        var rewound = false
        var lastCommitTime: CaptureTime?
        /// Lag status at the end of the run, as Burrow evaluates it.
        public internal(set) var status: LagStatus = .ok
        var firstSeen: CaptureTime?

        mutating func sampleLag() {
            guard let l = lag else { return }
            if lagFirst == nil { lagFirst = l }
            if let last = lagLast, l < last { lagNeverFell = false }
            lagLast = l
            lagMax = max(lagMax ?? l, l)
        }
        public var lag: Int64? {
            guard let m = brokerMaxOffset, let c = committedOffset else { return nil }
            return max(0, m - c)
        }
    }

    public var configuration: Configuration
    /// A queue of a group, the key of `progress` and of the other per-queue tables: the group, topic and broker
    /// (its name, or its address before a route names it) as ids of `names`.
    struct QueueKey: Hashable, Sendable {
        var group: Int32
        var topic: Int32
        var broker: Int32
        var queueId: Int32
    }
    /// The names of the queue keys' ids (at most three per tracked queue).
    private var names: NameTable
    /// How many names the queue keys hold (tests).
    var nameCount: Int { names.names.count }
    /// Per connection, the names of its latest pull and their key (without the queue id): the pulls of a
    /// connection name the same group and topic again and again, and the Strings of a request's header compare
    /// equal to the ones kept here for less than hashing them. `brokerGeneration` is the route count it was
    /// made under (a route can rename a broker address).
    private var pullNames: ConnectionMap<(group: String, topic: String, server: String, generation: Int, key: QueueKey)> = [:]
    private var brokerGeneration = 0

    private(set) var progress: [QueueKey: QueueProgress] = [:]
    private var clientIdByEndpoint: [String: String] = [:]
    private var subscriptions: [String: [String: (subs: [String], frame: Int)]] = [:]
    private var subscriptionMismatchReported: Set<String> = []
    /// A client as one server sees it.
    struct ClientAtServer: Hashable, Sendable {
        var clientID: String
        var server: String
    }
    /// A client in a group.
    struct GroupMember: Hashable, Sendable {
        var group: String
        var client: String
    }
    /// A client's share of one topic in a group.
    struct MemberTopic: Hashable, Sendable {
        var group: String
        var client: String
        var topic: String
    }
    private var heartbeatConnections: [ClientAtServer: (connection: Int, endpoint: String, frame: Int)] = [:]
    private var duplicateReported: Set<String> = []
    private var brokerNameByAddress: [String: String] = [:]
    private var routes: [String: TopicRouteData] = [:]
    private var consumerLists: [String: [String]] = [:]
    /// Error answers counted over the run, by what they are.
    enum ErrorKey: Hashable, Sendable {
        case answer(request: Int32, response: Int32)
        case noRoute(topic: String)
        case acl(failure: AclFailure, request: Int32, account: String?, resource: String?)
    }
    private var errorAnswers: [ErrorKey: (count: Int, frames: [Int], severity: Finding.Severity, responseName: String, time: CaptureTime?)] = [:]
    private var errorOrder: [ErrorKey] = []
    private var openConnections: Set<Int> = []
    /// The client (by clientID) behind each connection to a broker, and the groups it heartbeats for.
    private var clientOfConnection: ConnectionMap<String> = [:]
    private var groupsOfClient: [String: Set<String>] = [:]
    private var unregistered: Set<String> = []
    private var vanished: Set<String> = []
    /// Members per group (heartbeats minus unregisters and vanishings), for "group not online" after the last left.
    private var liveMembers: [String: Set<String>] = [:]
    private var everMembers: Set<String> = []
    /// Accounts (labels) and the clients that used them.
    private var accounts: [String: Set<String>] = [:]
    private var heartbeatRefusedReported: Set<String> = []
    private var pendingVanish: [String: (finding: Finding, since: CaptureTime)] = [:]
    /// 5.x POP: popped messages awaiting their ack, with the time their invisibility ends.
    struct PopKey: Hashable, Sendable {
        var group: String
        var topic: String
        var queueId: Int32
        var offset: Int64
    }
    struct GroupTopic: Hashable, Comparable, Sendable {
        var group: String
        var topic: String
        static func < (a: GroupTopic, b: GroupTopic) -> Bool { (a.group, a.topic) < (b.group, b.topic) }
    }
    private var popped: [PopKey: (deadline: Int64, frame: Int)] = [:]
    /// Per group and topic: the subscription the broker applies, each member's own, and what the members whose
    /// own differs were answered.
    struct AppliedSubscription: Sendable {
        var expression: String?
        var subVersion: Int64?
        var client: String?
        var since: CaptureTime?
        var changes: [(time: CaptureTime, expression: String, client: String)] = []
        var members: [String: String] = [:]
        var retryImmediately: [String: Int] = [:]
        var delivered: [String: Int] = [:]
        var frames: [Int] = []
        /// Members whose own TAG expression names tags, parsed as the client does (FilterAPI); a member with "*"
        /// filters nothing, and SQL92 is evaluated by the broker only.
        var memberFilters: [String: SubscriptionData] = [:]
        /// Per member, delivered messages whose TAGS its own expression does not match (the client drops them).
        var filtered: [String: Int] = [:]
        /// Per member and queue: the committed offset when it was first delivered messages it drops, and how many.
        var filteredQueues: [FilterKey: (committedAtFirst: Int64?, count: Int)] = [:]
        /// Whether the members subscribe differently.
        var mixed: Bool {
            // Two members with different expressions (no Set built: asked on pull answers).
            guard let first = members.values.first else { return false }
            return members.values.contains { $0 != first }
        }
    }
    struct FilterKey: Hashable, Sendable {
        var client: String
        var queue: QueueKey
    }
    /// Whether some group's members subscribe differently (then pull answers carry their messages' tags).
    private var anyMismatch = false
    /// Findings of one kind that repeat on one queue, grouped into one with a count; emitted at the end.
    struct RepeatKey: Hashable, Sendable {
        var kind: String
        var group: String
        var queue: String
        var client: String
    }
    private var repeats: [RepeatKey: Int] = [:]
    private var repeated: [Finding] = []
    /// Orderly consumers: a client waiting for the lock of a queue it asked to lock, since when; and who holds it.
    struct LockWaitKey: Hashable, Sendable {
        var queue: QueueKey
        var client: String
    }
    private var lockWaits: [LockWaitKey: (since: CaptureTime, last: CaptureTime, frame: Int, holder: String?)] = [:]
    private var lockHolders: [QueueKey: String] = [:]
    private var applied: [GroupTopic: AppliedSubscription] = [:]
    private var appliedOrder: [GroupTopic] = []
    struct LockKey: Hashable, Sendable {
        var group: String
        var client: String
        var queues: [String]
    }
    private var lockRefusals: [LockKey: (count: Int, frames: [Int], time: CaptureTime)] = [:]
    private var lockOrder: [LockKey] = []
    private var poppedQueues: Set<QueueKey> = []
    private var popProblems: [GroupTopic: (neverPopped: Int, late: Int, neverAcked: Int, examplesNP: [MessageOffset], examplesLate: [MessageOffset], frames: [Int], time: CaptureTime)] = [:]
    /// Hand-overs with redelivery, until the previous owner is seen not to come back.
    private var pendingHandOvers: [QueueKey: (finding: Finding, previous: String)] = [:]
    private var handOverOrder: [QueueKey] = []
    /// The latest frame time seen (the end of the run for the lag status).
    public private(set) var lastTime: CaptureTime?
    /// CLUSTERING or BROADCASTING, from heartbeats (broadcast consumers keep offsets locally).
    private var messageModel: [String: String] = [:]
    /// Topics each client subscribes per group, from heartbeats.
    private var subscribedTopics: [GroupMember: [String]] = [:]
    /// The queues a consumer list entitles a client to, per strategy.
    private var expectedShares: [MemberTopic: (time: CaptureTime, frame: Int, shares: [(AllocationStrategy, Set<String>)])] = [:]
    private var expectedOrder: [MemberTopic] = []
    public private(set) var clientsSeen: [String] = []
    /// Queues, clients and heartbeat sources not tracked because `maxTracked` was reached.
    public private(set) var untracked = 0

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        names = NameTable(limit: 3 * configuration.maxTracked)
    }

    // MARK: identification

    /// The label of the client behind an endpoint: its clientID once a heartbeat or unregister told us.
    public func clientLabel(_ endpoint: String) -> String { clientIdByEndpoint[endpoint] ?? endpoint }

    public mutating func connectionOpened(_ id: Int) { openConnections.insert(id) }

    /// A connection ended. A client's broker connection that closes or resets before it unregistered means
    /// the client vanished (crash or kill); the end of a capture or of a live run is not that.
    public mutating func connectionClosed(_ id: Int, reason: String = "closed", time: CaptureTime? = nil, findings: inout [Finding]) {
        openConnections.remove(id)
        guard let client = clientOfConnection.removeValue(forKey: id) else { return }
        let abrupt = (reason.contains("closed") || reason.contains("reset")) && !reason.hasPrefix("end of")
        guard abrupt, !unregistered.contains(client), !vanished.contains(client) else { return }
        // Another live connection of the same client to a broker keeps it alive (a reconnect).
        if clientOfConnection.values.contains(client) { return }
        vanished.insert(client)
        let groups = (groupsOfClient[client] ?? []).sorted()
        var ranges: [UncommittedRange] = []
        var proof: [Int] = []
        for key in sortedQueueKeys() {
            guard let q = progress[key], groups.contains(q.group), q.owner == client,
                  let delivered = q.deliveredTo[client] else { continue }
            let committed = q.committedOffset ?? 0
            if delivered > committed { ranges.append(UncommittedRange(queue: q.ref, deliveredUpTo: delivered, committed: committed)) }
            if let f = q.owners[client]?.frames.last { proof.append(f) }
        }
        // Confirmed once the client stays away for a heartbeat interval (or at the end of the run); a client
        // that comes back (a reconnect) was not gone.
        let finding = Finding(severity: ranges.isEmpty ? .warning : .error,
                              detail: .consumerVanished(client: client, groups: groups, reason: reason, ranges: ranges),
                              frames: frames(proof.sorted()), time: time)
        pendingVanish[client] = (finding, time ?? lastTime ?? CaptureTime(nanoseconds: 0))
    }

    /// Vanishings whose grace period is over become findings; a client seen again is not gone.
    private mutating func settleVanished(seen client: String?, now: CaptureTime, findings: inout [Finding]) {
        if let client, pendingVanish.removeValue(forKey: client) != nil { vanished.remove(client) }
        for (client, p) in pendingVanish where now.nanoseconds - p.since.nanoseconds > configuration.vanishGraceNanos {
            pendingVanish[client] = nil
            confirmVanished(client, p.finding, findings: &findings)
        }
    }

    private mutating func confirmVanished(_ client: String, _ finding: Finding, findings: inout [Finding]) {
        for g in groupsOfClient[client] ?? [] { liveMembers[g]?.remove(client) }
        findings.append(finding)
    }

    public static func phase(requestCode: Int32, topic: String?) -> Phase {
        switch requestCode {
        case RequestCode.getRouteInfoByTopic, RequestCode.getBrokerClusterInfo: return .route
        case RequestCode.heartBeat: return .register
        case RequestCode.getConsumerListByGroup, RequestCode.notifyConsumerIdsChanged, RequestCode.lockBatchMQ,
             RequestCode.unlockBatchMQ, RequestCode.checkClientConfig, RequestCode.queryAssignment, RequestCode.setMessageRequestMode:
            return .rebalance
        case RequestCode.queryConsumerOffset, RequestCode.getMaxOffset, RequestCode.getMinOffset,
             RequestCode.searchOffsetByTimestamp, RequestCode.getEarliestMsgStoretime:
            return .startOffset
        case RequestCode.pullMessage, RequestCode.litePullMessage: return .pull
        case RequestCode.popMessage, RequestCode.peekMessage, RequestCode.notification, RequestCode.pollingInfo: return .pop
        case RequestCode.ackMessage, RequestCode.batchAckMessage: return .ack
        case RequestCode.changeMessageInvisibleTime: return .changeInvisible
        case RequestCode.updateConsumerOffset: return .commit
        case RequestCode.consumerSendMsgBack: return .retry
        case RequestCode.unregisterClient: return .shutdown
        case RequestCode.sendMessage, RequestCode.sendMessageV2, RequestCode.sendBatchMessage, RequestCode.sendReplyMessage,
             RequestCode.sendReplyMessageV2:
            if let t = topic, t.hasPrefix("%RETRY%") { return .retry }
            return .produce
        case RequestCode.endTransaction, RequestCode.checkTransactionState: return .produce
        case RequestCode.registerBroker, RequestCode.unregisterBroker, 904, 905: return .brokerRegistration
        case RequestCode.resetConsumerClientOffset, RequestCode.getConsumerStatusFromClient, RequestCode.getConsumerRunningInfo,
             RequestCode.consumeMessageDirectly, RequestCode.pushReplyMessageToClient:
            return .clientManagement
        default: return .admin
        }
    }

    /// Whether `phase(requestCode:topic:)` reads the topic (send codes: a retry topic makes them retries).
    static func phaseNeedsTopic(_ code: Int32) -> Bool {
        switch code {
        case RequestCode.sendMessage, RequestCode.sendMessageV2, RequestCode.sendBatchMessage, RequestCode.sendReplyMessage,
             RequestCode.sendReplyMessageV2:
            return true
        default:
            return false
        }
    }

    private func brokerLabel(_ address: String) -> String {
        brokerNameByAddress.isEmpty ? address : brokerNameByAddress[address] ?? address
    }


    /// The key of a queue: the names interned. nil (and counted in `untracked`) when the name table is full.
    private mutating func queueKey(group: String, topic: String, broker: String, queueId: Int32) -> QueueKey? {
        guard let g = names.id(group), let t = names.id(topic), let b = names.id(broker) else {
            untracked += 1
            return nil
        }
        return QueueKey(group: g, topic: t, broker: b, queueId: queueId)
    }

    /// The key of a queue a pull (or its answer) on `connection` names, through the connection's latest names.
    private mutating func pullKey(group: String, topic: String, server: String, queueId: Int32, connection: Int) -> QueueKey? {
        let generation = brokerGeneration
        if let k = pullNames.modifyValue(forKey: connection, { c -> QueueKey? in
            c.generation == generation && c.group == group && c.topic == topic && c.server == server ? c.key : nil
        }) ?? nil {
            return QueueKey(group: k.group, topic: k.topic, broker: k.broker, queueId: queueId)
        }
        guard let key = queueKey(group: group, topic: topic, broker: brokerLabel(server), queueId: queueId) else { return nil }
        if pullNames.count < configuration.maxTracked || pullNames[connection] != nil {
            pullNames[connection] = (group, topic, server, generation, key)
        }
        return key
    }

    /// `topic@broker#queueId`.
    private func queueName(_ key: QueueKey) -> String { "\(names[key.topic])@\(names[key.broker])#\(key.queueId)" }

    /// The keys of `progress` by group, topic, broker and queue id (as the names sort).
    private func sortedQueueKeys() -> [QueueKey] {
        progress.keys.sorted { a, b in
            (names[a.group], names[a.topic], names[a.broker], a.queueId) < (names[b.group], names[b.topic], names[b.broker], b.queueId)
        }
    }

    @inline(__always)
    private mutating func withQueue(group: String, topic: String, brokerAddress: String, queueId: Int32, connection: Int? = nil,
                                    _ body: (inout QueueProgress) -> Void) {
        let key = if let connection { pullKey(group: group, topic: topic, server: brokerAddress, queueId: queueId, connection: connection) }
            else { queueKey(group: group, topic: topic, broker: brokerLabel(brokerAddress), queueId: queueId) }
        if let key { withQueue(key, body) }
    }

    /// `withQueue(_:_:)` with the pull's fields handed to `body` borrowed: a closure that captured them would copy
    /// them (two Strings retained and released) on every pull and answer.
    @inline(__always) @discardableResult
    private mutating func withQueue(_ key: QueueKey, passing fields: borrowing PullRequestFields,
                                    _ body: (inout QueueProgress, borrowing PullRequestFields) -> Void) -> Bool {
        withQueue(key) { body(&$0, fields) }
    }

    /// The queue's progress, created when new (unless `maxTracked` queues are tracked already: then counted in
    /// `untracked` and `body` is not called). Returns whether `body` ran.
    @discardableResult
    private mutating func withQueue(_ key: QueueKey, _ body: (inout QueueProgress) -> Void) -> Bool {
        if progress.count >= configuration.maxTracked && progress[key] == nil {
            untracked += 1
            return false
        }
        // In place: a copy of the entry would copy its owners table on every pull. A known queue is found by the
        // borrowed key (`subscript(_:default:)` copied the key, three Strings retained and released, per frame).
        if progress.modifyValue(forKey: key, body) == nil {
            var new = QueueProgress(group: names[key.group], ref: QueueRef(topic: names[key.topic], broker: names[key.broker], queueId: key.queueId),
                                    firstSeen: lastTime)
            body(&new)
            progress[key] = new
        }
        return true
    }

    private func frames(_ f: [Int]) -> [Int] { Array(f.prefix(configuration.maxFramesPerFinding)) }

    // MARK: frames

    /// The allocation a consumer list implies for the client that asked, per subscribed topic with a known
    /// route; remembered to check what the client then pulls.
    private mutating func shares(group: String, client: String, ids: [String], frame: FrameRecord) -> String? {
        guard messageModel[group] != "BROADCASTING", let topics = subscribedTopics[GroupMember(group: group, client: client)] else { return nil }
        var parts: [String] = []
        for topic in topics {
            guard let route = routes[topic] else { continue }
            let queues = route.subscribeQueues(topic: topic)
            let multiBroker = Set(queues.map(\.brokerName)).count > 1
            func text(_ q: [MessageQueue]) -> String {
                q.isEmpty ? "none" : q.map { multiBroker ? "\($0.brokerName)#\($0.queueId)" : "\($0.queueId)" }.joined(separator: ",")
            }
            let avg = AllocationStrategy.averagely.allocate(queues: queues, consumers: ids, current: client)
            let circle = AllocationStrategy.circle.allocate(queues: queues, consumers: ids, current: client)
            parts.append("\(topic)[\(text(avg))]" + (circle == avg ? "" : " (by circle [\(text(circle))])"))
            let key = MemberTopic(group: group, client: client, topic: topic)
            if expectedShares[key] == nil {
                guard expectedOrder.count < configuration.maxTracked else { untracked += 1; continue }
                expectedOrder.append(key)
            }
            expectedShares[key] = (frame.time, frame.index, [(.averagely, Set(avg.map { "\($0.brokerName)#\($0.queueId)" })),
                                                             (.circle, Set(circle.map { "\($0.brokerName)#\($0.queueId)" }))])
        }
        guard !parts.isEmpty else { return nil }
        return ids.contains(client) ? "AVG share of \(client): " + parts.joined(separator: " ")
                                    : "\(client) is not in this list: it gets no queue"
    }

    /// Sets the frame's phase and client and updates the picture; appends findings detected on the way.
    public mutating func observe(_ frame: inout FrameRecord, findings: inout [Finding]) {
        // Read in place: a copy of the command (its view and body) per frame cost more than this stage's lookups.
        let isResponse = frame.command.isResponse
        lastTime = max(lastTime ?? frame.time, frame.time)
        let requestCode = frame.requestCode ?? frame.command.code
        // The request's header only when the phase needs its topic (a copy of the header retains its Strings).
        frame.phase = Self.phase(requestCode: requestCode, topic: Self.phaseNeedsTopic(requestCode) ? frame.requestHeader?.topic : nil)

        // Which endpoint is the client of this exchange.
        let clientEndpoint: String
        let serverEndpoint: String
        if frame.destinationRole == .client {
            clientEndpoint = frame.destination
            serverEndpoint = frame.source
        } else if frame.sourceRole == .client || frame.destinationRole == .broker || frame.destinationRole == .nameServer {
            clientEndpoint = frame.source
            serverEndpoint = frame.destination
        } else {
            clientEndpoint = frame.destination
            serverEndpoint = frame.source
        }

        if !isResponse {
            switch frame.body {
            case .heartbeat(let hb):
                learnClient(hb.clientID, endpoint: clientEndpoint)
                heartbeat(hb, frame: frame, server: serverEndpoint, findings: &findings)
            default: break
            }
            if case .unregisterClient(let h)? = frame.header { learnClient(h.clientID, endpoint: clientEndpoint) }
        }
        let knownID = clientIdByEndpoint.isEmpty ? nil : clientIdByEndpoint[clientEndpoint]
        frame.client = knownID ?? clientEndpoint
        let client = frame.client ?? clientEndpoint
        if !pendingVanish.isEmpty { settleVanished(seen: knownID, now: frame.time, findings: &findings) }
        if let id = knownID, serverEndpoint != clientEndpoint,
           frame.sourceRole == .broker || frame.destinationRole == .broker, clientOfConnection[frame.connection] == nil {
            clientOfConnection[frame.connection] = id
        }
        if let account = frame.account, !isResponse {
            if accounts[account] == nil, accounts.count >= configuration.maxTracked { untracked += 1 } else { accounts[account, default: []].insert(client) }
        }

        if isResponse {
            observeResponse(&frame, requestCode: requestCode, client: client, server: serverEndpoint, findings: &findings)
        } else {
            observeRequest(frame, client: client, server: serverEndpoint, findings: &findings)
        }
    }

    private mutating func learnClient(_ id: String, endpoint: String) {
        if clientIdByEndpoint[endpoint] == nil {
            guard clientIdByEndpoint.count < configuration.maxTracked else { untracked += 1; return }
            clientIdByEndpoint[endpoint] = id
            if !clientsSeen.contains(id) { clientsSeen.append(id) }
        }
    }

    private mutating func heartbeat(_ hb: HeartbeatData, frame: FrameRecord, server: String, findings: inout [Finding]) {
        // Two live connections to one server carrying the same clientID from different client endpoints.
        let key = ClientAtServer(clientID: hb.clientID, server: server)
        if let prev = heartbeatConnections[key], prev.connection != frame.connection, prev.endpoint != frame.source,
           openConnections.contains(prev.connection), !duplicateReported.contains(hb.clientID) {
            duplicateReported.insert(hb.clientID)
            findings.append(Finding(severity: .error,
                                    detail: .duplicateClientID(clientID: hb.clientID, first: prev.endpoint, second: frame.source, server: server),
                                    frames: [prev.frame, frame.index], time: frame.time))
        }
        guard heartbeatConnections.count < configuration.maxTracked || heartbeatConnections[key] != nil else {
            untracked += 1
            return
        }
        heartbeatConnections[key] = (frame.connection, frame.source, frame.index)
        unregistered.remove(hb.clientID)
        vanished.remove(hb.clientID)
        for c in hb.consumerDataSet {
            groupsOfClient[hb.clientID, default: []].insert(c.groupName)
            liveMembers[c.groupName, default: []].insert(hb.clientID)
            everMembers.insert(c.groupName)
            messageModel[c.groupName] = c.messageModel
            subscribedTopics[GroupMember(group: c.groupName, client: hb.clientID)] = c.subscriptionDataSet.map(\.topic)
            // The broker keeps one subscription per group and topic: the newest subVersion wins (4.9.4
            // ConsumerGroupInfo.updateSubscription), and it filters every member's pulls with it.
            for sub in c.subscriptionDataSet where !sub.topic.hasPrefix("%RETRY%") {
                let gt = GroupTopic(group: c.groupName, topic: sub.topic)
                let expr = "\(sub.expressionType) \"\(sub.subString)\""
                var a = applied[gt] ?? AppliedSubscription()
                if a.subVersion == nil || sub.subVersion > a.subVersion! {
                    if a.expression != nil, a.expression != expr { a.changes.append((frame.time, expr, hb.clientID)) }
                    (a.expression, a.subVersion, a.client, a.since) = (expr, sub.subVersion, hb.clientID, frame.time)
                }
                a.members[hb.clientID] = expr
                let isTag = sub.expressionType.isEmpty || sub.expressionType == "TAG"
                let filter = SubscriptionData.tag(topic: sub.topic, expression: sub.subString, subVersion: sub.subVersion)
                a.memberFilters[hb.clientID] = isTag && !filter.tagsSet.isEmpty ? filter : nil
                if a.mixed { anyMismatch = true }
                if applied[gt] == nil { appliedOrder.append(gt) }
                applied[gt] = a
            }
            let subs = c.subscriptionDataSet.map { "\($0.topic) \($0.expressionType) \"\($0.subString)\"" }.sorted()
            var members = subscriptions[c.groupName] ?? [:]
            members[hb.clientID] = (subs, frame.index)
            subscriptions[c.groupName] = members
            let distinct = Set(members.values.map { $0.subs })
            if distinct.count > 1 && !subscriptionMismatchReported.contains(c.groupName) {
                subscriptionMismatchReported.insert(c.groupName)
                findings.append(Finding(severity: .error,
                                        detail: .subscriptionMismatch(group: c.groupName, members: members.mapValues(\.subs)),
                                        frames: frames(members.values.map(\.frame).sorted()), time: frame.time))
            }
        }
    }

    /// Whether the answer to `request` should carry its messages' tags: a pull of a group and topic whose
    /// members subscribe differently (rare: no cost on other pulls).
    public func wantsMessageTags(_ request: RequestRef?) -> Bool {
        guard anyMismatch, let r = request, r.code == RequestCode.pullMessage || r.code == RequestCode.litePullMessage,
              case .pullMessage(let h)? = r.header, let a = applied[GroupTopic(group: h.consumerGroup, topic: h.topic)] else { return false }
        return a.mixed
    }

    /// A finding that may repeat on one queue: the first is kept, later ones add to its count, span and frames.
    private mutating func repeatable(_ f: Finding, group: String, queue: String, client: String = "") {
        let key = RepeatKey(kind: f.kind, group: group, queue: queue, client: client)
        guard let i = repeats[key] else {
            guard repeated.count < configuration.maxTracked else { untracked += 1; return }
            repeats[key] = repeated.count
            repeated.append(f)
            return
        }
        var g = repeated[i]
        g.occurrences += 1
        g.lastTime = f.time
        g.severity = max(g.severity, f.severity)
        for n in f.frames where g.frames.count < configuration.maxFramesPerFinding && !g.frames.contains(n) { g.frames.append(n) }
        if case .stalePull(let group, let q, let c, let owner, let n) = g.detail, case .stalePull(_, _, _, _, let m) = f.detail {
            g.detail = .stalePull(group: group, queue: q, client: c, newOwner: owner, count: n + m)
        }
        repeated[i] = g
    }

    /// The end of a client's wait for a queue's lock: a finding when it lasted beyond the threshold.
    private mutating func endLockWait(_ key: LockWaitKey, at time: CaptureTime, toEnd: Bool, findings: inout [Finding]) {
        guard let w = lockWaits.removeValue(forKey: key), time.nanoseconds - w.since.nanoseconds > configuration.unattendedNanos else { return }
        findings.append(Finding(severity: .warning,
                                detail: .queueLockedOut(group: names[key.queue.group],
                                                        queue: QueueRef(topic: names[key.queue.topic], broker: names[key.queue.broker], queueId: key.queue.queueId),
                                                        client: key.client, holder: w.holder, fromNanos: w.since.nanoseconds,
                                                        untilNanos: time.nanoseconds, toEnd: toEnd, thresholdNanos: configuration.unattendedNanos),
                                frames: [w.frame], time: w.since))
    }

    /// The queue key of a queue named in a lock body, as pulls of it are keyed.
    private mutating func lockQueueKey(group: String, _ mq: MessageQueue, server: String) -> QueueKey? {
        queueKey(group: group, topic: mq.topic, broker: brokerNameByAddress.isEmpty ? brokerLabel(server) : mq.brokerName, queueId: mq.queueId)
    }

    private mutating func observeRequest(_ frame: FrameRecord, client: String, server: String, findings: inout [Finding]) {
        switch frame.header {
        case .updateConsumerOffset(let h)?:
            commit(group: h.consumerGroup, topic: h.topic, broker: server, queueId: h.queueId, offset: h.commitOffset,
                   frame: frame, client: client, findings: &findings)
        case .pullMessage?:
            guard let h = PullRequestFields(frame.header) else { break }
            var handOver: Finding? = nil
            var unattended: Finding? = nil
            let broadcast = messageModel[h.consumerGroup] == "BROADCASTING"
            var committed: Finding? = nil
            let cfg = configuration
            guard let key = pullKey(group: h.consumerGroup, topic: h.topic, server: server, queueId: h.queueId, connection: frame.connection) else { break }
            let tracked = withQueue(key, passing: h) { q, h in
                // Nobody pulling while messages wait.
                if q.pullsInFlight == 0, let since = q.idleSince, let lag = q.lag, lag > 0, !q.idleReported,
                   frame.time.nanoseconds - since.nanoseconds > cfg.unattendedNanos {
                    unattended = Finding(severity: .warning,
                                         detail: .queueUnattended(group: h.consumerGroup, queue: q.ref, fromNanos: since.nanoseconds,
                                                                  untilNanos: frame.time.nanoseconds, toEnd: false, lag: lag,
                                                                  thresholdNanos: cfg.unattendedNanos),
                                         frames: [frame.index], time: since)
                    q.idleReported = true
                }
                // A hand-over: the new owner starts below what the previous one was delivered. (Broadcasting
                // consumers each read every queue: no ownership.)
                if broadcast {
                    q.ownerSince = nil
                } else if let previous = q.owner, previous != client {
                    q.ownerSince = frame.time
                    if let delivered = q.deliveredTo[previous], h.queueOffset < delivered {
                        handOver = Finding(severity: .warning,
                                           detail: .redelivered(group: h.consumerGroup, queue: q.ref, previous: previous, next: client,
                                                                from: h.queueOffset, to: delivered),
                                           frames: [q.owners[previous]?.frames.last, frame.index].compactMap { $0 }, time: frame.time)
                    }
                } else if q.owner == nil {
                    q.ownerSince = frame.time
                }
                q.pullsInFlight += 1
                q.idleSince = nil
                q.pulls += 1
                q.lastPullTime = frame.time
                q.owner = client
                // In place (one lookup, no copy of the entry's frames).
                let frameIndex = frame.index, time = frame.time
                Self.notePull(&q.owners[client, default: (time, time, 0, [])], time: time, frame: frameIndex)
                // The commit the pull carries, on the same entry (as a separate UPDATE_CONSUMER_OFFSET would be).
                if h.sysFlag.contains(.commitOffset) {
                    committed = Self.commit(&q, group: h.consumerGroup, offset: h.commitOffset, frame: frame, client: client)
                }
            }
            if let unattended { findings.append(unattended) }
            if !lockWaits.isEmpty { endLockWait(LockWaitKey(queue: key, client: client), at: frame.time, toEnd: false, findings: &findings) }
            // A hand-over is confirmed when the previous owner does not come back to the queue (if it does, the
            // two pull it at once: a double ownership, reported as such).
            if !pendingHandOvers.isEmpty, let pending = pendingHandOvers[key], pending.previous == client { pendingHandOvers[key] = nil }
            if let handOver, case .redelivered(_, _, let previous, _, _, _) = handOver.detail, pendingHandOvers[key] == nil {
                pendingHandOvers[key] = (handOver, previous)
                if !handOverOrder.contains(key) { handOverOrder.append(key) }
            }
            if h.sysFlag.contains(.commitOffset) {
                // An untracked queue is counted once for the pull and once for its commit, as two lookups would.
                if !tracked { untracked += 1 }
                if let committed { repeatable(committed, group: h.consumerGroup, queue: queueName(key), client: client) }
            }
        case .ackMessage(let h)?:
            ack(group: h.consumerGroup, topic: h.topic, queueId: h.queueId, offset: h.offset, frame: frame)
        case .changeInvisibleTime(let h)?:
            let key = PopKey(group: h.consumerGroup, topic: h.topic, queueId: h.queueId, offset: h.offset)
            if popped[key] != nil { popped[key]!.deadline = frame.time.nanoseconds + h.invisibleTime * 1_000_000 }
        case .unregisterClient(let h)?:
            if let group = h.consumerGroup, !group.isEmpty {
                uncommittedAtShutdown(group: group, client: client, frame: frame, findings: &findings)
                liveMembers[group]?.remove(client)
            }
            unregistered.insert(client)
        default:
            switch frame.body {
            case .lockRequest(let l) where frame.command.code == RequestCode.unlockBatchMQ:
                for mq in l.mqSet {
                    guard let key = lockQueueKey(group: l.consumerGroup, mq, server: server) else { continue }
                    if lockHolders[key] == l.clientId { lockHolders[key] = nil }
                }
            case .batchAck(let b):
                // Acks of the retry topic ("r":"1") name offsets of the group's POP retry topic, not popped here.
                for a in b.acks where a.retry != "1" {
                    for o in a.ackedOffsets { ack(group: a.consumerGroup, topic: a.topic, queueId: a.queueId, offset: o, frame: frame) }
                }
            default:
                break
            }
        }
    }

    private mutating func commit(group: String, topic: String, broker: String, queueId: Int32, offset: Int64,
                                 frame: FrameRecord, client: String, findings: inout [Finding]) {
        var finding: Finding? = nil
        withQueue(group: group, topic: topic, brokerAddress: broker, queueId: queueId) { q in
            finding = Self.commit(&q, group: group, offset: offset, frame: frame, client: client)
        }
        if let finding, case .offsetBackwards(_, let q, _, _, _) = finding.detail {
            repeatable(finding, group: group, queue: q.description, client: client)
        }
    }

    /// A committed offset on a queue's entry; a finding when it went backwards.
    private static func commit(_ q: inout QueueProgress, group: String, offset: Int64, frame: FrameRecord, client: String) -> Finding? {
        var finding: Finding? = nil
        q.lastCommitTime = frame.time
        if let prev = q.committedOffset {
            if offset < prev {
                q.rewound = true
                finding = Finding(severity: .warning,
                                  detail: .offsetBackwards(group: group, queue: q.ref, from: prev, to: offset, client: client),
                                  frames: [q.commitFrame, frame.index].compactMap { $0 }, time: frame.time)
            } else if offset > prev {
                q.lastCommitAdvance = frame.time
            }
        } else {
            q.lastCommitAdvance = frame.time
        }
        q.committedOffset = offset
        q.commitFrame = frame.index
        q.sampleLag()
        return finding
    }

    private static func notePull(_ o: inout (first: CaptureTime, last: CaptureTime, pulls: Int, frames: [Int]), time: CaptureTime, frame: Int) {
        o.last = time
        o.pulls += 1
        if o.frames.count < 3 { o.frames.append(frame) }
    }

    private mutating func uncommittedAtShutdown(group: String, client: String, frame: FrameRecord, findings: inout [Finding]) {
        // Broadcasting consumers store offsets in a local file: nothing is committed on the wire.
        if messageModel[group] == "BROADCASTING" { return }
        var ranges: [UncommittedRange] = []
        var proof: [Int] = [frame.index]
        for key in sortedQueueKeys() {
            guard let q = progress[key], q.group == group, q.owner == client, let delivered = q.deliveredTo[client] else { continue }
            let committed = q.committedOffset ?? 0
            if delivered > committed {
                ranges.append(UncommittedRange(queue: q.ref, deliveredUpTo: delivered, committed: committed))
                if let f = q.commitFrame { proof.append(f) }
            }
        }
        if !ranges.isEmpty {
            findings.append(Finding(severity: .warning, detail: .uncommittedAtShutdown(group: group, client: client, ranges: ranges),
                                    frames: frames(proof), time: frame.time))
        }
    }

    private mutating func noteError(_ key: ErrorKey, severity: Finding.Severity, responseName: String, frame: Int, time: CaptureTime) {
        if errorAnswers[key] == nil {
            errorAnswers[key] = (0, [], severity, responseName, time)
            errorOrder.append(key)
        }
        errorAnswers[key]!.count += 1
        if errorAnswers[key]!.frames.count < configuration.maxFramesPerFinding { errorAnswers[key]!.frames.append(frame) }
    }

    private mutating func observeResponse(_ frame: inout FrameRecord, requestCode: Int32, client: String, server: String,
                                          findings: inout [Finding]) {
        let code = frame.command.code
        var codeName: String { frame.command.codeName }  // only error answers need the name

        // ACL refusals (SYSTEM_ERROR with an AclException text) are their own finding.
        if code == ResponseCode.systemError, let (failure, resource) = AclFailure.classify(remark: frame.command.remark) {
            let account = frame.request?.account
            noteError(.acl(failure: failure, request: requestCode, account: account, resource: resource), severity: .error,
                      responseName: codeName, frame: frame.index, time: frame.time)
            if requestCode == RequestCode.heartBeat, !heartbeatRefusedReported.contains(client) {
                heartbeatRefusedReported.insert(client)
                var groups: [String] = []
                if case .heartbeat(let hb)? = frame.request.map(\.body) { groups = hb.consumerDataSet.map(\.groupName) }
                findings.append(Finding(severity: .error, detail: .heartbeatRefused(client: client, groups: groups, account: account),
                                        frames: [frame.request?.frameIndex, frame.index].compactMap { $0 }, time: frame.time))
                for g in groups { liveMembers[g]?.remove(client) }
            }
            return
        }
        // Error answers that matter for consumption.
        switch code {
        case ResponseCode.subscriptionNotLatest, ResponseCode.noPermission, ResponseCode.systemBusy, ResponseCode.flowControl,
             ResponseCode.subscriptionNotExist, ResponseCode.subscriptionGroupNotExist, ResponseCode.subscriptionParseFailed,
             ResponseCode.systemError, ResponseCode.requestCodeNotSupported, ResponseCode.goAway:
            guard requestCode != RequestCode.getConsumerListByGroup else { break }
            let severity: Finding.Severity = code == ResponseCode.subscriptionNotLatest ? .info : .warning
            noteError(.answer(request: requestCode, response: code), severity: severity, responseName: codeName, frame: frame.index,
                      time: frame.time)
        default:
            break
        }

        switch requestCode {
        case RequestCode.getRouteInfoByTopic:
            let topic = frame.request?.header?.topic ?? "?"
            if code == ResponseCode.topicNotExist {
                let retry = topic.hasPrefix("%RETRY%") || topic.hasPrefix("%DLQ%")
                noteError(.noRoute(topic: topic), severity: retry ? .info : .error, responseName: codeName, frame: frame.index,
                          time: frame.time)
            }
            if case .route(let route) = frame.body {
                routes[topic] = route
                for b in route.brokerDatas {
                    for a in b.brokerAddrs where brokerNameByAddress[a.address] != b.brokerName {
                        brokerNameByAddress[a.address] = b.brokerName
                        brokerGeneration += 1
                    }
                }
            }
        case RequestCode.getConsumerListByGroup:
            let group = frame.request?.header?.group ?? "?"
            if case .consumerIds(let ids) = frame.body {
                consumerLists[group] = ids
                frame.annotation = shares(group: group, client: client, ids: ids, frame: frame)
            }
            if code != ResponseCode.success {
                let emptied = everMembers.contains(group) && (liveMembers[group]?.isEmpty ?? true)
                findings.append(Finding(severity: emptied ? .info : .error,
                                        detail: .groupNotOnline(group: group, broker: server, response: codeName, remark: frame.command.remark),
                                        frames: [frame.request?.frameIndex, frame.index].compactMap { $0 }, time: frame.time))
            }
        case RequestCode.pullMessage, RequestCode.litePullMessage:
            guard let request = frame.request, let req = PullRequestFields(request.header) else { break }
            // `anyMismatch` first: no group's members differ in most captures, and then no entry is copied here.
            if anyMismatch, case let gt = GroupTopic(group: req.consumerGroup, topic: req.topic), var a = applied[gt], a.mixed, let own = a.members[client], own != a.expression {
                if code == ResponseCode.pullRetryImmediately { a.retryImmediately[client, default: 0] += 1 }
                if code == ResponseCode.success, case .messages(let n, _, _, _) = frame.body { a.delivered[client, default: 0] += n }
                if code == ResponseCode.success, let tags = frame.messageTags {
                    // As the Java client's processPullResult: a message is kept when its TAGS is one of the member's.
                    let dropped = a.memberFilters[client].map { f in tags.reduce(0) { $0 + (f.accepts(tag: $1) ? 0 : 1) } } ?? 0
                    a.filtered[client, default: 0] += dropped
                    if dropped > 0, let qk = pullKey(group: req.consumerGroup, topic: req.topic, server: server, queueId: req.queueId, connection: frame.connection) {
                        let fk = FilterKey(client: client, queue: qk)
                        if a.filteredQueues[fk] == nil { a.filteredQueues[fk] = (progress[qk]?.committedOffset, 0) }
                        a.filteredQueues[fk]!.count += dropped
                    }
                }
                if a.frames.count < configuration.maxFramesPerFinding { a.frames.append(frame.index) }
                applied[gt] = a
            }
            if let latency = frame.latencyNanos, latency >= configuration.clientPullTimeoutNanos {
                repeatable(Finding(severity: .warning,
                                   detail: .longPollTimeout(group: req.consumerGroup, topic: req.topic, queueId: req.queueId,
                                                            latencyNanos: latency, timeoutNanos: configuration.clientPullTimeoutNanos),
                                   frames: [frame.request?.frameIndex, frame.index].compactMap { $0 }, time: frame.time),
                           group: req.consumerGroup, queue: "\(req.topic)@\(brokerLabel(server))#\(req.queueId)")
            }
            var stale: Finding? = nil
            guard case .pullMessageResponse(let resp)? = frame.header else {
                withQueue(group: req.consumerGroup, topic: req.topic, brokerAddress: server, queueId: req.queueId, connection: frame.connection) { q in
                    q.pullsInFlight = max(0, q.pullsInFlight - 1)
                    if q.pullsInFlight == 0 { q.idleSince = frame.time }
                }
                break
            }
            var stuck: Finding? = nil
            let cfg = configuration
            let requestTime = frame.request?.time
            let broadcastGroup = messageModel[req.consumerGroup] == "BROADCASTING"
            let maxOffset = resp.maxOffset, nextBeginOffset = resp.nextBeginOffset
            // (An untracked queue, nil: the findings below are still made.)
            let queue = pullKey(group: req.consumerGroup, topic: req.topic, server: server, queueId: req.queueId, connection: frame.connection)
            if let queue {
                withQueue(queue, passing: req) { q, req in
                    q.pullsInFlight = max(0, q.pullsInFlight - 1)
                    if q.pullsInFlight == 0 { q.idleSince = frame.time }
                    q.brokerMaxOffset = maxOffset
                    q.sampleLag()
                    var n = 0
                    if case .messages(let count, _, _, _) = frame.body { n = count }
                    // A long poll of the previous owner answered after the queue moved on.
                    if code == ResponseCode.success, !broadcastGroup, let owner = q.owner, owner != client,
                       let since = q.ownerSince,
                       let sent = requestTime, sent < since {
                        if n > 0 {
                            stale = Finding(severity: .info,
                                            detail: .stalePull(group: req.consumerGroup, queue: q.ref, client: client, newOwner: owner, count: n),
                                            frames: [frame.request?.frameIndex, frame.index].compactMap { $0 }, time: frame.time)
                        }
                        return
                    }
                    if code == ResponseCode.success {
                        q.messages += n
                        q.deliveredOffset = max(q.deliveredOffset ?? 0, nextBeginOffset)
                        q.deliveredTo[client] = max(q.deliveredTo[client] ?? 0, nextBeginOffset)
                        // The stall is timed from the first delivery past the committed offset since the last commit
                        // advance: a queue nobody consumed for a while (between a shutdown and a restart) is not stuck.
                        if let c = q.committedOffset, nextBeginOffset > c, q.uncommittedSince == nil { q.uncommittedSince = frame.time }
                        if let c = q.committedOffset, let since = q.uncommittedSince, !q.stuckReported,
                           nextBeginOffset > c, frame.time.nanoseconds - since.nanoseconds > cfg.stuckCommitNanos {
                            q.stuckReported = true
                            stuck = Finding(severity: .warning,
                                            detail: .offsetStuck(group: req.consumerGroup, queue: q.ref, committed: c,
                                                                 forNanos: frame.time.nanoseconds - since.nanoseconds,
                                                                 deliveredUpTo: nextBeginOffset),
                                            frames: [q.commitFrame, frame.index].compactMap { $0 }, time: frame.time)
                        }
                    }
                }
            }
            if let stuck { findings.append(stuck) }
            // Built only for a finding: a String per pull answer would cost an allocation on the hot path.
            var queueName: String { "\(req.topic)@\(brokerLabel(server))#\(req.queueId)" }
            if let stale { repeatable(stale, group: req.consumerGroup, queue: queueName, client: client) }
            if code == ResponseCode.pullOffsetMoved {
                repeatable(Finding(severity: .warning,
                                   detail: .offsetMoved(group: req.consumerGroup, topic: req.topic, queueId: req.queueId,
                                                        remark: frame.command.remark ?? "", requested: req.queueOffset,
                                                        minOffset: resp.minOffset, maxOffset: resp.maxOffset, next: resp.nextBeginOffset),
                                   frames: [frame.request?.frameIndex, frame.index].compactMap { $0 }, time: frame.time),
                           group: req.consumerGroup, queue: queueName)
            }
        case RequestCode.lockBatchMQ:
            guard code == ResponseCode.success, case .lockRequest(let asked)? = frame.request?.body else { break }
            var granted: Set<MessageQueue> = []
            if case .lockedQueues(let q) = frame.body { granted = Set(q) }
            for mq in asked.mqSet {
                guard let queue = lockQueueKey(group: asked.consumerGroup, mq, server: server) else { continue }
                let key = LockWaitKey(queue: queue, client: asked.clientId)
                if granted.contains(mq) {
                    lockHolders[key.queue] = asked.clientId
                    endLockWait(key, at: frame.time, toEnd: false, findings: &findings)
                } else {
                    // Who held it when it was refused: the last client granted it, else the one pulling it.
                    let holder = lockHolders[key.queue].flatMap { $0 == asked.clientId ? nil : $0 }
                        ?? progress[key.queue]?.owner.flatMap { $0 == asked.clientId ? nil : $0 }
                    if lockWaits[key] != nil {
                        lockWaits[key]!.last = frame.time
                        if let holder { lockWaits[key]!.holder = holder }
                    } else if lockWaits.count < configuration.maxTracked {
                        lockWaits[key] = (frame.time, frame.time, frame.index, holder)
                    }
                }
            }
            let refused = asked.mqSet.filter { !granted.contains($0) }.map { "\($0.topic)@\($0.brokerName)#\($0.queueId)" }.sorted()
            guard !refused.isEmpty else { break }
            let key = LockKey(group: asked.consumerGroup, client: asked.clientId, queues: refused)
            if lockRefusals[key] == nil { lockOrder.append(key) }
            var e = lockRefusals[key] ?? (0, [], frame.time)
            e.count += 1
            if e.frames.count < configuration.maxFramesPerFinding { e.frames.append(frame.index) }
            lockRefusals[key] = e
        case RequestCode.popMessage:
            guard code == ResponseCode.success, case .popMessage(let req)? = frame.request?.header, case .popMessageResponse(let resp)? = frame.header,
                  let offsets = frame.messageOffsets else { break }
            let deadline = frame.time.nanoseconds + resp.invisibleTime * 1_000_000
            for m in offsets {
                let key = PopKey(group: req.consumerGroup, topic: req.topic, queueId: m.queueId, offset: m.offset)
                guard popped.count < configuration.maxTracked || popped[key] != nil else { untracked += 1; continue }
                popped[key] = (deadline, frame.index)
                if let q = queueKey(group: req.consumerGroup, topic: req.topic, broker: "", queueId: m.queueId) { poppedQueues.insert(q) }
            }
        case RequestCode.queryAssignment:
            if case .assignments(let a) = frame.body {
                let modes = Set(a.map(\.mode))
                frame.annotation = "the broker assigns \(client) \(a.count) queue\(a.count == 1 ? "" : "s")"
                    + (a.isEmpty ? " (none: it consumes nothing until the next rebalance)" : " to read by \(modes.sorted().joined(separator: " and "))")
            }
        case RequestCode.queryConsumerOffset:
            if case .queryConsumerOffset(let req)? = frame.request?.header, case .offsetResponse(let r)? = frame.header {
                withQueue(group: req.consumerGroup, topic: req.topic, brokerAddress: server, queueId: req.queueId) { q in
                    if q.committedOffset == nil {
                        q.committedOffset = r.offset
                        q.lastCommitAdvance = frame.time
                        q.sampleLag()
                    }
                }
            }
        default:
            break
        }
    }


    /// An ACK_MESSAGE: the popped message it acks, on time or late; or an offset never popped here.
    private mutating func ack(group: String, topic: String, queueId: Int32, offset: Int64, frame: FrameRecord) {
        let key = PopKey(group: group, topic: topic, queueId: queueId, offset: offset)
        let gt = GroupTopic(group: group, topic: topic)
        func note(_ body: (inout (neverPopped: Int, late: Int, neverAcked: Int, examplesNP: [MessageOffset], examplesLate: [MessageOffset], frames: [Int], time: CaptureTime)) -> Void) {
            var p = popProblems[gt] ?? (0, 0, 0, [], [], [], frame.time)
            body(&p)
            if p.frames.count < configuration.maxFramesPerFinding { p.frames.append(frame.index) }
            popProblems[gt] = p
        }
        if let p = popped.removeValue(forKey: key) {
            if frame.time.nanoseconds > p.deadline {
                note { $0.late += 1; if $0.examplesLate.count < 5 { $0.examplesLate.append(MessageOffset(queueId: queueId, offset: offset)) } }
            }
        } else if let q = queueKey(group: group, topic: topic, broker: "", queueId: queueId), poppedQueues.contains(q) {
            note { $0.neverPopped += 1; if $0.examplesNP.count < 5 { $0.examplesNP.append(MessageOffset(queueId: queueId, offset: offset)) } }
        }
    }

    // MARK: end

    /// Findings that need the whole capture: double or missing queue ownership, aggregated error answers.
    public mutating func finish(findings: inout [Finding]) {
        findings.append(contentsOf: repeated)
        repeated.removeAll()
        repeats.removeAll()
        if let end = lastTime {
            // A client that stopped asking (the queue left its allocation) stopped waiting at its last ask; the
            // Java client asks again for every owned queue every 20 s (lockAll).
            for key in lockWaits.keys.sorted(by: { (lockWaits[$0]!.since, $0.client) < (lockWaits[$1]!.since, $1.client) }) {
                let last = lockWaits[key]!.last
                let gaveUp = end.nanoseconds - last.nanoseconds > configuration.lockAskGapNanos
                endLockWait(key, at: gaveUp ? last : end, toEnd: !gaveUp, findings: &findings)
            }
        }
        // Queues pulled by two clients of one group at the same time.
        for key in sortedQueueKeys() {
            guard let q = progress[key], q.owners.count > 1, messageModel[q.group] != "BROADCASTING" else { continue }
            let owners = q.owners.sorted { $0.key < $1.key }
            for i in 0..<owners.count {
                for j in (i + 1)..<owners.count {
                    let a = owners[i], b = owners[j]
                    let overlap = min(a.value.last.nanoseconds, b.value.last.nanoseconds) - max(a.value.first.nanoseconds, b.value.first.nanoseconds)
                    if overlap > configuration.doubleOwnershipNanos {
                        findings.append(Finding(severity: .error,
                                                detail: .queueDoubleOwner(group: q.group, queue: q.ref, clients: [a.key, b.key], overlapNanos: overlap),
                                                frames: frames(a.value.frames + b.value.frames), time: nil))
                    }
                }
            }
        }
        // Clients pulling queues that their last consumer list does not give them under either strategy.
        for key in expectedOrder {
            guard let e = expectedShares[key] else { continue }
            let (group, client, topic) = (key.group, key.client, key.topic)
            var pulled: [String] = []
            var proof: [Int] = [e.frame]
            for q in progress.values where q.group == group && q.topic == topic {
                if let o = q.owners[client], o.last > e.time {
                    pulled.append("\(q.broker)#\(q.queueId)")
                    proof += o.frames.suffix(1)
                }
            }
            guard !pulled.isEmpty, e.shares.allSatisfy({ !Set(pulled).isSubset(of: $0.1) }) else { continue }
            let avg = e.shares.first { $0.0 == .averagely }?.1 ?? []
            let extra = Set(pulled).subtracting(avg).sorted()
            findings.append(Finding(severity: .warning,
                                    detail: .allocationMismatch(group: group, topic: topic, client: client, extra: extra, averageShare: avg.sorted()),
                                    frames: frames(proof.sorted()), time: nil))
        }
        // Queues of a subscribed topic that no client of the group pulls.
        var groupsByTopic: [String: Set<String>] = [:]
        for q in progress.values { groupsByTopic[q.topic, default: []].insert(q.group) }
        for topic in groupsByTopic.keys.sorted() {
            guard let route = routes[topic] else { continue }
            // Only groups seen registering as consumers divide a topic's queues among them (a lite pull consumer
            // in assign mode reads the queues it chose).
            for group in groupsByTopic[topic]!.sorted() where everMembers.contains(group) {
                let pulled = Set(progress.values.filter { $0.group == group && $0.topic == topic && $0.pulls > 0 }.map { "\($0.broker)#\($0.queueId)" })
                let missing = route.subscribeQueues(topic: topic).filter { !pulled.contains("\($0.brokerName)#\($0.queueId)") }
                if !missing.isEmpty && !pulled.isEmpty {
                    findings.append(Finding(severity: .warning,
                                            detail: .queueUnowned(group: group, topic: topic, queues: missing.map { "\($0.brokerName)#\($0.queueId)" }),
                                            frames: [], time: nil))
                }
            }
        }
        for gt in appliedOrder {
            guard let a = applied[gt], a.mixed, let expression = a.expression, let by = a.client else { continue }
            let others = a.members.filter { $0.value != expression }
            var held: [FilteredQueue] = []
            for (fk, e) in a.filteredQueues {
                guard let first = e.committedAtFirst, let q = progress[fk.queue], q.committedOffset == first else { continue }
                held.append(FilteredQueue(client: fk.client, queue: q.ref, committed: first, filtered: e.count))
            }
            held.sort { ($0.client, $0.queue.topic, $0.queue.broker, $0.queue.queueId) < ($1.client, $1.queue.topic, $1.queue.broker, $1.queue.queueId) }
            findings.append(Finding(severity: .error,
                                    detail: .subscriptionApplied(group: gt.group, topic: gt.topic, expression: expression, by: by,
                                                                 changes: a.changes.count, others: others,
                                                                 retryImmediately: a.retryImmediately, delivered: a.delivered,
                                                                 filtered: a.filtered, held: held),
                                    frames: a.frames, time: a.since))
        }
        for key in lockOrder {
            guard let e = lockRefusals[key] else { continue }
            findings.append(Finding(severity: .warning, detail: .lockNotGranted(group: key.group, client: key.client, queues: key.queues, count: e.count),
                                    frames: e.frames, time: e.time))
        }
        // POP: popped messages whose invisible time ran out with no ack by the end.
        if let end = lastTime {
            for (key, p) in popped where p.deadline < end.nanoseconds {
                let gt = GroupTopic(group: key.group, topic: key.topic)
                var e = popProblems[gt] ?? (0, 0, 0, [], [], [], end)
                e.neverAcked += 1
                if e.examplesLate.count < 5 { e.examplesLate.append(MessageOffset(queueId: key.queueId, offset: key.offset)) }
                if e.frames.count < configuration.maxFramesPerFinding, !e.frames.contains(p.frame) { e.frames.append(p.frame) }
                popProblems[gt] = e
            }
        }
        for gt in popProblems.keys.sorted() {
            let p = popProblems[gt]!
            if p.neverPopped > 0 {
                findings.append(Finding(severity: .warning, detail: .ackNeverPopped(group: gt.group, topic: gt.topic, count: p.neverPopped, examples: p.examplesNP),
                                        frames: p.frames.sorted(), time: p.time))
            }
            if p.late + p.neverAcked > 0 {
                findings.append(Finding(severity: .warning,
                                        detail: .invisibleTimeExpired(group: gt.group, topic: gt.topic, ackedLate: p.late, neverAcked: p.neverAcked,
                                                                      examples: p.examplesLate.sorted { ($0.queueId, $0.offset) < ($1.queueId, $1.offset) }),
                                        frames: p.frames.sorted(), time: p.time))
            }
        }
        for (client, p) in pendingVanish.sorted(by: { $0.value.since < $1.value.since }) { confirmVanished(client, p.finding, findings: &findings) }
        pendingVanish.removeAll()
        for key in handOverOrder { if let p = pendingHandOvers[key] { findings.append(p.finding) } }
        // Queues left unattended to the end, and the lag status of every queue.
        let end = lastTime
        for key in sortedQueueKeys() {
            guard var q = progress[key] else { continue }
            if let end, q.pullsInFlight == 0, let since = q.idleSince, let lag = q.lag, lag > 0, !q.idleReported,
               end.nanoseconds - since.nanoseconds > configuration.unattendedNanos {
                findings.append(Finding(severity: .warning,
                                        detail: .queueUnattended(group: q.group, queue: q.ref, fromNanos: since.nanoseconds, untilNanos: end.nanoseconds,
                                                                 toEnd: true,
                                                                 lag: lag, thresholdNanos: configuration.unattendedNanos),
                                        frames: [], time: since))
            }
            q.status = Self.status(q, end: end, window: configuration.lagWindowNanos)
            progress[key] = q
        }
        // The strategy each group is seen to use.
        inferAllocation(findings: &findings)
        if !accounts.isEmpty {
            findings.append(Finding(severity: .info, detail: .signedTraffic(accounts: accounts.mapValues { $0.sorted() }), frames: [], time: nil))
        }
        for key in errorOrder {
            guard let e = errorAnswers[key] else { continue }
            let detail: FindingDetail
            switch key {
            case .answer(let request, let response):
                detail = .errorAnswer(request: request, response: response, responseName: e.responseName, count: e.count)
            case .noRoute(let topic):
                detail = .noRoute(topic: topic, count: e.count)
                // A topic that got its route later (auto-created by its first send) was only missing for a while.
                if routes[topic] != nil, !topic.hasPrefix("%RETRY%"), !topic.hasPrefix("%DLQ%") {
                    findings.append(Finding(severity: .info, detail: .noRouteAtFirst(topic: topic, count: e.count), frames: e.frames, time: e.time))
                    continue
                }
            case .acl(let failure, let request, let account, let resource):
                detail = .aclDenied(failure: failure, request: request, account: account, resource: resource, count: e.count)
            }
            findings.append(Finding(severity: e.severity, detail: detail, frames: e.frames, time: e.time))
        }
    }

    /// Burrow's evaluation of a queue's consumer lag over the run (linkedin/Burrow's rules, on what a capture
    /// shows): REWIND when the committed offset went back; STOP when lag is above zero and neither a commit nor
    /// a pull happened in the last window; STALL when lag is above zero and commits stopped in the window while
    /// pulls went on; WARN when lag grew over the run and never fell; OK otherwise.
    static func status(_ q: QueueProgress, end: CaptureTime?, window: Int64) -> LagStatus {
        if q.rewound { return .rewind }
        guard let lag = q.lagLast, lag > 0 else { return .ok }
        if let end {
            // A run shorter than two windows is judged on its second half.
            let observed = end.nanoseconds - (q.firstSeen?.nanoseconds ?? end.nanoseconds)
            let start = end.nanoseconds - min(window, max(observed / 2, 1))
            let committedInWindow = (q.lastCommitAdvance?.nanoseconds ?? Int64.min) >= start
            let pulledInWindow = (q.lastPullTime?.nanoseconds ?? Int64.min) >= start || q.pullsInFlight > 0
            if !committedInWindow && !pulledInWindow { return .stop }
            if !committedInWindow && q.committedOffset != nil && (q.lastCommitAdvance?.nanoseconds ?? Int64.min) < start
                && (q.firstSeen?.nanoseconds ?? end.nanoseconds) < start { return .stall }
        }
        if let first = q.lagFirst, lag > first, q.lagNeverFell { return .warn }
        return .ok
    }

    /// Per group, the strategy under which every client's pulls (after its last consumer list) fit its share.
    private func inferAllocation(findings: inout [Finding]) {
        var byGroup: [String: [MemberTopic]] = [:]
        for key in expectedOrder { byGroup[key.group, default: []].append(key) }
        for group in byGroup.keys.sorted() {
            var fits: [AllocationStrategy: Bool] = [.averagely: true, .circle: true]
            var clients: Set<String> = []
            var any = false
            for key in byGroup[group]! {
                guard let e = expectedShares[key] else { continue }
                let pulled = Set(progress.values.filter { $0.group == group && $0.topic == key.topic }
                    .compactMap { q -> String? in
                        guard let o = q.owners[key.client], o.last > e.time else { return nil }
                        return "\(q.broker)#\(q.queueId)"
                    })
                guard !pulled.isEmpty else { continue }
                any = true
                clients.insert(key.client)
                for (strategy, share) in e.shares where !pulled.isSubset(of: share) { fits[strategy] = false }
            }
            guard any, clients.count > 1 else { continue }
            let avg = fits[.averagely] ?? false, circle = fits[.circle] ?? false
            guard avg != circle else { continue }  // both (the shares coincide) or neither (a mismatch, reported)
            findings.append(Finding(severity: .info,
                                    detail: .allocationInferred(group: group, strategy: avg ? "AVG" : "AVG_BY_CIRCLE", clients: clients.count),
                                    frames: [], time: nil))
        }
    }

    /// The consumer-progress table, sorted by group and queue.
    public var lagTable: [QueueProgress] {
        progress.values.sorted { ($0.group, $0.topic, $0.broker, $0.queueId) < ($1.group, $1.topic, $1.broker, $1.queueId) }
    }
}

/// A queue's consumer-lag status (linkedin/Burrow's names).
public enum LagStatus: String, Sendable {
    case ok = "OK"
    case warn = "WARN"
    case stall = "STALL"
    case stop = "STOP"
    case rewind = "REWIND"
}

/// The fields of a PULL_MESSAGE request header that the analyzer reads, taken out of the header once.
/// Bound as `case .pullMessage(let h)` and captured by the closures that update a queue, the whole header was
/// copied, twice per request and twice per answer: each copy retains its Strings (group, topic, subscription,
/// expression type, the extra keys) and each destruction releases them, atomic operations that were a tenth of
/// the reference counting of an idle group's decode.
struct PullRequestFields {
    let consumerGroup: String
    let topic: String
    let queueId: Int32
    let queueOffset: Int64
    let sysFlag: PullSysFlag
    let commitOffset: Int64

    @inline(__always)
    init?(_ header: TypedHeader?) {
        guard case .pullMessage(let h)? = header else { return nil }
        consumerGroup = h.consumerGroup
        topic = h.topic
        queueId = h.queueId
        queueOffset = h.queueOffset
        sysFlag = h.sysFlag
        commitOffset = h.commitOffset
    }
}
