import RMQTraceModel
import NIOCore
import RocketMQRemoting

/// What the exchange tracker is told: how to recognise servers, how much to remember, what to build.
public struct TrackerConfiguration: Sendable {
    /// Requests awaiting an answer, per connection.
    public var maxPendingPerConnection = 8192
    /// A response whose request was not seen yet is held this long (capture time), and up to
    /// `maxHeldPerConnection` per connection, in case the request follows: captures do not always record
    /// packets in send order. 0 turns holding off.
    public var holdUnmatchedNanos: Int64 = 50_000_000
    public var maxHeldPerConnection = 64
    public var nameServerPorts: Set<UInt16> = [9876]
    public var brokerPorts: Set<UInt16> = [10911, 10909, 8080]
    /// Decode every stored message of pull bodies (for message listings); otherwise records are only walked.
    public var decodeMessages = false
    /// Emit a `.frame` event per frame. A summary-only consumer turns it off: the frames still go through
    /// pairing, statistics and the analyzer, but no event is built for them.
    public var emitFrameEvents = true
    public var analyzer = ConsumeFlowAnalyzer.Configuration()
    public init() {}
}

/// Counters and latency histograms for the summary.
public struct TraceStatistics: Sendable {
    public struct CodeStats: Sendable {
        public var requests = 0
        public var oneways = 0
        public var answered = 0
        public var unanswered = 0
        public var latency = LatencyHistogram()
        public var responses: [Int32: Int] = [:]

        mutating func answered(code: Int32, nanos: Int64) {
            answered += 1
            latency.add(nanos: max(0, nanos))
            responses[code, default: 0] += 1
        }
    }
    public var packets = 0
    public var tcpSegments = 0
    public var skippedPackets = 0
    public var malformedPackets = 0
    public var connections = 0
    public var frames = 0
    public var jsonFrames = 0
    public var binaryFrames = 0
    public var payloadBytes: UInt64 = 0
    public var lostBytes: UInt64 = 0
    public var resyncBytes: UInt64 = 0
    public var badFrames = 0
    public var tlsBytes: UInt64 = 0
    public var orphanResponses = 0
    public var byRequestCode: [Int32: CodeStats] = [:]
    public var firstTime: CaptureTime?
    public var lastTime: CaptureTime?
}

/// The exchange tracker: observed frames from any source (a capture, the live consumer, the embedded broker)
/// in, trace events out. It names the ends of each connection, learns roles, pairs requests with answers by
/// (connection, requester, opaque), measures latency, keeps the statistics and runs the consume-flow analyzer.
/// A value with no I/O.
public struct ExchangeTracker: Sendable {
    struct Pending: Sendable {
        var frame: FrameRecord
    }
    struct Connection: Sendable {
        var observed: ObservedConnection
        /// The ends as text, computed once rather than per frame.
        let clientName: String
        let serverName: String
        /// Senders whose stream lost bytes (their answers may be among them).
        var lostFrom: Set<String> = []
        var pending: [PendingKey: Pending] = [:]
        /// The ends' slots in the role table (no String hashed per frame).
        var clientSlot = 0
        var serverSlot = 0

        init(_ observed: ObservedConnection) {
            self.observed = observed
            clientName = observed.client.description
            serverName = observed.server.description
        }

        /// Adds a request awaiting its answer; at `limit`, the oldest waiting one is dropped first and returned.
        mutating func addPending(_ key: PendingKey, _ p: Pending, limit: Int) -> Pending? {
            var evicted: Pending? = nil
            if pending.count >= limit, let oldest = pending.min(by: { $0.value.frame.index < $1.value.frame.index }) {
                pending.removeValue(forKey: oldest.key)
                evicted = oldest.value
            }
            pending[key] = p
            return evicted
        }

        func names(_ direction: FrameDirection) -> Ends {
            direction == .toServer
                ? Ends(source: clientName, destination: serverName, sourceSlot: clientSlot, destinationSlot: serverSlot, sourceIsClient: true)
                : Ends(source: serverName, destination: clientName, sourceSlot: serverSlot, destinationSlot: clientSlot, sourceIsClient: false)
        }
    }
    /// The ends of a frame: names, role-table slots, and which one is the connection's client side.
    struct Ends {
        var source: String
        var destination: String
        var sourceSlot: Int
        var destinationSlot: Int
        var sourceIsClient: Bool
    }
    /// A request awaiting its answer on one connection: which end asked (client or server side) and the opaque.
    struct PendingKey: Hashable, Sendable {
        var requesterIsClient: Bool
        var opaque: Int32
    }

    public let configuration: TrackerConfiguration
    private var connections: ConnectionMap<Connection> = [:]
    /// Roles by endpoint: a slot per endpoint name, the role (nil: never set) per slot.
    private var endpointSlots: [String: Int] = [:]
    private var slotRoles: [Role?] = []
    public private(set) var analyzer: ConsumeFlowAnalyzer
    /// Mutable so that a source can count what only it sees (packets, segments, payload bytes).
    public var statistics = TraceStatistics()
    private var frameIndex = 0
    private var findings: [Finding] = []
    private var unansweredFrames: [Int32: [Int]] = [:]
    private var unansweredTime: [Int32: CaptureTime] = [:]
    /// Credential values seen in extFields, so that text quoting them (AclException remarks) is scrubbed too.
    private var knownSecrets: [String] = []
    /// AccessKeys in order of appearance: `account-N` names the N-th (the key itself is never printed).
    private var accountKeys: [String] = []
    static let maxKnownSecrets = 256

    public init(configuration: TrackerConfiguration = TrackerConfiguration()) {
        self.configuration = configuration
        self.analyzer = ConsumeFlowAnalyzer(configuration: configuration.analyzer)
    }

    // MARK: input

    /// One observed event: a connection opened or closed, a frame, a gap.
    public mutating func observe(_ event: ObservedEvent, into events: inout [TraceEvent]) {
        observe(event, mayHold: configuration.holdUnmatchedNanos > 0, into: &events)
    }

    private mutating func observe(_ event: ObservedEvent, mayHold: Bool, into events: inout [TraceEvent]) {
        switch event {
        case .opened(let c):
            open(c, into: &events)
        case .frame(let f):
            guard let names = connections.modifyValue(forKey: f.connection, { $0.names(f.direction) }) else { return }
            if mayHold { releaseExpired(connection: f.connection, now: f.time, into: &events) }
            if mayHold, f.command.isResponse,
               connections.modifyValue(forKey: f.connection, { $0.pending[PendingKey(requesterIsClient: !names.sourceIsClient, opaque: f.command.opaque)] == nil }) ?? true {
                hold(event, connection: f.connection, requester: names.destination, opaque: f.command.opaque, time: f.time, into: &events)
                return
            }
            frame(f.command, size: f.size, time: f.time, connection: f.connection, ends: names, into: &events)
            if !f.command.isResponse { releaseMatching(connection: f.connection, requester: names.source, opaque: f.command.opaque, into: &events) }
        case .rawFrame(let id, let direction, let time, let bytes, let offset):
            guard let names = connections.modifyValue(forKey: id, { $0.names(direction) }) else { return }  // read in place: no copy of the connection
            if mayHold { releaseExpired(connection: id, now: time, into: &events) }
            let outcome = rawFrame(bytes, time: time, streamOffset: offset, connection: id, ends: names, mayHold: mayHold, into: &events)
            switch outcome {
            case .unmatchedResponse(let opaque):
                hold(event, connection: id, requester: names.destination, opaque: opaque, time: time, into: &events)
            case .request(let opaque):
                releaseMatching(connection: id, requester: names.source, opaque: opaque, into: &events)
            case .done:
                break
            }
        case .gap(let g):
            gap(g, into: &events)
        case .closed(let id, let reason, let time):
            releaseAll(connection: id, into: &events)
            close(id, reason: reason, time: time, into: &events)
        }
    }

    // MARK: responses seen before their requests

    struct Held: Sendable {
        var event: ObservedEvent
        var requester: String
        var opaque: Int32
        var time: CaptureTime
    }
    private var held: ConnectionMap<[Held]> = [:]

    private mutating func hold(_ event: ObservedEvent, connection id: Int, requester: String, opaque: Int32, time: CaptureTime,
                               into events: inout [TraceEvent]) {
        if let count = held[id]?.count, count >= configuration.maxHeldPerConnection, let oldest = held[id]?.removeFirst() {
            observe(oldest.event, mayHold: false, into: &events)
        }
        held[id, default: []].append(Held(event: event, requester: requester, opaque: opaque, time: time))
    }

    /// A request arrived: a response held for it is paired now.
    private mutating func releaseMatching(connection id: Int, requester: String, opaque: Int32, into events: inout [TraceEvent]) {
        guard !held.isEmpty, let list = held[id], let i = list.firstIndex(where: { $0.requester == requester && $0.opaque == opaque }) else { return }
        let h = held[id]!.remove(at: i)
        observe(h.event, mayHold: false, into: &events)
    }

    /// Responses held longer than the window go on unpaired.
    private mutating func releaseExpired(connection id: Int, now: CaptureTime, into events: inout [TraceEvent]) {
        guard !held.isEmpty, let first = held[id]?.first, now.nanoseconds - first.time.nanoseconds > configuration.holdUnmatchedNanos else { return }
        while let h = held[id]?.first, now.nanoseconds - h.time.nanoseconds > configuration.holdUnmatchedNanos {
            held[id]!.removeFirst()
            observe(h.event, mayHold: false, into: &events)
        }
    }

    private mutating func releaseAll(connection id: Int, into events: inout [TraceEvent]) {
        guard let list = held.removeValue(forKey: id) else { return }
        for h in list { observe(h.event, mayHold: false, into: &events) }
    }

    /// End of input: requests left unanswered and the whole-run findings. Connections still open are closed
    /// with `reason` first.
    public mutating func finish(closing reason: String = "end of capture", into events: inout [TraceEvent]) {
        for id in held.ids.sorted() { releaseAll(connection: id, into: &events) }
        for id in connections.ids.sorted() { close(id, reason: reason, time: statistics.lastTime ?? CaptureTime(nanoseconds: 0), into: &events) }
        findings.removeAll()
        analyzer.finish(findings: &findings)
        for code in unansweredFrames.keys.sorted() {
            let frames = unansweredFrames[code] ?? []
            let n = statistics.byRequestCode[code]?.unanswered ?? frames.count
            let pull = code == RequestCode.pullMessage
            findings.append(Finding(severity: pull ? .info : .warning, detail: .unanswered(request: code, count: n),
                                    frames: Array(frames.prefix(configuration.analyzer.maxFramesPerFinding)), time: unansweredTime[code]))
        }
        for f in findings { events.append(.finding(f)) }
    }

    private mutating func open(_ c: ObservedConnection, into events: inout [TraceEvent]) {
        var conn = Connection(c)
        conn.clientSlot = slot(conn.clientName)
        conn.serverSlot = slot(conn.serverName)
        connections[c.id] = conn
        statistics.connections += 1
        if statistics.firstTime == nil { statistics.firstTime = c.time }
        analyzer.connectionOpened(c.id)
        if let role = c.serverRole {
            slotRoles[conn.serverSlot] = role
            if slotRoles[conn.clientSlot] == nil { slotRoles[conn.clientSlot] = .client }
        } else if c.orientationKnown {
            assignByPort(server: c.server, client: c.client)
        } else {
            assignByPort(c.client, c.server)
        }
        events.append(.connectionOpened(id: c.id, client: c.orientationKnown ? c.client.description : nil,
                                        server: c.orientationKnown ? c.server.description : nil, time: c.time))
    }

    private mutating func gap(_ g: ObservedGap, into events: inout [TraceEvent]) {
        guard let names = connections[g.connection]?.names(g.direction) else { return }
        switch g.kind {
        case .lostBytes:
            statistics.lostBytes += g.byteCount
            connections.modifyValue(forKey: g.connection) { _ = $0.lostFrom.insert(names.source) }
        case .resync: statistics.resyncBytes += g.byteCount
        case .badFrame: statistics.badFrames += 1
        case .tls: statistics.tlsBytes += g.byteCount
        }
        events.append(.gap(GapRecord(time: g.time, connection: g.connection, source: names.source, destination: names.destination,
                                     kind: g.kind, byteCount: g.byteCount, streamOffset: g.streamOffset, detail: g.detail)))
    }

    private mutating func close(_ id: Int, reason: String, time: CaptureTime, into events: inout [TraceEvent]) {
        guard var conn = connections.removeValue(forKey: id) else { return }
        for p in conn.pending.values.sorted(by: { $0.frame.index < $1.frame.index }) {
            let lost = conn.lostFrom.contains(p.frame.destination)
            statistics.byRequestCode[p.frame.command.code, default: .init()].unanswered += 1
            if unansweredTime[p.frame.command.code] == nil { unansweredTime[p.frame.command.code] = p.frame.time }
            if unansweredFrames[p.frame.command.code, default: []].count < configuration.analyzer.maxFramesPerFinding {
                unansweredFrames[p.frame.command.code, default: []].append(p.frame.index)
            }
            let why = reason == "end of capture" ? "no answer by the end of the capture" : "connection ended (\(reason)) before the answer"
            events.append(.unanswered(p.frame, reason: lost ? "\(why); bytes from \(p.frame.destination) were lost in the capture, the answer may be among them" : why,
                                      listedAt: time))
        }
        conn.pending.removeAll()
        findings.clearKeepingCapacity()
        analyzer.connectionClosed(id, reason: reason, time: time, findings: &findings)
        for f in findings { events.append(.finding(f)) }
        events.append(.connectionClosed(id: id, reason: reason, time: time))
    }

    // MARK: roles

    private mutating func assignByPort(server: Endpoint, client: Endpoint?) {
        let role = portRole(server.port) ?? .unknown
        if role != .unknown { slotRoles[slot(server.description)] = role }
        if let client, role != .unknown { let c = slot(client.description); if slotRoles[c] == nil { slotRoles[c] = .client } }
    }

    private mutating func assignByPort(_ a: Endpoint, _ b: Endpoint) {
        let sa = slot(a.description), sb = slot(b.description)
        if let r = portRole(a.port) { slotRoles[sa] = r; if slotRoles[sb] == nil { slotRoles[sb] = .client } }
        if let r = portRole(b.port) { slotRoles[sb] = r; if slotRoles[sa] == nil { slotRoles[sa] = .client } }
    }

    private func portRole(_ port: UInt16) -> Role? {
        if configuration.nameServerPorts.contains(port) { return .nameServer }
        if configuration.brokerPorts.contains(port) { return .broker }
        return nil
    }

    /// Learns roles from what a request is (for unusual ports).
    private mutating func learnRoles(requestCode code: Int32, source: Int, destination: Int) {
        func set(_ e: Int, _ r: Role) { if slotRoles[e] == nil || slotRoles[e] == .unknown { slotRoles[e] = r } }
        switch code {
        case RequestCode.getRouteInfoByTopic, RequestCode.getBrokerClusterInfo:
            set(destination, .nameServer); set(source, .client)
        case RequestCode.registerBroker, RequestCode.unregisterBroker:
            set(destination, .nameServer); slotRoles[source] = .broker
        case RequestCode.notifyConsumerIdsChanged, RequestCode.resetConsumerClientOffset, RequestCode.getConsumerStatusFromClient,
             RequestCode.checkTransactionState, RequestCode.pushReplyMessageToClient:
            set(source, .broker); set(destination, .client)
        case RequestCode.pullMessage, RequestCode.sendMessage, RequestCode.sendMessageV2, RequestCode.sendBatchMessage,
             RequestCode.heartBeat, RequestCode.unregisterClient, RequestCode.queryConsumerOffset, RequestCode.updateConsumerOffset,
             RequestCode.getConsumerListByGroup, RequestCode.consumerSendMsgBack, RequestCode.lockBatchMQ, RequestCode.unlockBatchMQ:
            set(destination, .broker); set(source, .client)
        default:
            break
        }
    }

    public func role(of endpoint: String) -> Role { endpointSlots[endpoint].flatMap { slotRoles[$0] } ?? .unknown }

    /// The role-table slot of an endpoint name (created on first sight).
    private mutating func slot(_ name: String) -> Int {
        if let s = endpointSlots[name] { return s }
        let s = slotRoles.count
        endpointSlots[name] = s
        slotRoles.append(nil)
        return s
    }

    // MARK: frames

    static func summarize(_ cmd: RemotingCommand, requestCode: Int32?, decodeMessages: Bool) -> BodySummary {
        guard let body = cmd.body, body.readableBytes > 0 else { return .none }
        let length = body.readableBytes
        let isMessageResponse: Bool
        switch requestCode {
        case RequestCode.pullMessage?, RequestCode.litePullMessage?, RequestCode.queryMessage?, RequestCode.viewMessageById?,
             RequestCode.popMessage?:
            isMessageResponse = cmd.isResponse
        default:
            isMessageResponse = false
        }
        if isMessageResponse && !decodeMessages {
            let walk = StoredMessageDecoder.countRecords(body)
            var first: Int64? = nil
            var last: Int64? = nil
            if walk.count > 0 {
                first = body.getInteger(at: body.readerIndex + 20, as: Int64.self)
                var at = body.readerIndex
                for _ in 0..<(walk.count - 1) { at += Int(body.getInteger(at: at, as: Int32.self) ?? 0) }
                last = body.getInteger(at: at + 20, as: Int64.self)
            }
            return .messages(count: walk.count, firstOffset: first, lastOffset: last, clean: walk.clean)
        }
        do {
            switch try DecodedBody.decode(cmd, requestCode: requestCode) {
            case .none: return .none
            case .topicRoute(let r): return .route(r)
            case .heartbeat(let h): return .heartbeat(h)
            case .consumerIdList(let ids): return .consumerIds(ids)
            case .lockBatchRequest(let l): return .lockRequest(l)
            case .lockedQueues(let q): return .lockedQueues(q)
            case .queryAssignment(let b): return .queryAssignment(b)
            case .assignments(let a): return .assignments(a)
            case .requestMode(let b): return .requestMode(b)
            case .batchAck(let b): return .batchAck(b)
            case .messages(let batch):
                if let e = batch.error { return .undecodable(length: length, error: e.description) }
                return .messages(count: batch.messages.count, firstOffset: batch.messages.first?.queueOffset,
                                 lastOffset: batch.messages.last?.queueOffset, clean: true)
            case .messageBody(let b): return .messageBody(length: b.count)
            case .batch, .json, .raw: return .other(length: length)
            }
        } catch {
            return .undecodable(length: length, error: "\(error)")
        }
    }

    /// The queue id and offset of each stored record of a POP/PEEK answer (walked by TOTALSIZE, bounded).
    static func messageOffsets(_ cmd: RemotingCommand) -> [MessageOffset]? {
        guard let body = cmd.body, body.readableBytes >= 28 else { return nil }
        var out: [MessageOffset] = []
        var at = body.readerIndex
        let end = body.writerIndex
        while at + 28 <= end, out.count < FrameRecord.maxMessageOffsets {
            guard let size = body.getInteger(at: at, as: Int32.self), size >= 28, at + Int(size) <= end,
                  let queueId = body.getInteger(at: at + 12, as: Int32.self),
                  let offset = body.getInteger(at: at + 20, as: Int64.self) else { break }
            out.append(MessageOffset(queueId: queueId, offset: offset))
            at += Int(size)
        }
        return out
    }

    /// The TAGS property of each stored record of a pull answer (bounded; stops at the first bad record).
    static func messageTags(body: ByteBuffer?) -> [String?]? {
        guard let body else { return nil }
        var records = StoredMessageRecords(body)
        var out: [String?] = []
        while out.count < FrameRecord.maxMessageOffsets, let r = try? records.next() { out.append(r.tags) }
        return out
    }

    /// Credentials out of the frame before anything sees it: extFields values replaced, remarks scrubbed of
    /// known secret values and of `accessKey=…`-style text.
    /// Returns the label of the account that signed it, if any.
    @discardableResult
    private mutating func redact(_ cmd: inout RemotingCommand) -> String? {
        var account: String? = nil
        // Most frames carry no credential: asked of the frame's fields, without building the map.
        if cmd.hasSecretFields, let ext = cmd.extFields {
            if let ak = ext["AccessKey"], !ak.isEmpty {
                if let i = accountKeys.firstIndex(of: ak) {
                    account = "account-\(i + 1)"
                } else if accountKeys.count < Self.maxKnownSecrets {
                    accountKeys.append(ak)
                    account = "account-\(accountKeys.count)"
                }
            }
            for e in ext.entries where Redaction.isSecret(e.key) && e.value.utf8.count >= 4 && !knownSecrets.contains(e.value) {
                if knownSecrets.count >= Self.maxKnownSecrets { knownSecrets.removeFirst() }
                knownSecrets.append(e.value)
            }
            cmd.extFields = ext.redacted()
        }
        if let r = cmd.remark, r.utf8.count >= 4, !knownSecrets.isEmpty || r.utf8.count >= 9 {
            cmd.remark = Redaction.scrub(r, knownSecrets: knownSecrets)
        }
        return account
    }

    /// The request a response answers, taken out of the pending table (nil when it was not seen).
    private mutating func pairedRequest(connection id: Int, requesterIsClient: Bool, opaque: Int32) -> RequestRef? {
        guard let p = connections.modifyValue(forKey: id, { $0.pending.removeValue(forKey: PendingKey(requesterIsClient: requesterIsClient, opaque: opaque)) }) ?? nil else {
            statistics.orphanResponses += 1
            return nil
        }
        return Self.reference(p)
    }

    static func reference(_ p: Pending) -> RequestRef {
        RequestRef(code: p.frame.command.code, time: p.frame.time, frameIndex: p.frame.index, header: p.frame.header,
                   body: p.frame.body, account: p.frame.account)
    }

    /// One decoded command through pairing and annotation.
    private mutating func frame(_ command: RemotingCommand, size: Int, time: CaptureTime, connection id: Int, ends: Ends,
                               into events: inout [TraceEvent]) {
        var command = command
        let account = redact(&command)
        // The header bytes copied first (keep no reference into the stream's buffer or a mapped capture
        // window): the typed header's String spans then point into the copy the record keeps.
        command.detach()
        let request = command.isResponse ? pairedRequest(connection: id, requesterIsClient: !ends.sourceIsClient, opaque: command.opaque) : nil
        var header: TypedHeader? = nil
        var headerError: String? = nil
        do {
            // Straight from the frame's fields: no map built and turned back into a view.
            header = try command.typedHeader(requestCode: request?.code ?? -1)
        } catch {
            headerError = "\(error)"
        }
        record(consume command, size: size, time: time, connection: id, ends: ends, request: request, account: account,
               header: header, headerError: headerError, into: &events)
    }

    /// A frame the framer left undecoded (`.rawFrame`): straight to its typed header, paired on the way.
    enum RawOutcome { case done, request(opaque: Int32), unmatchedResponse(opaque: Int32) }

    @discardableResult
    private mutating func rawFrame(_ bytes: ByteBuffer, time: CaptureTime, streamOffset: UInt64, connection id: Int, ends: Ends,
                                   mayHold: Bool = false, into events: inout [TraceEvent]) -> RawOutcome {
        let requesterIsClient = !ends.sourceIsClient  // of a response
        var request: RequestRef? = nil
        var paired = false
        var unmatched = false
        do {
            var head: RemotingCommand
            let header: TypedHeader?
            // Requests wait in the pending table for their answers: their typed headers hold their text as
            // Strings of their own, not as spans keeping the stream's buffer (or a mapped capture window) alive.
            // (The command's own map is dropped below.)
            (head, header) = try RemotingFrame.decodeTyped(bytes, ownRequestText: true) { head in
                paired = true
                // One lookup: taken when there, held (or counted as an orphan) when not.
                if let p = connections.modifyValue(forKey: id, { $0.pending.removeValue(forKey: PendingKey(requesterIsClient: requesterIsClient, opaque: head.opaque)) }) ?? nil {
                    request = Self.reference(p)
                    return request?.code
                }
                if mayHold {
                    unmatched = true
                    return nil
                }
                statistics.orphanResponses += 1
                return nil
            }
            if unmatched { return .unmatchedResponse(opaque: head.opaque) }
            let outcome: RawOutcome = head.flag & RemotingCommand.responseFlag == 0 ? .request(opaque: head.opaque) : .done
            // decodeTyped pairs every response through the closure; the map itself is not read in this mode, and
            // is dropped in place (the command moves on to the record without a copy).
            head.extFields = head.hasExtFields ? ExtFields([]) : nil
            record(consume head, size: bytes.readableBytes, time: time, connection: id, ends: ends,
                   request: request, header: header, headerError: nil, into: &events)
            return outcome
        } catch {
            // The frame itself is bad, or only its typed header: the full decode tells which, as the framer would.
            guard var cmd = try? RemotingFrame.decode(bytes) else {
                statistics.badFrames += 1
                events.append(.gap(GapRecord(time: time, connection: id, source: ends.source, destination: ends.destination, kind: .badFrame,
                                             byteCount: UInt64(bytes.readableBytes), streamOffset: streamOffset,
                                             detail: ObservedGap.located(error, offset: streamOffset))))
                return .done
            }
            // A typed-header error comes after the closure ran; this only guards a frame error the full decode accepts.
            if cmd.isResponse && !paired { request = pairedRequest(connection: id, requesterIsClient: requesterIsClient, opaque: cmd.opaque) }
            if unmatched { return .unmatchedResponse(opaque: cmd.opaque) }
            cmd.detach()  // keep no reference into the stream's buffer through the header bytes
            record(cmd, size: bytes.readableBytes, time: time, connection: id, ends: ends,
                   request: request, header: nil, headerError: "\(error)", into: &events)
            return cmd.isResponse ? .done : .request(opaque: cmd.opaque)
        }
    }

    private mutating func record(_ cmd: consuming RemotingCommand, size: Int, time: CaptureTime, connection id: Int, ends: Ends,
                                 request: RequestRef?, account: String? = nil, header: consuming TypedHeader?,
                                 headerError: String?, into events: inout [TraceEvent]) {
        let source = ends.source, destination = ends.destination
        statistics.frames += 1
        if cmd.serializeType == .json { statistics.jsonFrames += 1 } else { statistics.binaryFrames += 1 }
        if statistics.firstTime == nil { statistics.firstTime = time }
        statistics.lastTime = max(statistics.lastTime ?? time, time)
        if !cmd.isResponse { learnRoles(requestCode: cmd.code, source: ends.sourceSlot, destination: ends.destinationSlot) }
        let body = Self.summarize(cmd, requestCode: request?.code, decodeMessages: configuration.decodeMessages)
        let popped = cmd.isResponse && (request?.code == RequestCode.popMessage || request?.code == RequestCode.peekMessage)
            ? Self.messageOffsets(cmd) : nil
        let bodyLength = cmd.bodyLength
        let messageBody = cmd.body
        cmd.body = nil  // keep no reference into the stream buffer (the callers detached the header bytes)
        let isResponse = cmd.isResponse, isOneway = cmd.isOneway, code = cmd.code, opaque = cmd.opaque
        var record = FrameRecord(index: frameIndex, time: time, connection: id, source: source, destination: destination,
                                 sourceRole: slotRoles[ends.sourceSlot] ?? .unknown, destinationRole: slotRoles[ends.destinationSlot] ?? .unknown, command: cmd,
                                 frameSize: size, bodyLength: bodyLength, header: consume header, headerError: headerError, body: body, request: request,
                                 phase: .other, client: nil)
        record.account = account
        record.messageOffsets = popped
        if isResponse, analyzer.wantsMessageTags(request) { record.messageTags = Self.messageTags(body: messageBody) }
        frameIndex += 1
        findings.clearKeepingCapacity()
        analyzer.observe(&record, findings: &findings)

        if isResponse {
            if let request {
                // In place: a copy of the entry would copy its histogram and answer counts per response.
                statistics.byRequestCode[request.code, default: .init()].answered(code: code,
                                                                                 nanos: time.nanoseconds - request.time.nanoseconds)
            }
        } else if isOneway {
            statistics.byRequestCode[code, default: .init()].oneways += 1
        } else {
            statistics.byRequestCode[code, default: .init()].requests += 1
            // In place, in one lookup: a copy of the connection would copy its pending table per request.
            let limit = configuration.maxPendingPerConnection
            if let evicted = connections.modifyValue(forKey: id, {
                $0.addPending(PendingKey(requesterIsClient: ends.sourceIsClient, opaque: opaque), Pending(frame: record), limit: limit)
            }) ?? nil {
                statistics.byRequestCode[evicted.frame.command.code, default: .init()].unanswered += 1
                events.append(.unanswered(evicted.frame, reason: "too many requests waiting on this connection (limit \(limit))",
                                          listedAt: time))
            }
        }
        if configuration.emitFrameEvents { events.append(.frame(record)) }
        for f in findings { events.append(.finding(f)) }
    }
}
