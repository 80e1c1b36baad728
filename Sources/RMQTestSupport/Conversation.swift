import NIOCore
import RocketMQRemoting
import RMQTraceModel

/// Test support, not production API.
///
/// Builds the observed-event stream a live tool or a capture would produce, without TCP: connections, requests
/// and their answers, with a clock. Tracker and analyzer tests feed it straight to `ExchangeTracker`.
public struct Conversation {
    public private(set) var events: [ObservedEvent] = []
    public var now: Int64
    private var nextConnection = 1
    private var nextOpaque: Int32 = 1
    private var ends: [Int: ObservedConnection] = [:]

    public init(startSeconds: Int64 = 1_764_000_000) { now = startSeconds * 1_000_000_000 }

    public var time: CaptureTime { CaptureTime(nanoseconds: now) }
    public mutating func wait(ms: Double) { now += Int64(ms * 1_000_000) }
    public mutating func wait(seconds: Double) { wait(ms: seconds * 1000) }

    /// Opens a connection from `client` to `server` ("a.b.c.d:port"); returns its id.
    @discardableResult
    public mutating func connect(client: String, server: String, role: Role? = nil) -> Int {
        let id = nextConnection
        nextConnection += 1
        let c = ObservedConnection(id: id, client: ScenarioBuilder.ep(client), server: ScenarioBuilder.ep(server),
                                   serverRole: role, time: time)
        ends[id] = c
        events.append(.opened(c))
        return id
    }

    public mutating func close(_ connection: Int, reason: String = "closed") {
        events.append(.closed(connection: connection, reason: reason, time: time))
    }

    /// A request from the connecting side; returns it so that an answer can follow.
    @discardableResult
    public mutating func request(_ connection: Int, _ code: Int32, _ ext: ExtFields? = nil, body: [UInt8]? = nil,
                                 oneway: Bool = false) -> RemotingCommand {
        let cmd = RemotingCommand.request(code: code, opaque: nextOpaque, extFields: ext, body: body.map { ByteBuffer(bytes: $0) },
                                          oneway: oneway)
        nextOpaque += 1
        send(connection, .toServer, cmd)
        return cmd
    }

    /// A request from the accepting side (a broker calling a client).
    @discardableResult
    public mutating func serverRequest(_ connection: Int, _ code: Int32, _ ext: ExtFields? = nil, oneway: Bool = true) -> RemotingCommand {
        let cmd = RemotingCommand.request(code: code, opaque: nextOpaque, extFields: ext, oneway: oneway)
        nextOpaque += 1
        send(connection, .toClient, cmd)
        return cmd
    }

    /// The answer to `request`, `ms` later.
    public mutating func answer(_ connection: Int, _ request: RemotingCommand, _ code: Int32 = ResponseCode.success,
                                remark: String? = nil, ext: ExtFields? = nil, body: [UInt8]? = nil, after ms: Double = 1) {
        wait(ms: ms)
        let cmd = RemotingCommand.response(to: request, code: code, remark: remark, extFields: ext,
                                           body: body.map { ByteBuffer(bytes: $0) })
        send(connection, .toClient, cmd)
    }

    /// A request and its answer.
    public mutating func exchange(_ connection: Int, _ code: Int32, _ ext: ExtFields? = nil, body: [UInt8]? = nil,
                                  answer code2: Int32 = ResponseCode.success, remark: String? = nil, answerExt: ExtFields? = nil,
                                  answerBody: [UInt8]? = nil, after ms: Double = 1) {
        let r = request(connection, code, ext, body: body)
        answer(connection, r, code2, remark: remark, ext: answerExt, body: answerBody, after: ms)
    }

    public mutating func send(_ connection: Int, _ direction: FrameDirection, _ cmd: RemotingCommand) {
        let size = RemotingFrame.encode(cmd).readableBytes
        events.append(.frame(ObservedFrame(connection: connection, direction: direction, time: time, command: cmd, size: size)))
        wait(ms: 0.05)
    }

    // MARK: the consume flow's usual frames

    /// HEART_BEAT of a push consumer with one subscription per (topic, expression).
    public mutating func heartbeat(_ connection: Int, clientID: String, group: String, subscriptions: [(String, String)],
                                   model: String = "CLUSTERING") {
        exchange(connection, RequestCode.heartBeat,
                 body: ScenarioBuilder.heartbeat(clientID: clientID, group: group, subscriptions: subscriptions, model: model))
    }

    public mutating func route(_ connection: Int, topic: String, brokers: [(name: String, addr: String)], queues: Int32) {
        exchange(connection, RequestCode.getRouteInfoByTopic, GetRouteInfoRequestHeader(topic: topic).extFields,
                 answerBody: ScenarioBuilder.route(brokers: brokers, queues: queues))
    }

    public mutating func consumerList(_ connection: Int, group: String, ids: [String]) {
        exchange(connection, RequestCode.getConsumerListByGroup, ConsumerGroupHeader(consumerGroup: group).extFields,
                 answerBody: Array(JSONValue.object([JSONMember("consumerIdList", .array(ids.map { .string($0) }))]).compactText.utf8))
    }

    /// A pull of `queueId` at `offset` answered FOUND with `count` messages (or NOT_FOUND when 0).
    public mutating func pull(_ connection: Int, group: String, topic: String, queueId: Int32, offset: Int64, count: Int,
                              maxOffset: Int64, commit: Int64? = nil, after ms: Double = 2, tags: String = "TagA") {
        let r = request(connection, RequestCode.pullMessage,
                        ScenarioBuilder.pull(group: group, topic: topic, queueId: queueId, offset: offset, commit: commit))
        let header = PullMessageResponseHeader(nextBeginOffset: offset + Int64(count), minOffset: 0, maxOffset: maxOffset).extFields
        if count > 0 {
            answer(connection, r, ResponseCode.success, remark: "FOUND", ext: header,
                   body: ScenarioBuilder.messages(topic: topic, queueId: queueId, from: offset, count: count, tags: tags), after: ms)
        } else {
            answer(connection, r, ResponseCode.pullNotFound, remark: "OFFSET_OVERFLOW_ONE", ext: header, after: ms)
        }
    }

    public mutating func commit(_ connection: Int, group: String, topic: String, queueId: Int32, offset: Int64) {
        request(connection, RequestCode.updateConsumerOffset,
                UpdateConsumerOffsetRequestHeader(consumerGroup: group, topic: topic, queueId: queueId, commitOffset: offset).extFields,
                oneway: true)
    }

    public mutating func unregister(_ connection: Int, clientID: String, group: String) {
        exchange(connection, RequestCode.unregisterClient,
                 UnregisterClientRequestHeader(clientID: clientID, consumerGroup: group).extFields)
    }
}
