import NIOCore
import RMQCapture
import RocketMQRemoting

public struct DecodeConfiguration: Sendable {
    public var maxFrameLength = RemotingFrame.defaultMaxFrameLength
    /// Out-of-order bytes held per TCP direction.
    public var maxBufferedBytesPerDirection = 4 * 1024 * 1024
    public var maxConnections = 4096
    /// Connections silent for this long are flushed and forgotten (seconds of capture time).
    public var idleTimeoutSeconds: Int64 = 900
    /// Requests awaiting an answer, per connection.
    public var maxPendingPerConnection = 8192
    public var nameServerPorts: Set<UInt16> = [9876]
    public var brokerPorts: Set<UInt16> = [10911, 10909, 8080]
    /// Decode every stored message of pull bodies (for message listings); otherwise records are only walked.
    public var decodeMessages = false
    /// Emit a `.frame` event per frame. A summary-only consumer turns it off: the frames still go through
    /// pairing, statistics and the analyzer, but no event is built for them.
    public var emitFrameEvents = true
    /// Decode frames straight to typed headers (`RemotingFrame.decodeTyped`), without their extFields map:
    /// enough for statistics, pairing and the analyzer (the summary), not for renderers that print fields.
    public var typedHeadersOnly = false
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
            latency.add(nanos: nanos)
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

/// The shared pipeline from TCP segments to trace events: connection table → frames per direction → typed
/// commands → request/response pairing → consume-flow annotation. A value with no I/O; the pcap reader, a
/// live capture and the tests drive it.
public struct TraceDecoder: Sendable {
    struct Pending: Sendable {
        var frame: FrameRecord
    }
    struct Connection: Sendable {
        var id: Int
        var endpoints: (Endpoint, Endpoint)? {
            didSet { names = endpoints.map { ($0.0.description, $0.1.description) } }
        }
        /// `endpoints` as text, computed once rather than per frame.
        private(set) var names: (String, String)?
        var framers: [Endpoint: StreamFramer] = [:]
        /// Senders whose stream lost bytes in the capture (their answers may be among them).
        var lostFrom: Set<String> = []
        var pending: [PendingKey: Pending] = [:]

        init(id: Int, endpoints: (Endpoint, Endpoint)?) {
            self.id = id
            self.endpoints = endpoints
            self.names = endpoints.map { ($0.0.description, $0.1.description) }
        }

        /// The text of `endpoint` (cached when it is one of this connection's endpoints).
        func name(_ endpoint: Endpoint) -> String {
            if let e = endpoints, let n = names {
                if e.0 == endpoint { return n.0 }
                if e.1 == endpoint { return n.1 }
            }
            return endpoint.description
        }
    }
    struct PendingKey: Hashable, Sendable {
        var requester: String
        var opaque: Int32
    }

    public let configuration: DecodeConfiguration
    private var table: TCPConnectionTable
    private var connections: [Int: Connection] = [:]
    private var roles: [String: Role] = [:]
    public private(set) var analyzer: ConsumeFlowAnalyzer
    public private(set) var statistics = TraceStatistics()
    private var frameIndex = 0
    private var connectionEvents: [ConnectionEvent] = []
    private var framerOutput: [StreamFramer.Output] = []
    private var findings: [Finding] = []
    private var unansweredFrames: [Int32: [Int]] = [:]

    public init(configuration: DecodeConfiguration = DecodeConfiguration()) {
        self.configuration = configuration
        self.table = TCPConnectionTable(maxBufferedBytesPerDirection: configuration.maxBufferedBytesPerDirection,
                                        maxConnections: configuration.maxConnections,
                                        idleTimeout: configuration.idleTimeoutSeconds * 1_000_000_000)
        self.analyzer = ConsumeFlowAnalyzer(configuration: configuration.analyzer)
    }

    // MARK: input

    public mutating func notePacket(skipped: Bool, malformed: Bool) {
        statistics.packets += 1
        if skipped { statistics.skippedPackets += 1 }
        if malformed { statistics.malformedPackets += 1 }
    }

    public mutating func receive(_ segment: TCPSegment, into events: inout [TraceEvent]) {
        statistics.tcpSegments += 1
        if statistics.firstTime == nil { statistics.firstTime = segment.time }
        statistics.lastTime = segment.time
        connectionEvents.removeAll(keepingCapacity: true)
        table.receive(segment, into: &connectionEvents)
        handle(connectionEvents, into: &events)
    }

    /// End of input: flush every connection, report requests left unanswered and the whole-capture findings.
    public mutating func finish(into events: inout [TraceEvent]) {
        connectionEvents.removeAll(keepingCapacity: true)
        table.flushAll(into: &connectionEvents)
        handle(connectionEvents, into: &events)
        for id in connections.keys.sorted() { closeConnection(id, reason: "end of capture", time: statistics.lastTime, into: &events) }
        findings.removeAll()
        analyzer.finish(findings: &findings)
        for code in unansweredFrames.keys.sorted() {
            let frames = unansweredFrames[code] ?? []
            let n = statistics.byRequestCode[code]?.unanswered ?? frames.count
            let pull = code == RequestCode.pullMessage
            findings.append(Finding(severity: pull ? .info : .warning, kind: "unanswered",
                                    message: "\(RequestCode.name(code)): \(n) request\(n == 1 ? "" : "s") never answered"
                                        + (pull ? " (long polls still held by the broker when the capture or connection ended)" : ""),
                                    frames: Array(frames.prefix(configuration.analyzer.maxFramesPerFinding)), time: nil))
        }
        for f in findings { events.append(.finding(f)) }
    }

    // MARK: pipeline

    private mutating func handle(_ connEvents: [ConnectionEvent], into events: inout [TraceEvent]) {
        for ce in connEvents {
            switch ce {
            case .opened(let id, let client, let server, let key, let time):
                connections[id] = Connection(id: id, endpoints: (key.low, key.high))
                statistics.connections += 1
                analyzer.connectionOpened(id)
                if let server { assignByPort(server: server, client: client) } else { assignByPort(key.low, key.high) }
                events.append(.connectionOpened(id: id, client: client?.description, server: server?.description, time: time))
            case .stream(let id, let direction, let event):
                stream(id: id, direction: direction, event: event, into: &events)
            case .removed(let id, let reason, let time):
                closeConnection(id, reason: Self.text(reason), time: time, into: &events)
            }
        }
    }

    private mutating func stream(id: Int, direction: StreamDirection, event: ReassemblyEvent, into events: inout [TraceEvent]) {
        // The framer leaves the table while it works, so that its buffer is uniquely referenced: no
        // copy-on-write of the buffered bytes, nor of the connection's tables, per segment.
        guard connections[id] != nil else { return }
        if case .data(let bytes, _, _) = event { statistics.payloadBytes += UInt64(bytes.count) }
        var framer = connections[id]?.framers.removeValue(forKey: direction.source) ?? {
            var f = StreamFramer(maxFrameLength: configuration.maxFrameLength)
            f.deferDecoding = configuration.typedHeadersOnly
            return f
        }()
        framerOutput.removeAll(keepingCapacity: true)
        framer.receive(event, into: &framerOutput)
        connections[id]?.framers[direction.source] = framer
        if framerOutput.isEmpty { return }
        emit(framerOutput, connection: id, direction: direction, into: &events)
    }

    private mutating func emit(_ outputs: [StreamFramer.Output], connection id: Int, direction: StreamDirection, into events: inout [TraceEvent]) {
        let source = connections[id]?.name(direction.source) ?? direction.source.description
        let destination = connections[id]?.name(direction.destination) ?? direction.destination.description
        for output in outputs {
            switch output {
            case .frame(let cmd, let size, let time, _):
                frame(cmd, size: size, time: time, connection: id, source: source, destination: destination, into: &events)
            case .rawFrame(let bytes, let time, let offset):
                rawFrame(bytes, time: time, streamOffset: offset, connection: id, source: source, destination: destination,
                         into: &events)
            case .skipped(let kind, let count, let offset, let time, let detail):
                switch kind {
                case .lostBytes:
                    statistics.lostBytes += count
                    connections[id]?.lostFrom.insert(source)
                case .resync: statistics.resyncBytes += count
                case .badFrame: statistics.badFrames += 1
                case .tls: statistics.tlsBytes += count
                }
                events.append(.gap(GapRecord(time: time, connection: id, source: source,
                                             destination: destination, kind: kind, byteCount: count,
                                             streamOffset: offset, detail: detail)))
            }
        }
    }

    private mutating func closeConnection(_ id: Int, reason: String, time: CaptureTime?, into events: inout [TraceEvent]) {
        guard var conn = connections.removeValue(forKey: id) else { return }
        let t = time ?? statistics.lastTime ?? CaptureTime(nanoseconds: 0)
        for (source, var framer) in conn.framers.sorted(by: { $0.key.description < $1.key.description }) {
            framerOutput.removeAll(keepingCapacity: true)
            framer.finish(time: t, into: &framerOutput)
            let peer = conn.endpoints.map { $0.0 == source ? $0.1 : $0.0 } ?? source
            emit(framerOutput, connection: id, direction: StreamDirection(source: source, destination: peer), into: &events)
        }
        for p in conn.pending.values.sorted(by: { $0.frame.index < $1.frame.index }) {
            let lost = conn.lostFrom.contains(p.frame.destination)
            statistics.byRequestCode[p.frame.command.code, default: .init()].unanswered += 1
            if unansweredFrames[p.frame.command.code, default: []].count < configuration.analyzer.maxFramesPerFinding {
                unansweredFrames[p.frame.command.code, default: []].append(p.frame.index)
            }
            let why = reason == "end of capture" ? "no answer by the end of the capture" : "connection ended (\(reason)) before the answer"
            events.append(.unanswered(p.frame, reason: lost ? "\(why); bytes from \(p.frame.destination) were lost in the capture, the answer may be among them" : why))
        }
        conn.pending.removeAll()
        analyzer.connectionClosed(id)
        events.append(.connectionClosed(id: id, reason: reason, time: t))
    }

    static func text(_ reason: RemovalReason) -> String {
        switch reason {
        case .closed: return "closed"
        case .reset: return "reset"
        case .idle: return "idle for longer than the idle timeout"
        case .evicted: return "evicted: too many connections tracked"
        case .replaced: return "replaced by a new connection on the same ports"
        case .endOfCapture: return "end of capture"
        }
    }

    // MARK: roles

    private mutating func assignByPort(server: Endpoint, client: Endpoint?) {
        let role = portRole(server.port) ?? .unknown
        if role != .unknown { roles[server.description] = role }
        if let client, roles[client.description] == nil, role != .unknown { roles[client.description] = .client }
    }

    private mutating func assignByPort(_ a: Endpoint, _ b: Endpoint) {
        if let r = portRole(a.port) { roles[a.description] = r; if roles[b.description] == nil { roles[b.description] = .client } }
        if let r = portRole(b.port) { roles[b.description] = r; if roles[a.description] == nil { roles[a.description] = .client } }
    }

    private func portRole(_ port: UInt16) -> Role? {
        if configuration.nameServerPorts.contains(port) { return .nameServer }
        if configuration.brokerPorts.contains(port) { return .broker }
        return nil
    }

    /// Learns roles from what a request is (for unusual ports).
    private mutating func learnRoles(requestCode code: Int32, source: String, destination: String) {
        func set(_ e: String, _ r: Role) { if roles[e] == nil || roles[e] == .unknown { roles[e] = r } }
        switch code {
        case RequestCode.getRouteInfoByTopic, RequestCode.getBrokerClusterInfo:
            set(destination, .nameServer); set(source, .client)
        case RequestCode.registerBroker, RequestCode.unregisterBroker:
            set(destination, .nameServer); roles[source] = .broker
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

    public func role(of endpoint: String) -> Role { roles[endpoint] ?? .unknown }

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

    /// The request a response answers, taken out of the pending table (nil when it was not seen).
    private mutating func pairedRequest(connection id: Int, requester: String, opaque: Int32) -> RequestRef? {
        guard let p = connections[id]?.pending.removeValue(forKey: PendingKey(requester: requester, opaque: opaque)) else {
            statistics.orphanResponses += 1
            return nil
        }
        return RequestRef(code: p.frame.command.code, time: p.frame.time, frameIndex: p.frame.index, header: p.frame.header,
                          body: p.frame.body)
    }

    /// Feeds one decoded command (from a capture or the live consumer) through pairing and annotation.
    public mutating func frame(_ command: RemotingCommand, size: Int, time: CaptureTime, connection id: Int, source: String,
                               destination: String, into events: inout [TraceEvent]) {
        let request = command.isResponse ? pairedRequest(connection: id, requester: destination, opaque: command.opaque) : nil
        var header: TypedHeader? = nil
        var headerError: String? = nil
        do {
            header = command.isResponse
                ? try TypedHeader.decodeResponse(requestCode: request?.code ?? -1, responseCode: command.code, extFields: command.extFields)
                : try TypedHeader.decodeRequest(code: command.code, extFields: command.extFields)
        } catch {
            headerError = "\(error)"
        }
        record(command, size: size, time: time, connection: id, source: source, destination: destination, request: request,
               header: header, headerError: headerError, into: &events)
    }

    /// A frame the framer left undecoded (`typedHeadersOnly`): straight to its typed header, paired on the way.
    private mutating func rawFrame(_ bytes: ByteBuffer, time: CaptureTime, streamOffset: UInt64, connection id: Int, source: String,
                                   destination: String, into events: inout [TraceEvent]) {
        var request: RequestRef? = nil
        var paired = false
        do {
            let (head, header) = try RemotingFrame.decodeTyped(bytes) { head in
                paired = true
                request = pairedRequest(connection: id, requester: destination, opaque: head.opaque)
                return request?.code
            }
            // decodeTyped pairs every response through the closure; the map itself is not read in this mode.
            record(head.command(extFields: []), size: bytes.readableBytes, time: time, connection: id, source: source, destination: destination,
                   request: request, header: header, headerError: nil, into: &events)
        } catch {
            // The frame itself is bad, or only its typed header: the full decode tells which, as the framer would.
            guard let cmd = try? RemotingFrame.decode(bytes) else {
                statistics.badFrames += 1
                events.append(.gap(GapRecord(time: time, connection: id, source: source, destination: destination, kind: .badFrame,
                                             byteCount: UInt64(bytes.readableBytes), streamOffset: streamOffset,
                                             detail: StreamFramer.located(error, offset: streamOffset))))
                return
            }
            // A typed-header error comes after the closure ran; this only guards a frame error the full decode accepts.
            if cmd.isResponse && !paired { request = pairedRequest(connection: id, requester: destination, opaque: cmd.opaque) }
            record(cmd, size: bytes.readableBytes, time: time, connection: id, source: source, destination: destination,
                   request: request, header: nil, headerError: "\(error)", into: &events)
        }
    }

    private mutating func record(_ command: RemotingCommand, size: Int, time: CaptureTime, connection id: Int, source: String,
                                 destination: String, request: RequestRef?, header: TypedHeader?, headerError: String?,
                                 into events: inout [TraceEvent]) {
        var cmd = command
        statistics.frames += 1
        if cmd.serializeType == .json { statistics.jsonFrames += 1 } else { statistics.binaryFrames += 1 }
        if statistics.firstTime == nil { statistics.firstTime = time }
        statistics.lastTime = max(statistics.lastTime ?? time, time)
        if !cmd.isResponse { learnRoles(requestCode: cmd.code, source: source, destination: destination) }
        let body = Self.summarize(cmd, requestCode: request?.code, decodeMessages: configuration.decodeMessages)
        let bodyLength = cmd.bodyLength
        cmd.body = nil  // keep no reference into the stream buffer
        cmd = cmd.detached()  // nor through the header bytes a decoded command's extFields view points into
        var record = FrameRecord(index: frameIndex, time: time, connection: id, source: source, destination: destination,
                                 sourceRole: role(of: source), destinationRole: role(of: destination), command: cmd,
                                 frameSize: size, bodyLength: bodyLength, header: header, headerError: headerError, body: body, request: request,
                                 phase: .other, client: nil)
        frameIndex += 1
        findings.removeAll(keepingCapacity: true)
        analyzer.observe(&record, findings: &findings)

        if cmd.isResponse {
            if let request {
                // In place: a copy of the entry would copy its histogram and answer counts per response.
                statistics.byRequestCode[request.code, default: .init()].answered(code: cmd.code,
                                                                                 nanos: time.nanoseconds - request.time.nanoseconds)
            }
        } else if cmd.isOneway {
            statistics.byRequestCode[cmd.code, default: .init()].oneways += 1
        } else {
            statistics.byRequestCode[cmd.code, default: .init()].requests += 1
            if let pendingCount = connections[id]?.pending.count {
                // Mutated in place: a copy of the connection would copy its pending table per request.
                if pendingCount >= configuration.maxPendingPerConnection,
                   let oldest = connections[id]?.pending.min(by: { $0.value.frame.index < $1.value.frame.index }) {
                    connections[id]?.pending.removeValue(forKey: oldest.key)
                    statistics.byRequestCode[oldest.value.frame.command.code, default: .init()].unanswered += 1
                    events.append(.unanswered(oldest.value.frame, reason: "too many requests waiting on this connection (limit \(configuration.maxPendingPerConnection))"))
                }
                connections[id]?.pending[PendingKey(requester: source, opaque: cmd.opaque)] = Pending(frame: record)
            }
        }
        if configuration.emitFrameEvents { events.append(.frame(record)) }
        for f in findings { events.append(.finding(f)) }
    }

    /// Registers a connection that is not seen through the TCP table (the live consumer's own sockets).
    public mutating func openConnection(id: Int, client: String, server: String, serverRole: Role, time: CaptureTime,
                                        into events: inout [TraceEvent]) {
        connections[id] = Connection(id: id, endpoints: nil)
        roles[server] = serverRole
        roles[client] = .client
        statistics.connections += 1
        analyzer.connectionOpened(id)
        events.append(.connectionOpened(id: id, client: client, server: server, time: time))
    }

    public mutating func closeConnection(id: Int, reason: String, time: CaptureTime, into events: inout [TraceEvent]) {
        closeConnection(id, reason: reason, time: time, into: &events)
    }
}
