import NIOCore
import RocketMQRemoting

/// A concurrent push consumer of the RocketMQ 4.9 Java client (PROTOCOL.md 7.3) as a plain value: inputs
/// (start, clock ticks, answers, failures, broker requests, consumption outcomes, shutdown) go in, and each
/// returns the actions to carry out, in order. It does no I/O and reads no clock.
///
/// The driver owns connections, timers and the consume pool:
/// * `.send` → write the command to the address, then call `received(response:for:now:)` with the answer
///   (paired by the command's `opaque`) or `requestFailed(_:reason:now:)` after the timeout;
/// * `.sendOneway` / `.respond` → write the command;
/// * `.schedule(timer, after:)` → call `tick(timer, now:)` once after that delay;
/// * `.deliver` → run the listener, then call `consumed(_:status:now:)`;
/// * `connectionClosed(_:now:)` fails every request pending on that address (the driver need not report
///   them again; reports for unknown request ids are ignored).
///
/// Offsets: a queue's committable offset is the lowest offset still being consumed, or one past the highest
/// delivered offset when none is (Java `ProcessQueue.removeMessage`); it only ever moves forward, and it is
/// what UPDATE_CONSUMER_OFFSET, the pull's `commitOffset` and `.persistLocalOffsets` carry. So nothing
/// unprocessed is committed, and shutdown waits for delivered messages before its last persist.
///
/// Where this differs from the Java 4.9 client (on purpose, or not done):
/// * the first rebalance runs once the start-up heartbeats are answered (Java wakes it at once);
/// * GET_CONSUMER_LIST_BY_GROUP goes to the topic's brokers in turn, not at random (deterministic);
/// * a failed CONSUMER_SEND_MSG_BACK is redelivered locally after `localRedeliveryDelay`; Java first tries to
///   publish the retry copy itself (SEND_MESSAGE_V2 to `%RETRY%group` through its inner producer);
/// * a queue whose offset is unknown in memory pulls with commitOffset 0; Java asks the broker again
///   (QUERY_CONSUMER_OFFSET) before each such pull;
/// * RESET_CONSUMER_CLIENT_OFFSET applies at once (Java waits 10 s); no `jstack` in running info, and its
///   TPS/RT figures are zero; TAG expressions only.
public struct PushConsumerStateMachine: Sendable {
    public typealias Configuration = ConsumerConfiguration
    public typealias Action = ConsumerAction

    /// The inner producer every Java client instance registers (and unregisters at shutdown).
    public static let innerProducerGroup = "CLIENT_INNER_PRODUCER"

    public enum Phase: Hashable, Sendable {
        /// Not started.
        case idle
        /// Waiting for the first route answers and the first heartbeat round.
        case starting
        case running
        /// Shutdown: waiting for in-flight consumption and send-backs.
        case drainingConsumption
        /// Shutdown: offsets persisted, waiting for UNREGISTER_CLIENT answers.
        case unregistering
        case finished
    }

    public let configuration: Configuration
    /// `clientIP@instanceName`, fixed at creation (PROTOCOL.md 7.2).
    public let clientID: String
    public private(set) var phase: Phase = .idle

    // Requests in flight.
    private enum PendingKind: Hashable {
        case route(topic: String, attempt: Int)
        case heartbeat
        case consumerList(topic: String, round: UInt64)
        case queryOffset(MessageQueue, round: UInt64)
        case maxOffset(MessageQueue, round: UInt64)
        case searchOffset(MessageQueue, round: UInt64)
        case pull(MessageQueue, generation: UInt64)
        /// `expired`: sent because the listener held the message past `consumeTimeout`.
        case sendBack(MessageQueue, generation: UInt64, offset: Int64, expired: Bool)
        case unregister
    }
    private struct Pending: Hashable {
        var kind: PendingKind
        var address: Address
    }
    private var pending: [RequestID: Pending] = [:]
    private var nextRequest: UInt64 = 1

    // Routes.
    private var nameServerIndex = 0
    private var routes: [String: TopicRouteData] = [:]
    /// broker name → broker id → address, over every known route.
    public private(set) var brokerAddresses: [String: [Int64: Address]] = [:]
    /// Readable queues per subscribed topic.
    public private(set) var topicQueues: [String: [MessageQueue]] = [:]
    private var startupRoutesPending: Set<RequestID> = []
    private var startupHeartbeatsPending: Set<RequestID>? = nil

    // Subscriptions.
    public private(set) var subVersions: [String: Int64] = [:] { didSet { subscriptions = makeSubscriptions() } }
    /// The subscriptions as the heartbeat carries them: made again when a subVersion changes, not on each
    /// pull and each pull answer that reads them (two SubscriptionData, their tag sets and Strings each time).
    public private(set) var subscriptions: [SubscriptionData] = []
    /// First pulls of newly assigned queues, held until every heartbeat carrying the new subVersion is answered:
    /// the real broker serves heartbeats and pulls on separate thread pools, so a pull sent right behind the
    /// heartbeat can overtake it and be answered SUBSCRIPTION_NOT_LATEST (a second lost before pulling again).
    struct AwaitedPulls: Sendable {
        var heartbeats: Set<RequestID>
        var queues: [MessageQueue]
    }
    private var firstPullsAwaiting: [AwaitedPulls] = []
    private var startedAt = Timestamp(millisecondsSinceEpoch: 0)

    // Rebalance.
    private struct Round {
        var id: UInt64
        var changed: Bool
        var lookups: Set<MessageQueue>
        var resolved: [MessageQueue: (start: Int64, stored: Int64?)]
    }
    private var rounds: [String: Round] = [:]
    private var nextRound: UInt64 = 1
    private var consumerListInFlight: [String: UInt64] = [:]
    private var rebalanceAgain: Set<String> = []
    private var rebalanceBrokerCursor = 0

    // Queues.
    struct QueueState: Hashable {
        var generation: UInt64
        var nextOffset: Int64
        var processQueue = ProcessQueue()
        /// The in-memory committable offset (Java's `offsetTable`); nil until known.
        var committedOffset: Int64?
        var pullInFlight: RequestID?
        var pullScheduled = false
        var suggestedBrokerID: Int64 = 0
        /// PULL_OFFSET_MOVED seen: no more pulls, consumption results ignored, removed after the delay.
        var movedTo: Int64?
        var sendBacks: Set<Int64> = []
        var redeliveries: [Int64] = []
        var redeliveryScheduled = false
        var lastPull: Int64 = 0
        var lastConsume: Int64 = 0
    }
    private(set) var queues: [MessageQueue: QueueState] = [:]
    private var nextGeneration: UInt64 = 1
    /// Broadcasting mode: every offset known locally, kept after a queue is removed (as the local file is).
    public private(set) var localOffsets: [MessageQueue: Int64] = [:]
    private var consumeFailedCount: [String: Int64] = [:]

    // Broker-initiated CONSUME_MESSAGE_DIRECTLY.
    private var directRequests: [DirectConsumeID: (address: Address, request: RemotingCommand)] = [:]
    private var nextDirect: UInt64 = 1

    // Shutdown.
    private var report = ShutdownReport()
    private var unregisterPending: Set<RequestID> = []

    public init(configuration: Configuration) {
        self.configuration = configuration
        self.clientID = configuration.clientID
        self.localOffsets = configuration.initialLocalOffsets
        subscriptions = makeSubscriptions()
    }

    // MARK: - Introspection

    /// The queues currently assigned to this client, sorted.
    public var assignedQueues: [MessageQueue] { queues.keys.sorted() }
    /// The committable offset of a queue (nil when unknown or not assigned).
    public func committedOffset(of queue: MessageQueue) -> Int64? { queues[queue]?.committedOffset }
    /// The offset the next pull of a queue asks for.
    public func nextPullOffset(of queue: MessageQueue) -> Int64? { queues[queue]?.nextOffset }
    /// Offsets delivered and not finished, per queue.
    public func inFlightOffsets(of queue: MessageQueue) -> [Int64] { queues[queue]?.processQueue.offsets ?? [] }
    private func makeSubscriptions() -> [SubscriptionData] {
        configuration.subscribedTopics.map { topic in
            SubscriptionData.tag(topic: topic, expression: topic == configuration.topic ? configuration.subscriptionExpression : "*",
                                 subVersion: subVersions[topic] ?? startedAt.millisecondsSinceEpoch)
        }
    }
    /// The HEART_BEAT body.
    public var heartbeatData: HeartbeatData {
        let consumer = ConsumerData(groupName: configuration.group, consumeType: "CONSUME_PASSIVELY",
                                    messageModel: configuration.messageModel.rawValue,
                                    consumeFromWhere: configuration.consumeFrom.javaName, subscriptionDataSet: subscriptions)
        return HeartbeatData(clientID: clientID, consumerDataSet: [consumer], producerGroups: [Self.innerProducerGroup])
    }
    /// Every broker address in the broker table, sorted.
    public var allBrokerAddresses: [Address] {
        Set(brokerAddresses.values.flatMap(\.values)).sorted()
    }
    /// Where heartbeats go: every address, or the masters only (`heartbeatToSlaves`).
    public var heartbeatAddresses: [Address] {
        configuration.heartbeatToSlaves ? allBrokerAddresses : Set(brokerAddresses.values.compactMap { $0[0] }).sorted()
    }
    /// The master (id 0) of a broker name.
    public func masterAddress(of brokerName: String) -> Address? { brokerAddresses[brokerName]?[0] }

    // MARK: - Inputs

    /// Starts the consumer: route requests for every subscribed topic, and the periodic timers.
    public mutating func start(now: Timestamp) -> [Action] {
        guard phase == .idle else { return [.log("start ignored: already \(phase)")] }
        phase = .starting
        startedAt = now
        for t in configuration.subscribedTopics { subVersions[t] = now.millisecondsSinceEpoch }
        var out: [Action] = []
        if configuration.nameServers.isEmpty { out.append(.report(.noNameServer)) }
        for t in configuration.subscribedTopics {
            if let id = sendRoute(topic: t, attempt: 0, into: &out) { startupRoutesPending.insert(id) }
        }
        out.append(.schedule(.routeRefresh, after: configuration.firstRouteRefreshDelay))
        out.append(.schedule(.heartbeat, after: configuration.heartbeatInterval))
        out.append(.schedule(.rebalance, after: configuration.rebalanceInterval))
        out.append(.schedule(.persist, after: configuration.firstPersistDelay))
        out.append(.schedule(.cleanExpired, after: configuration.consumeTimeout))
        if startupRoutesPending.isEmpty { startupRoutesDone(now: now, into: &out) }
        return out
    }

    /// A timer fired.
    public mutating func tick(_ timer: Timer, now: Timestamp) -> [Action] {
        var out: [Action] = []
        switch timer {
        case .routeRefresh:
            guard phase == .running || phase == .starting else { return [] }
            for t in configuration.subscribedTopics { _ = sendRoute(topic: t, attempt: 0, into: &out) }
            out.append(.schedule(.routeRefresh, after: configuration.routeRefreshInterval))
        case .heartbeat:
            guard phase == .running || phase == .starting else { return [] }
            sendHeartbeats(into: &out)
            out.append(.schedule(.heartbeat, after: configuration.heartbeatInterval))
        case .rebalance:
            guard phase == .running else { return [] }
            rebalanceAll(now: now, into: &out)
            out.append(.schedule(.rebalance, after: configuration.rebalanceInterval))
        case .persist:
            guard phase == .running || phase == .starting else { return [] }
            persistAll(into: &out)
            out.append(.schedule(.persist, after: configuration.persistInterval))
        case .pullDelay(let q):
            guard var s = queues[q], s.pullScheduled else { return [] }
            s.pullScheduled = false
            queues[q] = s
            pull(q, now: now, into: &out)
        case .redeliver(let q):
            guard phase == .running, var s = queues[q], s.redeliveryScheduled, s.movedTo == nil else { return [] }
            s.redeliveryScheduled = false
            let offsets = s.redeliveries
            s.redeliveries = []
            queues[q] = s
            redeliver(q, offsets: offsets, now: now, into: &out)
        case .offsetMoved(let q):
            // During shutdown the final persist stores the corrected offset.
            guard phase == .running, let s = queues[q], let to = s.movedTo else { return [] }
            // 4.9.x: store the corrected offset (not increase-only), persist it, drop the queue; the next
            // rebalance adds it again and reads the offset back.
            var st = s
            st.committedOffset = to
            queues[q] = st
            persist(q, into: &out)
            queues[q] = nil
        case .cleanExpired:
            guard phase == .running else { return [] }
            cleanExpired(now: now, into: &out)
            out.append(.schedule(.cleanExpired, after: configuration.consumeTimeout))
        case .shutdownDeadline:
            guard phase == .drainingConsumption else { return [] }
            finishDraining(now: now, into: &out)
        }
        return out
    }

    /// The answer to a request the machine sent.
    public mutating func received(response: RemotingCommand, for id: RequestID, now: Timestamp) -> [Action] {
        guard let p = pending.removeValue(forKey: id) else { return [] }
        var out: [Action] = []
        switch p.kind {
        case .route(let topic, let attempt):
            handleRoute(response, topic: topic, attempt: attempt, id: id, now: now, into: &out)
        case .heartbeat:
            if response.code != ResponseCode.success {
                out.append(.report(.heartbeatFailed(p.address, "\(ResponseCode.name(response.code)) \(response.remark ?? "")")))
            }
            heartbeatDone(id, now: now, into: &out)
        case .consumerList(let topic, let round):
            handleConsumerList(response, topic: topic, round: round, now: now, into: &out)
        case .queryOffset(let q, let round):
            let stored: StartOffset.StoredOffset
            switch response.code {
            case ResponseCode.success:
                if let h = try? OffsetResponseHeader(fields: response.allFields) {
                    stored = .found(h.offset)
                } else {
                    stored = .failed("QUERY_CONSUMER_OFFSET answer without a valid offset")
                }
            case ResponseCode.queryNotFound: stored = .notFound
            default: stored = .failed("QUERY_CONSUMER_OFFSET: \(ResponseCode.name(response.code)) \(response.remark ?? "")")
            }
            startOffsetStep(q, round: round, stored: stored, now: now, into: &out)
        case .maxOffset(let q, let round), .searchOffset(let q, let round):
            let name = { if case .maxOffset = p.kind { return "GET_MAX_OFFSET" } else { return "SEARCH_OFFSET_BY_TIMESTAMP" } }()
            if response.code == ResponseCode.success, let h = try? OffsetResponseHeader(fields: response.allFields) {
                resolveLookup(q, round: round, start: h.offset, stored: nil, now: now, into: &out)
            } else {
                failLookup(q, round: round, why: "\(name): \(ResponseCode.name(response.code)) \(response.remark ?? "")", now: now,
                           into: &out)
            }
        case .pull(let q, let generation):
            handlePull(response, queue: q, generation: generation, id: id, now: now, into: &out)
        case .sendBack(let q, let generation, let offset, let expired):
            if response.code == ResponseCode.success {
                sendBackDone(q, generation: generation, offset: offset, expired: expired, ok: true, why: "", now: now, into: &out)
            } else {
                sendBackDone(q, generation: generation, offset: offset, expired: expired, ok: false,
                             why: "\(ResponseCode.name(response.code)) \(response.remark ?? "")", now: now, into: &out)
            }
        case .unregister:
            if response.code != ResponseCode.success {
                report.unregisterFailed[p.address] = "\(ResponseCode.name(response.code)) \(response.remark ?? "")"
                out.append(.report(.unregisterFailed(p.address, "\(ResponseCode.name(response.code))")))
            }
            unregisterDone(id, into: &out)
        }
        return out
    }

    /// A request got no answer (timeout) or its connection failed.
    public mutating func requestFailed(_ id: RequestID, reason: FailureReason, now: Timestamp) -> [Action] {
        guard let p = pending.removeValue(forKey: id) else { return [] }
        var out: [Action] = []
        fail(p, id: id, reason: reason, now: now, into: &out)
        return out
    }

    /// A connection closed: every request pending on it fails with `.connectionLost`.
    public mutating func connectionClosed(_ address: Address, now: Timestamp) -> [Action] {
        var out: [Action] = []
        for id in pending.keys.sorted() where pending[id]?.address == address {
            if let p = pending.removeValue(forKey: id) { fail(p, id: id, reason: .connectionLost, now: now, into: &out) }
        }
        for (id, d) in directRequests where d.address == address { directRequests[id] = nil }
        return out
    }

    /// A request from a broker on one of our connections.
    public mutating func receivedRequest(_ request: RemotingCommand, from broker: BrokerAddress, now: Timestamp) -> [Action] {
        var out: [Action] = []
        switch request.code {
        case RequestCode.notifyConsumerIdsChanged:
            if phase == .running {
                out.append(.log("NOTIFY_CONSUMER_IDS_CHANGED from \(broker): rebalance now"))
                rebalanceAll(now: now, into: &out)
            }
        case RequestCode.getConsumerRunningInfo:
            let group = request.extFields?["consumerGroup"]
            if group != configuration.group {
                out.append(.respond(to: broker, command: .response(to: request, code: ResponseCode.systemError,
                    remark: "The Consumer Group <\(group ?? "")> not exist in this consumer")))
            } else {
                out.append(.respond(to: broker, command: .response(to: request, code: ResponseCode.success,
                                                                   body: ByteBuffer(bytes: runningInfo(now: now).bytes))))
            }
        case RequestCode.consumeMessageDirectly:
            handleConsumeDirectly(request, from: broker, into: &out)
        case RequestCode.resetConsumerClientOffset:
            handleResetOffset(request, from: broker, now: now, into: &out)
        default:
            out.append(.report(.unsupportedRequest(code: request.code, from: broker, "not supported by this consumer")))
            if !request.isOneway {
                out.append(.respond(to: broker, command: .response(to: request, code: ResponseCode.requestCodeNotSupported,
                    remark: " request type \(request.code) not supported")))
            }
        }
        return out
    }

    /// The consume pool finished messages delivered with `.deliver`.
    public mutating func consumed(_ messages: [DeliveredMessage], status: ConsumeStatus, now: Timestamp) -> [Action] {
        var out: [Action] = []
        // A delivery holds messages of one queue: handled without grouping them first.
        if let q = messages.first?.queue, messages.allSatisfy({ $0.queue == q }) {
            consumed(q, messages, status: status, now: now, into: &out)
        } else {
            // Grouped by queue, the queues in order. The messages come in runs of one queue (a delivery's, a pull's):
            // the table is consulted once per run, not per message (hashing the queue's topic and broker name).
            var groups: [(queue: MessageQueue, messages: [DeliveredMessage])] = []
            var index: [MessageQueue: Int] = [:]
            var last = -1
            for m in messages {
                let q = m.queue
                if last < 0 || groups[last].queue != q {
                    if let i = index[q] {
                        last = i
                    } else {
                        last = groups.count
                        index[q] = last
                        groups.append((q, []))
                    }
                }
                groups[last].messages.append(m)
            }
            groups.sort { $0.queue < $1.queue }
            for g in groups { consumed(g.queue, g.messages, status: status, now: now, into: &out) }
        }
        if phase == .drainingConsumption { checkDrained(now: now, into: &out) }
        return out
    }

    /// `consumed` for the messages of one queue: in one visit of the queue's state when they all succeeded.
    private mutating func consumed(_ q: MessageQueue, _ done: [DeliveredMessage], status: ConsumeStatus, now: Timestamp,
                                   into out: inout [Action]) {
        let finishing = status == .success || configuration.messageModel == .broadcasting || phase == .unregistering
        // nil: the queue is gone or moved; otherwise the offsets still in flight, and whether they were finished.
        guard let taken = withQueue(q, { s -> (offsets: [Int64], committable: Int64?)? in
            guard s.movedTo == nil else { return nil }
            s.lastConsume = now.millisecondsSinceEpoch
            let offsets = done.map { $0.queueOffset }.filter { s.processQueue.contains($0) && (s.sendBacks.isEmpty || !s.sendBacks.contains($0)) }
            return (offsets, finishing && !offsets.isEmpty ? Self.finish(&s, offsets: offsets) : nil)
        }), let (offsets, committable) = taken else {
            out.append(.log("consumed messages of \(q) ignored: the queue is no longer assigned"))
            return
        }
        if offsets.isEmpty { return }
        if status == .reconsumeLater {
            consumeFailedCount[q.topic, default: 0] += Int64(offsets.count)
        }
        if finishing {
            if status == .reconsumeLater {
                out.append(.log("broadcasting: \(offsets.count) failed message(s) of \(q) dropped"))
            }
            if let c = committable, configuration.messageModel == .broadcasting { localOffsets[q] = c }
        } else {
            for o in offsets { sendBack(q, offset: o, into: &out) }
        }
    }

    /// The listener's result for a `.consumeDirectly` message (CONSUME_MESSAGE_DIRECTLY).
    public mutating func consumedDirectly(_ id: DirectConsumeID, status: ConsumeStatus, spentMilliseconds: Int64,
                                          now: Timestamp) -> [Action] {
        guard let d = directRequests.removeValue(forKey: id) else { return [] }
        let result: JSONValue = .object([
            JSONMember("autoCommit", .bool(true)),
            JSONMember("consumeResult", .string(status == .success ? "CR_SUCCESS" : "CR_LATER")),
            JSONMember("order", .bool(false)),
            JSONMember("spentTimeMills", .number(String(spentMilliseconds))),
        ])
        return [.respond(to: d.address, command: .response(to: d.request, code: ResponseCode.success, body: ByteBuffer(bytes: result.bytes)))]
    }

    /// Stops the consumer: no more pulls; waits for delivered messages (up to `shutdownAwaitConsumption`);
    /// persists every offset; UNREGISTER_CLIENT to every broker; then `.closeConnections` and `.finished`.
    public mutating func shutdown(now: Timestamp) -> [Action] {
        switch phase {
        case .idle:
            phase = .finished
            return [.finished(ShutdownReport())]
        case .finished, .drainingConsumption, .unregistering:
            return []
        case .starting, .running:
            break
        }
        phase = .drainingConsumption
        var out: [Action] = []
        // Pending lookups and consumer lists are abandoned: their answers are ignored.
        rounds = [:]
        consumerListInFlight = [:]
        rebalanceAgain = []
        for (id, p) in pending {
            switch p.kind {
            case .route, .heartbeat, .consumerList, .queryOffset, .maxOffset, .searchOffset, .pull: pending[id] = nil
            case .sendBack, .unregister: break
            }
        }
        // Queues waiting for the 4.9 offset-moved delay are dropped now, with the corrected offset.
        for q in queues.keys.sorted() {
            if let to = queues[q]!.movedTo {
                queues[q]!.committedOffset = to
                queues[q]!.processQueue.clear()
            }
            queues[q]!.pullInFlight = nil
            queues[q]!.pullScheduled = false
        }
        if isDrained {
            finishDraining(now: now, into: &out)
        } else {
            out.append(.schedule(.shutdownDeadline, after: configuration.shutdownAwaitConsumption))
        }
        return out
    }

    // MARK: - Routes

    private mutating func sendRoute(topic: String, attempt: Int, into out: inout [Action]) -> RequestID? {
        guard !configuration.nameServers.isEmpty else { return nil }
        let ns = configuration.nameServers[nameServerIndex % configuration.nameServers.count]
        let header = GetRouteInfoRequestHeader(topic: topic)
        return send(to: ns, code: RequestCode.getRouteInfoByTopic, extFields: header.extFields, timeout: configuration.rpcTimeout,
                    kind: .route(topic: topic, attempt: attempt), into: &out)
    }

    private mutating func handleRoute(_ r: RemotingCommand, topic: String, attempt: Int, id: RequestID, now: Timestamp,
                                      into out: inout [Action]) {
        if r.code == ResponseCode.success, let body = r.body {
            do {
                let route = try body.withUnsafeReadableBytes { try TopicRouteData.decode($0) }
                routes[topic] = route
                rebuildBrokerTable()
                topicQueues[topic] = route.subscribeQueues(topic: topic)
            } catch {
                out.append(.report(.badResponse(request: "GET_ROUTEINFO_BY_TOPIC \(topic)", "\(error)")))
            }
        } else if r.code == ResponseCode.topicNotExist && topic == configuration.retryTopic {
            out.append(.log("no route for \(topic) yet (created by the broker at the first heartbeat)"))
        } else {
            out.append(.report(.routeError(topic: topic, code: r.code, remark: r.remark)))
        }
        routeDone(id, now: now, into: &out)
    }

    private mutating func rebuildBrokerTable() {
        var table: [String: [Int64: Address]] = [:]
        for t in routes.keys.sorted() {
            for b in routes[t]!.brokerDatas {
                for a in b.brokerAddrs { table[b.brokerName, default: [:]][a.id] = Address(a.address) }
            }
        }
        brokerAddresses = table
    }

    private mutating func routeDone(_ id: RequestID, now: Timestamp, into out: inout [Action]) {
        guard phase == .starting, startupRoutesPending.remove(id) != nil, startupRoutesPending.isEmpty else { return }
        startupRoutesDone(now: now, into: &out)
    }

    private mutating func startupRoutesDone(now: Timestamp, into out: inout [Action]) {
        // Java start: heartbeat to every broker, then rebalance at once (here: once the heartbeats answered,
        // so that the broker knows this client when asked for the consumer list).
        var ids: Set<RequestID> = []
        for a in heartbeatAddresses {
            if let id = sendHeartbeat(to: a, into: &out) { ids.insert(id) }
        }
        startupHeartbeatsPending = ids
        if ids.isEmpty { startupHeartbeatsDone(now: now, into: &out) }
    }

    private mutating func startupHeartbeatsDone(now: Timestamp, into out: inout [Action]) {
        startupHeartbeatsPending = nil
        guard phase == .starting else { return }
        phase = .running
        rebalanceAll(now: now, into: &out)
    }

    // MARK: - Heartbeat

    @discardableResult
    private mutating func sendHeartbeats(into out: inout [Action]) -> Set<RequestID> {
        var ids: Set<RequestID> = []
        for a in heartbeatAddresses { if let id = sendHeartbeat(to: a, into: &out) { ids.insert(id) } }
        return ids
    }

    private mutating func sendHeartbeat(to address: Address, into out: inout [Action]) -> RequestID? {
        send(to: address, code: RequestCode.heartBeat, extFields: nil, body: heartbeatData.json.bytes, timeout: configuration.rpcTimeout,
             kind: .heartbeat, into: &out)
    }

    private mutating func heartbeatDone(_ id: RequestID, now: Timestamp, into out: inout [Action]) {
        if !firstPullsAwaiting.isEmpty {
            // Answered or failed alike: the pulls go ahead (a failed heartbeat is reported, and retried later).
            for i in firstPullsAwaiting.indices { firstPullsAwaiting[i].heartbeats.remove(id) }
            let released = firstPullsAwaiting.filter(\.heartbeats.isEmpty).flatMap(\.queues)
            firstPullsAwaiting.removeAll { $0.heartbeats.isEmpty }
            for q in released { pull(q, now: now, into: &out) }
        }
        guard phase == .starting, startupHeartbeatsPending?.remove(id) != nil, startupHeartbeatsPending?.isEmpty == true else { return }
        startupHeartbeatsDone(now: now, into: &out)
    }

    // MARK: - Rebalance

    private mutating func rebalanceAll(now: Timestamp, into out: inout [Action]) {
        for t in configuration.subscribedTopics { rebalance(topic: t, now: now, into: &out) }
    }

    private mutating func rebalance(topic: String, now: Timestamp, into out: inout [Action]) {
        guard phase == .running else { return }
        if rounds[topic] != nil || consumerListInFlight[topic] != nil {
            rebalanceAgain.insert(topic)
            return
        }
        guard let mqAll = topicQueues[topic], !mqAll.isEmpty else {
            if topic == configuration.retryTopic {
                out.append(.log("rebalance: no route for \(topic) yet"))
            } else {
                out.append(.report(.noRoute(topic: topic)))
            }
            return
        }
        switch configuration.messageModel {
        case .broadcasting:
            apply(topic: topic, allocated: Set(mqAll), now: now, into: &out)
        case .clustering:
            // One broker of the topic's route (Java picks at random; here in turn), its master if present.
            let brokers = (routes[topic]?.brokerDatas ?? []).sorted { $0.brokerName.utf16.lexicographicallyPrecedes($1.brokerName.utf16) }
            guard !brokers.isEmpty else {
                out.append(.report(.noRoute(topic: topic)))
                return
            }
            let b = brokers[rebalanceBrokerCursor % brokers.count]
            rebalanceBrokerCursor += 1
            guard let addr = b.masterAddress ?? b.brokerAddrs.sorted(by: { $0.id < $1.id }).first?.address else {
                out.append(.report(.noMasterAddress(brokerName: b.brokerName)))
                return
            }
            let round = nextRound
            nextRound += 1
            consumerListInFlight[topic] = round
            let header = ConsumerGroupHeader(consumerGroup: configuration.group)
            _ = send(to: Address(addr), code: RequestCode.getConsumerListByGroup, extFields: header.extFields,
                     timeout: configuration.rpcTimeout, kind: .consumerList(topic: topic, round: round), into: &out)
        }
    }

    private mutating func handleConsumerList(_ r: RemotingCommand, topic: String, round: UInt64, now: Timestamp,
                                             into out: inout [Action]) {
        guard consumerListInFlight[topic] == round else { return }
        consumerListInFlight[topic] = nil
        defer { if rounds[topic] == nil { rebalanceIfAsked(topic, now: now, into: &out) } }
        guard r.code == ResponseCode.success else {
            out.append(.report(.consumerListFailed(topic: topic, "\(ResponseCode.name(r.code)) \(r.remark ?? "")")))
            return
        }
        let ids: [String]
        do {
            guard let body = r.body else { throw RemotingDecodingError("consumer id list body", .missingField(field: "body")) }
            ids = try body.withUnsafeReadableBytes { try ConsumerIdList.decode($0) }
        } catch {
            out.append(.report(.consumerListFailed(topic: topic, "\(error)")))
            return
        }
        guard !ids.isEmpty else {
            out.append(.report(.consumerListFailed(topic: topic, "empty consumer list")))
            return
        }
        let mqAll = topicQueues[topic] ?? []
        if !ids.contains(clientID) {
            out.append(.report(.notInConsumerList(topic: topic, clientID: clientID)))
        }
        let mine = configuration.allocation.strategy.allocate(queues: mqAll, consumers: ids, current: clientID)
        apply(topic: topic, allocated: Set(mine), now: now, into: &out)
    }

    private mutating func rebalanceIfAsked(_ topic: String, now: Timestamp, into out: inout [Action]) {
        if rebalanceAgain.remove(topic) != nil { rebalance(topic: topic, now: now, into: &out) }
    }

    /// `updateProcessQueueTableInRebalance`: persist and drop queues no longer ours, look up start offsets of
    /// new ones; the round completes when every lookup answered.
    private mutating func apply(topic: String, allocated: Set<MessageQueue>, now: Timestamp, into out: inout [Action]) {
        var round = Round(id: nextRound, changed: false, lookups: [], resolved: [:])
        nextRound += 1
        var expired: Set<MessageQueue> = []
        for q in queues.keys.sorted() where q.topic == topic {
            let s = queues[q]!
            if !allocated.contains(q) {
                out.append(.log("rebalance: \(q) is no longer ours"))
            } else if s.movedTo == nil, now.millisecondsSinceEpoch - s.lastPull > configuration.pullMaxIdleTime.milliseconds {
                // ProcessQueue.isPullExpired: dropped now, added again by the next rebalance.
                out.append(.report(.pullExpired(q, idle: .milliseconds(now.millisecondsSinceEpoch - s.lastPull))))
                expired.insert(q)
            } else {
                continue
            }
            persist(q, into: &out)
            queues[q] = nil
            round.changed = true
        }
        // Every lookup is registered before the first starts: some resolve at once (local offsets, no master).
        let added = allocated.sorted().filter { queues[$0] == nil && !expired.contains($0) }
        round.lookups = Set(added)
        rounds[topic] = round
        for q in added { beginLookup(q, round: round.id, now: now, into: &out) }
        if let r = rounds[topic], r.lookups.isEmpty { completeRound(topic, now: now, into: &out) }
    }

    private mutating func beginLookup(_ q: MessageQueue, round: UInt64, now: Timestamp, into out: inout [Action]) {
        switch configuration.messageModel {
        case .broadcasting:
            let stored: StartOffset.StoredOffset = localOffsets[q].map { .found($0) } ?? .notFound
            startOffsetStep(q, round: round, stored: stored, now: now, into: &out)
        case .clustering:
            guard let master = masterAddress(of: q.brokerName) else {
                out.append(.report(.noMasterAddress(brokerName: q.brokerName)))
                failLookup(q, round: round, why: "no master address for \(q.brokerName)", now: now, into: &out)
                return
            }
            let h = QueryConsumerOffsetRequestHeader(consumerGroup: configuration.group, topic: q.topic, queueId: q.queueId)
            _ = send(to: master, code: RequestCode.queryConsumerOffset, extFields: h.extFields,
                     timeout: configuration.offsetRequestTimeout, kind: .queryOffset(q, round: round), into: &out)
        }
    }

    private mutating func startOffsetStep(_ q: MessageQueue, round: UInt64, stored: StartOffset.StoredOffset, now: Timestamp,
                                          into out: inout [Action]) {
        let step = StartOffset.step(after: stored, consumeFrom: configuration.consumeFrom,
                                    isRetryTopic: q.topic.hasPrefix("%RETRY%"),
                                    utcOffsetSeconds: configuration.consumeTimestampUTCOffsetSeconds)
        let storedOffset: Int64? = { if case .found(let o) = stored { return o } else { return nil } }()
        switch step {
        case .use(let o):
            resolveLookup(q, round: round, start: o, stored: storedOffset, now: now, into: &out)
        case .notAdded(let why):
            failLookup(q, round: round, why: why, now: now, into: &out)
        case .getMaxOffset, .searchOffset:
            guard let master = masterAddress(of: q.brokerName) else {
                failLookup(q, round: round, why: "no master address for \(q.brokerName)", now: now, into: &out)
                return
            }
            if case .searchOffset(let ts) = step {
                let h = QueueOffsetRequestHeader(topic: q.topic, queueId: q.queueId, timestamp: ts)
                _ = send(to: master, code: RequestCode.searchOffsetByTimestamp, extFields: h.extFields,
                         timeout: configuration.offsetRequestTimeout, kind: .searchOffset(q, round: round), into: &out)
            } else {
                let h = QueueOffsetRequestHeader(topic: q.topic, queueId: q.queueId)
                _ = send(to: master, code: RequestCode.getMaxOffset, extFields: h.extFields,
                         timeout: configuration.offsetRequestTimeout, kind: .maxOffset(q, round: round), into: &out)
            }
        }
    }

    private mutating func resolveLookup(_ q: MessageQueue, round: UInt64, start: Int64, stored: Int64?, now: Timestamp,
                                        into out: inout [Action]) {
        guard var r = rounds[q.topic], r.id == round, r.lookups.remove(q) != nil else { return }
        r.resolved[q] = (start, stored)
        rounds[q.topic] = r
        if r.lookups.isEmpty { completeRound(q.topic, now: now, into: &out) }
    }

    private mutating func failLookup(_ q: MessageQueue, round: UInt64, why: String, now: Timestamp, into out: inout [Action]) {
        guard var r = rounds[q.topic], r.id == round, r.lookups.remove(q) != nil else { return }
        out.append(.report(.startOffsetFailed(q, why)))
        rounds[q.topic] = r
        if r.lookups.isEmpty { completeRound(q.topic, now: now, into: &out) }
    }

    private mutating func completeRound(_ topic: String, now: Timestamp, into out: inout [Action]) {
        guard let r = rounds.removeValue(forKey: topic) else { return }
        let added = r.resolved.keys.sorted()
        for q in added {
            let (start, stored) = r.resolved[q]!
            var s = QueueState(generation: nextGeneration, nextOffset: start)
            nextGeneration += 1
            s.lastPull = now.millisecondsSinceEpoch
            // Java's readOffset(READ_FROM_STORE) keeps what the broker returned in its offset table.
            s.committedOffset = configuration.messageModel == .broadcasting ? localOffsets[q] : stored
            queues[q] = s
            out.append(.log("rebalance: \(q) is ours, starting at \(start)"))
        }
        var heartbeats: Set<RequestID> = []
        if r.changed || !added.isEmpty {
            // messageQueueChanged: a new subVersion, and a heartbeat so the brokers learn it.
            subVersions[topic] = max(now.millisecondsSinceEpoch, (subVersions[topic] ?? 0) + 1)
            heartbeats = sendHeartbeats(into: &out)
        }
        if heartbeats.isEmpty {
            for q in added { pull(q, now: now, into: &out) }
        } else if !added.isEmpty {
            firstPullsAwaiting.append(AwaitedPulls(heartbeats: heartbeats, queues: added))
        }
        rebalanceIfAsked(topic, now: now, into: &out)
    }

    // MARK: - Pull

    /// `findBrokerAddressInSubscribe(brokerName, id, onlyThisBroker: false)`.
    private func pullAddress(_ q: MessageQueue, suggested: Int64) -> (Address, isSlave: Bool)? {
        guard let map = brokerAddresses[q.brokerName], !map.isEmpty else { return nil }
        if let a = map[suggested] { return (a, suggested != 0) }
        if suggested != 0, let a = map[suggested + 1] { return (a, true) }
        let id = map.keys.min()!
        return (map[id]!, id != 0)
    }

    private mutating func pull(_ q: MessageQueue, now: Timestamp, into out: inout [Action]) {
        guard phase == .running, var s = queues[q], s.movedTo == nil, s.pullInFlight == nil, !s.pullScheduled else { return }
        // Java sets lastPullTimestamp before the flow-control checks: a paused queue is not idle.
        s.lastPull = now.millisecondsSinceEpoch
        let pq = s.processQueue
        if pq.count > configuration.pullThresholdForQueue || pq.cachedBytes > configuration.pullThresholdSizeForQueueMiB * 1024 * 1024
            || pq.span > configuration.consumeConcurrentlyMaxSpan {
            s.pullScheduled = true
            queues[q] = s
            out.append(.schedule(.pullDelay(q), after: configuration.delayAfterCacheFlowControl))
            return
        }
        guard let (addr, isSlave) = pullAddress(q, suggested: s.suggestedBrokerID) else {
            s.pullScheduled = true
            queues[q] = s
            out.append(.report(.pullFailed(q, "broker \(q.brokerName) not in the route", retryAfter: configuration.delayAfterException)))
            out.append(.schedule(.pullDelay(q), after: configuration.delayAfterException))
            return
        }
        var commitOffset: Int64 = 0
        var flags: PullSysFlag = [.suspend]
        if configuration.messageModel == .clustering, let c = s.committedOffset, c > 0 {
            commitOffset = c
            if !isSlave { flags.insert(.commitOffset) }
        }
        let sub = subscriptions.first { $0.topic == q.topic }
        var expression: String? = nil
        if configuration.postSubscriptionWhenPull, let sub {
            expression = sub.subString
            flags.insert(.subscription)
        }
        let h = PullMessageRequestHeader(
            consumerGroup: configuration.group, topic: q.topic, queueId: q.queueId, queueOffset: s.nextOffset,
            maxMsgNums: configuration.pullBatchSize, sysFlag: flags, commitOffset: commitOffset,
            suspendTimeoutMillis: configuration.brokerSuspendTimeout.milliseconds, subscription: expression,
            subVersion: sub?.subVersion ?? 0, expressionType: "TAG")
        queues[q] = s
        let id = send(to: addr, code: RequestCode.pullMessage, extFields: h.extFields, timeout: configuration.pullTimeout,
                      kind: .pull(q, generation: s.generation), into: &out)
        queues[q]?.pullInFlight = id
    }

    private mutating func pullLater(_ q: MessageQueue, after delay: Duration, into out: inout [Action]) {
        guard var s = queues[q], !s.pullScheduled else { return }
        s.pullScheduled = true
        queues[q] = s
        out.append(.schedule(.pullDelay(q), after: delay))
    }

    private mutating func pullNext(_ q: MessageQueue, now: Timestamp, into out: inout [Action]) {
        if configuration.pullInterval > .zero {
            pullLater(q, after: configuration.pullInterval, into: &out)
        } else {
            pull(q, now: now, into: &out)
        }
    }

    /// `correctTagsOffset`: with nothing in flight the committable offset follows the pull offset.
    private mutating func correctTagsOffset(_ q: MessageQueue) {
        guard var s = queues[q], s.processQueue.isEmpty else { return }
        if s.nextOffset > (s.committedOffset ?? -1) {
            s.committedOffset = s.nextOffset
            if configuration.messageModel == .broadcasting { localOffsets[q] = s.nextOffset }
        }
        queues[q] = s
    }

    private mutating func handlePull(_ r: RemotingCommand, queue q: MessageQueue, generation: UInt64, id: RequestID, now: Timestamp,
                                     into out: inout [Action]) {
        guard withQueue(q, { s in
            guard s.generation == generation, s.pullInFlight == id else { return false }
            s.pullInFlight = nil
            return true
        }) == true else { return }
        guard phase == .running else { return }
        let code = r.code
        switch code {
        case ResponseCode.success, ResponseCode.pullNotFound, ResponseCode.pullRetryImmediately, ResponseCode.pullOffsetMoved:
            guard let h = try? PullMessageResponseHeader(fields: r.allFields) else {
                out.append(.report(.pullFailed(q, "\(ResponseCode.name(code)) without a valid PullMessageResponseHeader",
                                               retryAfter: configuration.delayAfterException)))
                pullLater(q, after: configuration.delayAfterException, into: &out)
                return
            }
            let previous = withQueue(q) { s -> Int64 in
                let previous = s.nextOffset
                s.suggestedBrokerID = h.suggestWhichBrokerId
                s.nextOffset = h.nextBeginOffset
                if code == ResponseCode.pullOffsetMoved {
                    s.movedTo = h.nextBeginOffset
                    s.processQueue.clear()
                }
                return previous
            }!
            if code == ResponseCode.pullOffsetMoved {
                out.append(.report(.offsetMoved(q, from: previous, to: h.nextBeginOffset)))
                out.append(.schedule(.offsetMoved(q), after: configuration.offsetMovedDelay))
                return
            }
            if code == ResponseCode.success {
                let found = decodeMessages(r, queue: q, header: h, into: &out)
                // FOUND with every message filtered out: pull on from nextBeginOffset; as in 4.9, the stored
                // offset is not corrected here (the next PULL_NOT_FOUND does it).
                if !found.isEmpty {
                    withQueue(q) { s in s.processQueue.put(found, deliveredAt: now.millisecondsSinceEpoch) }
                    deliver(q, found, into: &out)
                }
            } else {
                correctTagsOffset(q)
            }
            pullNext(q, now: now, into: &out)
        case ResponseCode.flowControl:
            out.append(.report(.pullFailed(q, "FLOW_CONTROL \(r.remark ?? "")", retryAfter: configuration.delayAfterBrokerFlowControl)))
            pullLater(q, after: configuration.delayAfterBrokerFlowControl, into: &out)
        default:
            out.append(.report(.pullFailed(q, "\(ResponseCode.name(code)) \(r.remark ?? "")", retryAfter: configuration.delayAfterException)))
            pullLater(q, after: configuration.delayAfterException, into: &out)
        }
    }

    /// `PullAPIWrapper.processPullResult`: decode, keep the messages whose tag the subscription accepts, set
    /// MIN_OFFSET/MAX_OFFSET, reset retry topics.
    private func decodeMessages(_ r: RemotingCommand, queue q: MessageQueue, header h: PullMessageResponseHeader,
                                into out: inout [Action]) -> [DeliveredMessage] {
        guard let body = r.body, body.readableBytes > 0 else { return [] }
        // The queue's tag filter, read once (not a copy of the whole subscription for each answer).
        let tagsSet = subscriptions.firstIndex { $0.topic == q.topic }.map { subscriptions[$0].tagsSet } ?? []
        var result: [DeliveredMessage] = []
        let retryTopic = configuration.retryTopic
        // Each record is kept as a view of the answer's bytes (validated by the scan, as `decodeAll` validates
        // them); a zlib body is inflated here, so that a bad one is reported with the pull.
        var records = StoredMessageDecoder.records(body)
        var storedTopic: String? = nil
        do {
            while let v = try records.next() {
                if result.isEmpty { result.reserveCapacity(body.readableBytes / max(1, Int(v.totalSize))) }
                let tags = v.tags
                if !tagsSet.isEmpty, !(tags.map { tagsSet.contains($0) } ?? false) { continue }
                // One String for the topic of all the answer's records.
                let stored = v.topic(reusing: storedTopic)
                storedTopic = stored
                var topic = stored
                if stored == retryTopic, let original = v.property("RETRY_TOPIC") { topic = original }
                let record: DeliveredMessage.Record
                if v.sysFlag.contains(.compressed), v.sysFlag.compression == .zlib {
                    record = .decoded(try v.decoded())
                } else {
                    record = .view(v)
                }
                // The answer's offsets ride along as numbers; `properties` shows them as Java's MIN_OFFSET, MAX_OFFSET.
                result.append(DeliveredMessage(queue: q, queueOffset: v.queueOffset, topic: topic, tags: tags, reconsumeTimes: v.reconsumeTimes,
                                               record: record, minOffset: h.minOffset, maxOffset: h.maxOffset))
            }
        } catch {
            out.append(.report(.pullBodyDecodingFailed(q, "\(error)")))
        }
        return result
    }

    // MARK: - Consumption

    /// Delivers again the messages in flight at `offsets` (a local redelivery).
    private mutating func redeliver(_ q: MessageQueue, offsets: [Int64], now: Timestamp, into out: inout [Action]) {
        guard let msgs = withQueue(q, { $0.processQueue.redeliver(offsets, at: now.millisecondsSinceEpoch) }) else { return }
        deliver(q, msgs, into: &out)
    }

    /// Hands messages to the listener, `consumeMessageBatchMaxSize` at a time.
    private func deliver(_ q: MessageQueue, _ msgs: [DeliveredMessage], into out: inout [Action]) {
        let size = max(1, configuration.consumeMessageBatchMaxSize)
        var i = 0
        while i < msgs.count {
            out.append(.deliver(queue: q, messages: Array(msgs[i..<min(i + size, msgs.count)])))
            i += size
        }
    }

    /// Messages done (consumed, sent back, or dropped in broadcasting mode): the offset may advance.
    private mutating func finish(_ q: MessageQueue, offsets: [Int64]) {
        guard let advanced = withQueue(q, { Self.finish(&$0, offsets: offsets) }), let c = advanced else { return }
        if configuration.messageModel == .broadcasting { localOffsets[q] = c }
    }

    /// `finish` on a queue's state: the committed offset when it advanced.
    private static func finish(_ s: inout QueueState, offsets: [Int64]) -> Int64? {
        guard let c = s.processQueue.remove(offsets), c > (s.committedOffset ?? -1) else { return nil }
        s.committedOffset = c
        return c
    }

    /// Mutates a queue's state in place, found with one lookup. A copy taken out of `queues`, changed and put
    /// back would copy its tables (messages, offsets in flight) on the first write while the table still holds
    /// the original: a cost per message that grows with the number of cached messages.
    @discardableResult
    private mutating func withQueue<R>(_ q: MessageQueue, _ body: (inout QueueState) -> R) -> R? {
        guard let i = queues.index(forKey: q) else { return nil }
        return body(&queues.values[i])
    }

    /// CONSUMER_SEND_MSG_BACK for a failed message (delay level 0: the broker decides), or for one the
    /// listener held past `consumeTimeout` (`expired`: delay level 3, sent to the message's store host as
    /// Java's `ProcessQueue.cleanExpiredMsg` does).
    private mutating func sendBack(_ q: MessageQueue, offset: Int64, expired: Bool = false, into out: inout [Action]) {
        guard let s = queues[q], let m = s.processQueue.message(at: offset) else { return }
        let target: Address
        if expired, let host = storeHostAddress(m.record.storeHost) {
            target = host
        } else if let master = masterAddress(of: q.brokerName) {
            target = master
        } else if let host = storeHostAddress(m.record.storeHost) {
            target = host
        } else {
            out.append(.report(.noMasterAddress(brokerName: q.brokerName)))
            if !expired { sendBackFailedLocally(q, offset: offset, why: "no address for the message's broker", into: &out) }
            return
        }
        let h = ConsumerSendMsgBackRequestHeader(offset: m.record.physicalOffset, group: configuration.group, delayLevel: expired ? 3 : 0,
                                                 originMsgId: m.msgId, originTopic: m.topic, unitMode: false,
                                                 maxReconsumeTimes: configuration.maxReconsumeTimes)
        queues[q]!.sendBacks.insert(offset)
        _ = send(to: target, code: RequestCode.consumerSendMsgBack, extFields: h.extFields, timeout: configuration.offsetRequestTimeout,
                 kind: .sendBack(q, generation: s.generation, offset: offset, expired: expired),
                 into: &out)
    }

    private func storeHostAddress(_ h: MessageHost) -> Address? {
        guard h.address.count == 4 else { return nil }
        return Address(h.address.map(String.init).joined(separator: ".") + ":\(h.port)")
    }

    private mutating func sendBackDone(_ q: MessageQueue, generation: UInt64, offset: Int64, expired: Bool, ok: Bool, why: String,
                                       now: Timestamp, into out: inout [Action]) {
        guard withQueue(q, { s in s.generation == generation && s.sendBacks.remove(offset) != nil }) == true else { return }
        if ok {
            finish(q, offsets: [offset])
        } else if expired {
            // The listener still has it: it stays in flight, and is tried again at the next cleanup.
            out.append(.report(.sendBackFailed(q, offset: offset, why)))
        } else {
            sendBackFailedLocally(q, offset: offset, why: why, into: &out)
        }
        if phase == .drainingConsumption { checkDrained(now: now, into: &out) }
    }

    /// `ProcessQueue.cleanExpiredMsg`: from the lowest offset up (at most 16 per queue, stopping at the first
    /// that is not overdue), messages held by the listener longer than `consumeTimeout` are sent back; once
    /// the broker has them they no longer hold the offset back.
    private mutating func cleanExpired(now: Timestamp, into out: inout [Action]) {
        let limit = configuration.consumeTimeout.milliseconds
        for q in queues.keys.sorted() {
            let s = queues[q]!
            guard s.movedTo == nil else { continue }
            for o in s.processQueue.offsets.prefix(16) {
                if s.sendBacks.contains(o) || s.redeliveries.contains(o) { continue }
                guard let at = s.processQueue.deliveredAt(o), now.millisecondsSinceEpoch - at > limit else { break }
                out.append(.report(.consumeTimeout(q, offset: o)))
                sendBack(q, offset: o, expired: true, into: &out)
            }
        }
    }

    /// The send-back failed: the message stays in flight and is delivered again after a delay, with one more
    /// reconsume time (Java `submitConsumeRequestLater`).
    private mutating func sendBackFailedLocally(_ q: MessageQueue, offset: Int64, why: String, into out: inout [Action]) {
        let running = phase == .running
        guard let schedule = withQueue(q, { s -> Bool? in
            guard s.processQueue.updateMessage(at: offset, { $0.reconsumeTimes += 1 }) else { return nil }
            s.redeliveries.append(offset)
            let schedule = !s.redeliveryScheduled && running
            if schedule { s.redeliveryScheduled = true }
            return schedule
        }), let schedule else { return }
        out.append(.report(.sendBackFailed(q, offset: offset, why)))
        if schedule { out.append(.schedule(.redeliver(q), after: configuration.localRedeliveryDelay)) }
    }

    // MARK: - Offsets

    /// UPDATE_CONSUMER_OFFSET (oneway) for one queue, or the local store in broadcasting mode.
    private mutating func persist(_ q: MessageQueue, into out: inout [Action]) {
        guard let s = queues[q], let offset = s.committedOffset else { return }
        switch configuration.messageModel {
        case .broadcasting:
            localOffsets[q] = offset
            out.append(.persistLocalOffsets(localOffsets))
        case .clustering:
            sendCommit(q, offset: offset, into: &out)
        }
    }

    @discardableResult
    private mutating func sendCommit(_ q: MessageQueue, offset: Int64, into out: inout [Action]) -> Bool {
        guard let master = masterAddress(of: q.brokerName) else {
            out.append(.report(.noMasterAddress(brokerName: q.brokerName)))
            return false
        }
        let h = UpdateConsumerOffsetRequestHeader(consumerGroup: configuration.group, topic: q.topic, queueId: q.queueId,
                                                  commitOffset: offset)
        sendOneway(to: master, code: RequestCode.updateConsumerOffset, extFields: h.extFields, into: &out)
        return true
    }

    private mutating func persistAll(into out: inout [Action]) {
        switch configuration.messageModel {
        case .broadcasting:
            for (q, s) in queues { if let o = s.committedOffset { localOffsets[q] = o } }
            if !localOffsets.isEmpty { out.append(.persistLocalOffsets(localOffsets)) }
        case .clustering:
            for q in queues.keys.sorted() {
                if let o = queues[q]!.committedOffset { sendCommit(q, offset: o, into: &out) }
            }
        }
    }

    private mutating func handleResetOffset(_ request: RemotingCommand, from broker: BrokerAddress, now: Timestamp,
                                            into out: inout [Action]) {
        guard request.extFields?["group"] == configuration.group, let topic = request.extFields?["topic"] else {
            out.append(.log("RESET_CONSUMER_CLIENT_OFFSET for another group or without topic ignored"))
            return
        }
        guard let body = request.body, let table = ResetOffsetBody.decode(body) else {
            out.append(.report(.unsupportedRequest(code: request.code, from: broker, "ResetOffsetBody did not decode")))
            return
        }
        guard phase == .running else { return }
        // MQClientInstance.resetOffset: drop the topic's queues, store the new offsets, persist, remove; the
        // rebalance adds them again and reads the new offsets from the broker.
        for q in queues.keys.sorted() where q.topic == topic {
            guard let offset = table[q] else { continue }
            queues[q]!.committedOffset = offset
            if configuration.messageModel == .broadcasting { localOffsets[q] = offset }
            persist(q, into: &out)
            queues[q] = nil
        }
        out.append(.log("RESET_CONSUMER_CLIENT_OFFSET \(topic): \(table.count) offset(s)"))
        rebalance(topic: topic, now: now, into: &out)
    }

    // MARK: - Broker requests

    private mutating func handleConsumeDirectly(_ request: RemotingCommand, from broker: BrokerAddress, into out: inout [Action]) {
        let group = request.extFields?["consumerGroup"]
        guard group == configuration.group else {
            out.append(.respond(to: broker, command: .response(to: request, code: ResponseCode.systemError,
                remark: "The Consumer Group <\(group ?? "")> not exist in this consumer")))
            return
        }
        guard let body = request.body, let m = StoredMessageDecoder.decodeAll(body).messages.first else {
            out.append(.respond(to: broker, command: .response(to: request, code: ResponseCode.systemError,
                                                               remark: "the message body did not decode")))
            return
        }
        let id = DirectConsumeID(nextDirect)
        nextDirect += 1
        directRequests[id] = (broker, request)
        let queue = MessageQueue(topic: m.topic, brokerName: request.extFields?["brokerName"] ?? "", queueId: m.queueId)
        var topic = m.topic
        if m.topic == configuration.retryTopic, let t = m.property("RETRY_TOPIC") { topic = t }
        out.append(.consumeDirectly(id, DeliveredMessage(queue: queue, queueOffset: m.queueOffset, topic: topic, tags: m.tags,
                                                         reconsumeTimes: m.reconsumeTimes, message: m)))
    }

    /// ConsumerRunningInfo as fastjson writes it (members alphabetical; mqTable keyed by MessageQueue objects).
    public func runningInfo(now: Timestamp) -> JSONValue {
        func mqJSON(_ q: MessageQueue) -> JSONValue {
            .object([JSONMember("brokerName", .string(q.brokerName)), JSONMember("queueId", .number(String(q.queueId))),
                     JSONMember("topic", .string(q.topic))])
        }
        let mqTable: [JSONMember] = queues.keys.sorted().map { q in
            let s = queues[q]!
            let info: JSONValue = .object([
                JSONMember("cachedMsgCount", .number(String(s.processQueue.count))),
                JSONMember("cachedMsgMaxOffset", .number(String(s.processQueue.maxInFlight ?? 0))),
                JSONMember("cachedMsgMinOffset", .number(String(s.processQueue.minInFlight ?? 0))),
                JSONMember("commitOffset", .number(String(s.committedOffset ?? -1))),
                JSONMember("droped", .bool(s.movedTo != nil)),
                JSONMember("lastConsumeTimestamp", .number(String(s.lastConsume))),
                JSONMember("lastLockTimestamp", .number("0")),
                JSONMember("lastPullTimestamp", .number(String(s.lastPull))),
                JSONMember("locked", .bool(false)),
                JSONMember("transactionMsgCount", .number("0")),
                JSONMember("transactionMsgMaxOffset", .number("0")),
                JSONMember("transactionMsgMinOffset", .number("0")),
                JSONMember("tryUnlockTimes", .number("0")),
            ])
            return JSONMember(key: .object(mqJSON(q)), value: info)
        }
        let props: [(String, String)] = [
            ("PROP_CLIENT_VERSION", "V4_9_4"),
            ("PROP_CONSUMEORDERLY", "false"),
            ("PROP_CONSUMER_START_TIMESTAMP", String(startedAt.millisecondsSinceEpoch)),
            ("PROP_CONSUME_TYPE", "CONSUME_PASSIVELY"),
            ("PROP_NAMESERVER_ADDR", configuration.nameServers.map(\.hostPort).joined(separator: ";")),
            ("PROP_THREADPOOL_CORE_SIZE", "20"),
            ("allocateMessageQueueStrategy", configuration.allocation.rawValue),
            ("consumeFromWhere", configuration.consumeFrom.javaName),
            ("consumeMessageBatchMaxSize", String(configuration.consumeMessageBatchMaxSize)),
            ("consumerGroup", configuration.group),
            ("maxReconsumeTimes", String(configuration.maxReconsumeTimes)),
            ("messageModel", configuration.messageModel.rawValue),
            ("pullBatchSize", String(configuration.pullBatchSize)),
            ("pullThresholdForQueue", String(configuration.pullThresholdForQueue)),
        ]
        let status: [JSONMember] = configuration.subscribedTopics.sorted { $0.utf16.lexicographicallyPrecedes($1.utf16) }.map { t in
            JSONMember(t, .object([
                JSONMember("consumeFailedMsgs", .number(String(consumeFailedCount[t] ?? 0))),
                JSONMember("consumeFailedTPS", .number("0.0")),
                JSONMember("consumeOKTPS", .number("0.0")),
                JSONMember("consumeRT", .number("0.0")),
                JSONMember("pullRT", .number("0.0")),
                JSONMember("pullTPS", .number("0.0")),
            ]))
        }
        let subs: [JSONValue] = subscriptions.map { s in
            .object([
                JSONMember("classFilterMode", .bool(false)),
                JSONMember("codeSet", .array(s.codeSet.map { .number(String($0)) })),
                JSONMember("expressionType", .string(s.expressionType)),
                JSONMember("subString", .string(s.subString)),
                JSONMember("subVersion", .number(String(s.subVersion))),
                JSONMember("tagsSet", .array(s.tagsSet.map(JSONValue.string))),
                JSONMember("topic", .string(s.topic)),
            ])
        }
        return .object([
            JSONMember("mqTable", .object(mqTable)),
            JSONMember("properties", .object(props.map { JSONMember($0.0, .string($0.1)) })),
            JSONMember("statusTable", .object(status)),
            JSONMember("subscriptionSet", .array(subs)),
        ])
    }

    // MARK: - Shutdown

    /// Nothing delivered is still being consumed (messages waiting for local redelivery do not count: they
    /// will not be delivered again during shutdown) and no send-back is unanswered.
    private var isDrained: Bool {
        queues.values.allSatisfy { s in
            s.sendBacks.isEmpty && s.processQueue.offsets.allSatisfy { s.redeliveries.contains($0) }
        }
    }

    private mutating func checkDrained(now: Timestamp, into out: inout [Action]) {
        if isDrained { finishDraining(now: now, into: &out) }
    }

    private mutating func finishDraining(now: Timestamp, into out: inout [Action]) {
        guard phase == .drainingConsumption else { return }
        phase = .unregistering
        // Whatever is still in flight stays uncommitted: the committable offset is below it.
        for q in queues.keys.sorted() {
            let s = queues[q]!
            let waiting = s.processQueue.offsets.filter { !s.sendBacks.contains($0) }
            if !waiting.isEmpty { report.unconsumed[q] = waiting }
            if !s.sendBacks.isEmpty { report.pendingSendBacks[q] = s.sendBacks.sorted() }
        }
        // Persist every offset.
        switch configuration.messageModel {
        case .broadcasting:
            for (q, s) in queues { if let o = s.committedOffset { localOffsets[q] = o; report.persistedOffsets[q] = o } }
            if !localOffsets.isEmpty { out.append(.persistLocalOffsets(localOffsets)) }
        case .clustering:
            for q in queues.keys.sorted() {
                guard let o = queues[q]!.committedOffset else { continue }
                if sendCommit(q, offset: o, into: &out) { report.persistedOffsets[q] = o } else { report.offsetsNotPersisted[q] = o }
            }
        }
        // Pending send-backs are abandoned now: their messages were not committed.
        for (id, p) in pending { if case .sendBack = p.kind { pending[id] = nil } }
        // Unregister the consumer group, then the inner producer, at every broker.
        for a in allBrokerAddresses {
            for h in [UnregisterClientRequestHeader(clientID: clientID, consumerGroup: configuration.group),
                      UnregisterClientRequestHeader(clientID: clientID, producerGroup: Self.innerProducerGroup)] {
                if let id = send(to: a, code: RequestCode.unregisterClient, extFields: h.extFields, timeout: configuration.rpcTimeout,
                                 kind: .unregister, into: &out) {
                    unregisterPending.insert(id)
                }
            }
        }
        if unregisterPending.isEmpty { finishShutdown(into: &out) }
    }

    private mutating func unregisterDone(_ id: RequestID, into out: inout [Action]) {
        guard phase == .unregistering, unregisterPending.remove(id) != nil, unregisterPending.isEmpty else { return }
        finishShutdown(into: &out)
    }

    private mutating func finishShutdown(into out: inout [Action]) {
        phase = .finished
        queues = [:]
        pending = [:]
        out.append(.closeConnections)
        out.append(.finished(report))
    }

    // MARK: - Failures

    private mutating func fail(_ p: Pending, id: RequestID, reason: FailureReason, now: Timestamp, into out: inout [Action]) {
        switch p.kind {
        case .route(let topic, let attempt):
            out.append(.report(.nameServerFailed(p.address, topic: topic, reason)))
            if !configuration.nameServers.isEmpty, configuration.nameServers[nameServerIndex % configuration.nameServers.count] == p.address {
                nameServerIndex += 1
            }
            if attempt + 1 < configuration.nameServers.count, phase == .starting || phase == .running,
               let next = sendRoute(topic: topic, attempt: attempt + 1, into: &out) {
                if startupRoutesPending.remove(id) != nil { startupRoutesPending.insert(next) }
            } else {
                routeDone(id, now: now, into: &out)
            }
        case .heartbeat:
            out.append(.report(.heartbeatFailed(p.address, reason.description)))
            heartbeatDone(id, now: now, into: &out)
        case .consumerList(let topic, let round):
            guard consumerListInFlight[topic] == round else { return }
            consumerListInFlight[topic] = nil
            out.append(.report(.consumerListFailed(topic: topic, reason.description)))
            rebalanceIfAsked(topic, now: now, into: &out)
        case .queryOffset(let q, let round):
            startOffsetStep(q, round: round, stored: .failed("QUERY_CONSUMER_OFFSET: \(reason)"), now: now, into: &out)
        case .maxOffset(let q, let round):
            failLookup(q, round: round, why: "GET_MAX_OFFSET: \(reason)", now: now, into: &out)
        case .searchOffset(let q, let round):
            failLookup(q, round: round, why: "SEARCH_OFFSET_BY_TIMESTAMP: \(reason)", now: now, into: &out)
        case .pull(let q, let generation):
            guard var s = queues[q], s.generation == generation, s.pullInFlight == id else { return }
            s.pullInFlight = nil
            queues[q] = s
            guard phase == .running else { return }
            out.append(.report(.pullFailed(q, reason.description, retryAfter: configuration.delayAfterException)))
            pullLater(q, after: configuration.delayAfterException, into: &out)
        case .sendBack(let q, let generation, let offset, let expired):
            sendBackDone(q, generation: generation, offset: offset, expired: expired, ok: false, why: reason.description, now: now,
                         into: &out)
        case .unregister:
            report.unregisterFailed[p.address] = reason.description
            out.append(.report(.unregisterFailed(p.address, reason.description)))
            unregisterDone(id, into: &out)
        }
    }

    // MARK: - Sending

    private mutating func makeRequest(code: Int32, extFields: ExtFields?, body: [UInt8]?, oneway: Bool) -> (RemotingCommand, RequestID) {
        let id = RequestID(nextRequest)
        nextRequest += 1
        var c = RemotingCommand.request(code: code, opaque: id.opaque, extFields: extFields, body: body.map { ByteBuffer(bytes: $0) },
                                        oneway: oneway, version: configuration.clientVersion)
        if let cred = configuration.credentials { c = AclSigner(credentials: cred).sign(c) }
        return (c, id)
    }

    private mutating func send(to address: Address, code: Int32, extFields: ExtFields?, body: [UInt8]? = nil, timeout: Duration,
                               kind: PendingKind, into out: inout [Action]) -> RequestID? {
        let (c, id) = makeRequest(code: code, extFields: extFields, body: body, oneway: false)
        pending[id] = Pending(kind: kind, address: address)
        out.append(.send(to: address, command: c, id: id, timeout: timeout))
        return id
    }

    private mutating func sendOneway(to address: Address, code: Int32, extFields: ExtFields?, into out: inout [Action]) {
        let (c, _) = makeRequest(code: code, extFields: extFields, body: nil, oneway: true)
        out.append(.sendOneway(to: address, command: c))
    }
}

extension JSONValue {
    /// Compact UTF-8 bytes.
    var bytes: [UInt8] {
        var out: [UInt8] = []
        JSONWriter.write(self, into: &out)
        return out
    }
}

/// RESET_CONSUMER_CLIENT_OFFSET body: `{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"t"}:100}}`, or the
/// C++ form `{"offsetTable":[{"brokerName":..,"offset":..,"queueId":..,"topic":..}]}`.
public enum ResetOffsetBody {
    public static func decode(_ body: ByteBuffer) -> [MessageQueue: Int64]? {
        guard let v = try? body.withUnsafeReadableBytes({ try JSONParser.parse($0, context: "ResetOffsetBody") }),
              let table = v["offsetTable"] else { return nil }
        func queue(_ o: JSONValue) -> MessageQueue? {
            guard let t = o["topic"]?.stringValue, let b = o["brokerName"]?.stringValue,
                  let q = o["queueId"]?.int64Value, let qid = Int32(exactly: q) else { return nil }
            return MessageQueue(topic: t, brokerName: b, queueId: qid)
        }
        var out: [MessageQueue: Int64] = [:]
        if let members = table.objectMembers {
            for m in members {
                guard case .object(let k) = m.key, let q = queue(k), let o = m.value.int64Value else { return nil }
                out[q] = o
            }
        } else if let items = table.arrayValue {
            for i in items {
                guard let q = queue(i), let o = i["offset"]?.int64Value else { return nil }
                out[q] = o
            }
        } else {
            return nil
        }
        return out
    }

    /// fastjson's text of a table (object keys), for tests and tools.
    public static func encode(_ table: [MessageQueue: Int64]) -> [UInt8] {
        let members = table.keys.sorted().map { q in
            JSONMember(key: .object(.object([JSONMember("brokerName", .string(q.brokerName)),
                                              JSONMember("queueId", .number(String(q.queueId))),
                                              JSONMember("topic", .string(q.topic))])),
                       value: .number(String(table[q]!)))
        }
        return JSONValue.object([JSONMember("offsetTable", .object(members))]).bytes
    }
}
