import RMQTraceModel
import RMQTraceCore
import RocketMQRemoting

/// Narrows the timeline (`--code`, `--topic`, `--group`, `--client`); the summary always covers everything.
public struct TraceFilter: Sendable {
    public var codes: Set<Int32> = []
    public var topics: Set<String> = []
    public var groups: Set<String> = []
    public var clients: [String] = []
    public init() {}

    public var isEmpty: Bool { codes.isEmpty && topics.isEmpty && groups.isEmpty && clients.isEmpty }

    public func matches(_ f: FrameRecord) -> Bool {
        if !codes.isEmpty {
            let code = f.requestCode ?? f.command.code
            if !codes.contains(code) && !(f.command.isResponse && codes.contains(f.command.code) && f.request == nil) { return false }
        }
        if !topics.isEmpty {
            guard let t = f.requestHeader?.topic, topics.contains(t) else { return false }
        }
        if !groups.isEmpty {
            var g = f.requestHeader?.group
            if g == nil, case .heartbeat(let hb) = f.body { g = hb.consumerDataSet.first { groups.contains($0.groupName) }?.groupName }
            guard let g, groups.contains(g) else { return false }
        }
        if !clients.isEmpty {
            let c = f.client ?? ""
            guard clients.contains(where: { c.contains($0) || f.source.contains($0) || f.destination.contains($0) }) else { return false }
        }
        return true
    }

    /// Gaps and connection events pass only without filters on content.
    public var passesNonFrameEvents: Bool { codes.isEmpty && topics.isEmpty && groups.isEmpty }
}

/// The human timeline: one line per exchange, printed when it completes (answer, oneway, or no answer).
public struct TextRenderer: Sendable {
    public var color: Bool
    public var filter: TraceFilter

    public init(color: Bool = false, filter: TraceFilter = TraceFilter()) {
        self.color = color
        self.filter = filter
    }

    func paint(_ s: String, _ code: String) -> String { color ? "\u{1B}[\(code)m\(s)\u{1B}[0m" : s }

    /// A server as "broker 10.0.0.1:10911"; a client by its clientID when known.
    func label(_ addr: String, _ role: Role, _ f: FrameRecord) -> String {
        var b: [UInt8] = []
        putLabel(addr, role, f, into: &b)
        return String(lineBytes: b)
    }

    /// `label` written as bytes.
    func putLabel(_ addr: String, _ role: Role, _ f: FrameRecord, into b: inout [UInt8]) {
        switch role {
        case .broker, .nameServer:
            b.put(role.rawValue)
            b.put(" " as StaticString)
            b.put(addr)
        case .client, .unknown:
            b.put(f.client.map { $0 == addr || !$0.contains("@") ? addr : $0 } ?? addr)
        }
    }

    /// Lines for one event (often none: a request is printed with its answer).
    public func render(_ event: TraceEvent) -> [String] {
        switch event {
        case .frame(let f):
            guard filter.matches(f) else { return [] }
            if f.command.isResponse {
                guard let req = f.request else {
                    return ["\(Describe.time(f.time)) #\(f.index) c\(f.connection) \(f.source) -> \(f.destination) "
                            + paint("response to an unseen request", "33") + " opaque=\(f.command.opaque) \(Describe.answer(f)) [\(f.phase.rawValue)]"]
                }
                var bytes: [UInt8] = []
                responseLine(f, req, into: &bytes)
                let line = String(lineBytes: bytes)
                var lines = [line]
                if let a = f.annotation { lines.append("                   \(paint("↳ \(a)", "36"))") }
                return lines
            }
            guard f.command.isOneway else { return [] }
            return [requestLine(f, outcome: "(oneway)")]
        case .unanswered(let f, let reason, let listedAt):
            guard filter.matches(f) else { return [] }
            // Listed when its connection ended, after lines of later times: say so.
            let late = listedAt > f.time ? " " + paint("(late line: listed at \(Describe.time(listedAt)), when c\(f.connection) ended)", "2") : ""
            return [requestLine(f, outcome: paint("no answer: \(reason)", "33")) + late]
        case .gap(let g):
            guard filter.passesNonFrameEvents else { return [] }
            let what: String
            switch g.kind {
            case .lostBytes: what = "GAP \(g.byteCount) bytes lost"
            case .resync: what = "GAP \(g.byteCount) bytes skipped to resynchronise"
            case .badFrame: what = "BAD FRAME" + (g.byteCount > 0 ? " (\(g.byteCount) bytes skipped)" : "")
            case .tls: what = "TLS \(g.byteCount) bytes not decoded"
            }
            return ["\(Describe.time(g.time)) ~~ c\(g.connection) \(g.source) -> \(g.destination) " + paint(what, "35")
                    + " at stream offset \(g.streamOffset): \(g.detail)"]
        case .connectionOpened(let id, let client, let server, let time):
            guard filter.passesNonFrameEvents else { return [] }
            let who = client.flatMap { c in server.map { "\(c) -> \($0)" } } ?? "(handshake not seen)"
            return ["\(Describe.time(time)) -- c\(id) connection opened \(who)"]
        case .connectionClosed(let id, let reason, let time):
            guard filter.passesNonFrameEvents else { return [] }
            return ["\(Describe.time(time)) -- c\(id) connection ended (\(reason))"]
        case .finding:
            return []
        case .inputError(let message):
            return [paint("!! \(message)", "31")]
        }
    }

    /// The line of an answered request (the timeline's most frequent), written as bytes: `render` makes it a
    /// String, `render(_:into:)` writes it straight to the output.
    func responseLine(_ f: FrameRecord, _ req: RequestRef, into b: inout [UInt8]) {
        b.reserveCapacity(b.count + 320)
        b.put(Describe.time(req.time))
        b.put(" #", req.frameIndex)
        b.put("/#", f.index)
        b.put(" c", f.connection)
        b.put(" " as StaticString)
        putLabel(f.destination, f.destinationRole, f, into: &b)
        b.put(" -> " as StaticString)
        putLabel(f.source, f.sourceRole, f, into: &b)
        b.put(" " as StaticString)
        putPainted(RequestCode.name(req.code), "1", into: &b)
        Describe.putRequestFields(code: req.code, header: req.header, body: req.body, into: &b)
        b.put(" => " as StaticString)
        let ok = f.command.code == ResponseCode.success || f.command.code == ResponseCode.pullNotFound
        if color { b.put(ok ? "\u{1B}[32m" as StaticString : "\u{1B}[31m" as StaticString) }
        if case .pullMessageResponse(let h)? = f.header {
            Describe.pullAnswer(f, h, into: &b)
        } else {
            b.put(Describe.answer(f))
        }
        if color { b.put("\u{1B}[0m" as StaticString) }
        b.put(" (" as StaticString)
        let latency = f.latencyNanos ?? 0
        b.put(Describe.latency(latency))
        if case .pullMessage(let h)? = req.header, latency >= 1_000_000_000 {
            // A long poll: how long the broker held it, against what the client asked for.
            b.put(" held, suspendTimeoutMillis ", h.suspendTimeoutMillis)
        }
        b.put(") [" as StaticString)
        b.put(f.phase.rawValue)
        b.put("]" as StaticString)
    }

    /// `paint` written as bytes.
    func putPainted(_ s: String, _ code: StaticString, into b: inout [UInt8]) {
        guard color else { return b.put(s) }
        b.put("\u{1B}[" as StaticString)
        b.put(code)
        b.put("m" as StaticString)
        b.put(s)
        b.put("\u{1B}[0m" as StaticString)
    }

    func requestLine(_ f: FrameRecord, outcome: String) -> String {
        let fields = Describe.requestFields(code: f.command.code, header: f.header, body: f.body, extFields: f.command.extFields)
        let arrow = "\(label(f.source, f.sourceRole, f)) -> \(label(f.destination, f.destinationRole, f))"
        return "\(Describe.time(f.time)) #\(f.index) c\(f.connection) \(arrow) " + paint(f.command.codeName, "1")
            + (fields.isEmpty ? "" : " \(fields)") + " => \(outcome) [\(f.phase.rawValue)]"
    }

    /// The summary: counts and latency percentiles per code, the lag table, the findings.
    public func summary(statistics s: TraceStatistics, analyzer: ConsumeFlowAnalyzer, findings: [Finding], source: String?) -> [String] {
        var l: [String] = ["", "== Summary =="]
        var span = ""
        if let a = s.firstTime, let b = s.lastTime {
            span = ", \(Describe.dateTime(a)) .. \(Describe.time(b)) (\(Describe.latency(b.nanoseconds - a.nanoseconds)))"
        }
        if let source { l.append("input: \(source)") }
        l.append("\(s.frames) frames (\(s.jsonFrames) JSON, \(s.binaryFrames) ROCKETMQ) on \(s.connections) TCP connection\(s.connections == 1 ? "" : "s"), \(s.packets) packets\(span)")
        l.append("gaps: \(s.lostBytes) bytes lost in the capture, \(s.resyncBytes) bytes skipped to resynchronise, \(s.badFrames) bad frame\(s.badFrames == 1 ? "" : "s"), \(s.tlsBytes) TLS bytes; \(s.orphanResponses) response\(s.orphanResponses == 1 ? "" : "s") to unseen requests; \(s.malformedPackets) malformed packet\(s.malformedPackets == 1 ? "" : "s")")
        if analyzer.untracked > 0 {
            l.append("analyzer: \(analyzer.untracked) queues, clients or heartbeat sources not tracked (limit \(analyzer.configuration.maxTracked))")
        }
        l.append("")
        l.append("requests by code:")
        l.append(Self.row(["code", "name", "req", "oneway", "answered", "unanswered", "p50", "p90", "p99", "max", "answers"],
                          widths: [6, 28, 6, 7, 9, 11, 10, 10, 10, 10, 0]))
        for code in s.byRequestCode.keys.sorted() {
            let c = s.byRequestCode[code]!
            let lat = c.latency
            let answers = c.responses.sorted { $0.key < $1.key }.map { "\(ResponseCode.name($0.key))×\($0.value)" }.joined(separator: " ")
            let q: (Double) -> String = { lat.count > 0 ? Describe.latency(lat.quantile($0)) : "-" }
            l.append(Self.row([String(code), RequestCode.name(code), String(c.requests), String(c.oneways), String(c.answered),
                               String(c.unanswered), q(0.5), q(0.9), q(0.99), lat.count > 0 ? Describe.latency(lat.maxNanos) : "-", answers],
                              widths: [6, 28, 6, 7, 9, 11, 10, 10, 10, 10, 0]))
        }
        let lag = analyzer.lagTable
        if !lag.isEmpty {
            l.append("")
            l.append("consumer progress (as the console's consumer progress; offsets at the end of the capture; status as Burrow judges lag):")
            let widths = [24, 34, 11, 10, 6, 7, 18, 6, 6, 0]
            l.append(Self.row(["group", "queue", "broker max", "committed", "lag", "status", "lag first/max/last", "pulls", "msgs", "owner"],
                              widths: widths))
            for q in lag {
                let trend = [q.lagFirst, q.lagMax, q.lagLast].map { $0.map(String.init) ?? "-" }.joined(separator: "/")
                l.append(Self.row([q.group, q.queue, q.brokerMaxOffset.map(String.init) ?? "-", q.committedOffset.map(String.init) ?? "-",
                                   q.lag.map(String.init) ?? "-", q.status.rawValue, trend, String(q.pulls), String(q.messages), q.owner ?? "-"],
                                  widths: widths))
            }
        }
        l.append("")
        if findings.isEmpty {
            l.append("findings: none")
        } else {
            l.append("findings (\(findings.count)):")
            for f in findings {
                let frames = f.frames.isEmpty ? "" : " [frames " + f.frames.map { "#\($0)" }.joined(separator: ",") + "]"
                l.append("  " + paint("[\(f.severity.rawValue)]", f.severity == .error ? "31" : (f.severity == .warning ? "33" : "36"))
                         + " \(f.kind): \(f.message)\(frames)")
            }
        }
        return l
    }

    static func row(_ cols: [String], widths: [Int]) -> String {
        var s = "  "
        for (i, c) in cols.enumerated() {
            let w = i < widths.count ? widths[i] : 0
            s += c
            if w > 0 { s += String(repeating: " ", count: max(1, w - c.count)) }
        }
        while s.hasSuffix(" ") { s.removeLast() }
        return s
    }
}

/// One JSON object per line: every frame (`"event":"frame"`), gaps, unanswered requests, connections,
/// findings, errors and, last, the summary. The schema is in the README.
public struct NDJSONRenderer: Sendable {
    public var filter: TraceFilter
    public init(filter: TraceFilter = TraceFilter()) { self.filter = filter }

    static func str(_ s: String?) -> JSONValue { s.map(JSONValue.string) ?? .null }
    static func num<T: BinaryInteger>(_ v: T?) -> JSONValue { v.map { .number(String($0)) } ?? .null }
    static func ts(_ t: CaptureTime) -> JSONValue { .number(Describe.epochSeconds(t)) }
    static func ms(_ nanos: Int64) -> JSONValue {
        let us = nanos / 1000
        return .number("\(us / 1000).\(Describe.pad(abs(us % 1000), 3))")
    }

    static func bodyJSON(_ b: BodySummary) -> JSONValue {
        switch b {
        case .none: return .null
        case .messages(let n, let f, let l, let clean):
            return .object([JSONMember("messages", num(n)), JSONMember("first_offset", num(f)), JSONMember("last_offset", num(l)),
                            JSONMember("complete", .bool(clean))])
        case .route(let r): return .object([JSONMember("route", r.json(standardJSON: true))])
        case .heartbeat(let h): return .object([JSONMember("heartbeat", h.json)])
        case .consumerIds(let ids): return .object([JSONMember("consumer_ids", .array(ids.map(JSONValue.string)))])
        case .lockRequest(let l): return .object([JSONMember("lock_request", l.json)])
        case .lockedQueues(let q): return .object([JSONMember("locked", LockBatchResponseBody.json(q)["lockOKMQSet"] ?? .null)])
        case .queryAssignment(let q): return .object([JSONMember("query_assignment", q.json)])
        case .assignments(let a):
            return .object([JSONMember("assignments", QueryAssignmentResponseBody.json(a)["messageQueueAssignments"] ?? .null)])
        case .requestMode(let m): return .object([JSONMember("request_mode", m.json)])
        case .batchAck(let b):
            return .object([JSONMember("batch_ack", .array(b.acks.map { a in
                .object([JSONMember("group", .string(a.consumerGroup)), JSONMember("topic", .string(a.topic)), JSONMember("queue_id", num(a.queueId)),
                         JSONMember("retry", .bool(a.retry == "1")), JSONMember("start_offset", num(a.startOffset)),
                         JSONMember("acked", .array(a.ackedOffsets.map { num($0) }))])
            }))])
        case .messageBody(let n): return .object([JSONMember("message_body_len", num(n))])
        case .other(let n): return .object([JSONMember("len", num(n))])
        case .undecodable(let n, let e): return .object([JSONMember("len", num(n)), JSONMember("error", .string(e))])
        }
    }

    /// One frame as its NDJSON line, written field by field straight into bytes (no JSON tree: the line per
    /// frame is the hot path of `decode --format ndjson` and of every live tool's log).
    public static func frameLine(_ f: FrameRecord) -> String {
        var line: [UInt8] = []
        line.reserveCapacity(512)
        frameLine(f, into: &line)
        return String(decoding: line, as: UTF8.self)
    }

    /// `frameLine(_:)` appended to `out` as UTF-8 (no newline).
    public static func frameLine(_ f: FrameRecord, into out: inout [UInt8]) {
        // Written into a buffer on the stack through a pointer, then appended at once: a line is some fifty
        // pieces, and each append to the array checked its capacity and uniqueness. A line that does not fit
        // (a large body summary, long texts) is written into the array piece by piece.
        let fitted = withUnsafeTemporaryAllocation(byteCount: lineBufferSize, alignment: 1) { raw -> Bool in
            var w = JSONLineWriter(JSONLineBuffer(raw))
            frameLine(f, writer: &w)
            w.close()
            guard !w.bytes.overflowed else { return false }
            out.append(contentsOf: w.bytes.written)
            return true
        }
        if fitted { return }
        // The writer works on `out` itself, moved in and back out: no copy of what `out` holds.
        var w = JSONLineWriter(taking: &out)
        frameLine(f, writer: &w)
        w.close(into: &out)
    }

    /// The stack buffer of `frameLine(_:into:)` (a frame line of a long poll or its answer is 500-900 bytes).
    static let lineBufferSize = 3072

    static func frameLine<Sink: JSONByteSink>(_ f: FrameRecord, writer w: inout JSONLineWriter<Sink>) {
        // The command read in place (a copy of it retained its field view, remark and body).
        w.string("event", "frame"); w.int("index", f.index); w.time("ts", f.time)
        w.int("conn", f.connection); w.string("src", f.source); w.string("dst", f.destination)
        w.string("src_role", f.sourceRole.rawValue); w.string("dst_role", f.destinationRole.rawValue)
        w.string("type", f.command.kind.rawValue); w.int("code", f.command.code); w.string("name", f.command.codeName)
        w.int("opaque", f.command.opaque); w.int("flag", f.command.flag)
        w.string("serialization", f.command.serializeType.description)
        w.string("language", f.command.language.name); w.int("version", f.command.version)
        w.key("fields")
        w.bytes.appendFieldsJSONObject(of: f.command)
        w.string("remark", f.command.remark); w.int("body_len", f.bodyLength)
        w.int("frame_len", f.frameSize); w.string("phase", f.phase.rawValue); w.string("client", f.client)
        if f.command.isResponse {
            w.int("request_code", f.request?.code)
            w.string("request_name", f.request.map { RequestCode.name($0.code) })
            w.int("request_index", f.request?.frameIndex)
            w.key("latency_ms")
            if let l = f.latencyNanos { w.millis(l) } else { w.null() }
        }
        if let e = f.headerError { w.string("header_error", e) }
        if let a = f.annotation { w.string("annotation", a) }
        let body = bodyJSON(f.body)
        if body != .null { w.key("body"); w.bytes.appendJSON(body) }
    }

    public func render(_ event: TraceEvent) -> [String] {
        switch event {
        case .frame(let f):
            guard filter.matches(f) else { return [] }
            return [Self.frameLine(f)]
        case .gap(let g):
            guard filter.passesNonFrameEvents else { return [] }
            return [JSONValue.object([
                JSONMember("event", .string("gap")), JSONMember("ts", Self.ts(g.time)), JSONMember("conn", Self.num(g.connection)),
                JSONMember("src", .string(g.source)), JSONMember("dst", .string(g.destination)), JSONMember("kind", .string(g.kind.rawValue)),
                JSONMember("bytes", Self.num(g.byteCount)), JSONMember("stream_offset", Self.num(g.streamOffset)),
                JSONMember("detail", .string(g.detail)),
            ]).compactText]
        case .unanswered(let f, let reason, let listedAt):
            guard filter.matches(f) else { return [] }
            return [JSONValue.object([
                JSONMember("event", .string("unanswered")), JSONMember("index", Self.num(f.index)), JSONMember("ts", Self.ts(f.time)),
                JSONMember("conn", Self.num(f.connection)), JSONMember("src", .string(f.source)), JSONMember("dst", .string(f.destination)),
                JSONMember("code", Self.num(f.command.code)), JSONMember("name", .string(f.command.codeName)),
                JSONMember("opaque", Self.num(f.command.opaque)), JSONMember("reason", .string(reason)),
                JSONMember("listed_ts", Self.ts(listedAt)),
            ]).compactText]
        case .connectionOpened(let id, let client, let server, let time):
            guard filter.passesNonFrameEvents else { return [] }
            return [JSONValue.object([JSONMember("event", .string("connection")), JSONMember("action", .string("open")),
                                      JSONMember("ts", Self.ts(time)), JSONMember("conn", Self.num(id)),
                                      JSONMember("client", Self.str(client)), JSONMember("server", Self.str(server))]).compactText]
        case .connectionClosed(let id, let reason, let time):
            guard filter.passesNonFrameEvents else { return [] }
            return [JSONValue.object([JSONMember("event", .string("connection")), JSONMember("action", .string("close")),
                                      JSONMember("ts", Self.ts(time)), JSONMember("conn", Self.num(id)),
                                      JSONMember("reason", .string(reason))]).compactText]
        case .finding(let f):
            return [Self.findingObject(f).compactText]
        case .inputError(let message):
            return [JSONValue.object([JSONMember("event", .string("error")), JSONMember("message", .string(message))]).compactText]
        }
    }

    static func findingObject(_ f: Finding) -> JSONValue {
        .object([JSONMember("event", .string("finding")), JSONMember("severity", .string(f.severity.rawValue)),
                 JSONMember("kind", .string(f.kind)), JSONMember("message", .string(f.message)),
                 JSONMember("frames", .array(f.frames.map { .number(String($0)) })), JSONMember("ts", f.time.map(ts) ?? .null),
                 JSONMember("count", .number(String(f.occurrences))), JSONMember("last_ts", f.lastTime.map(ts) ?? .null)])
    }

    public func summary(statistics s: TraceStatistics, analyzer: ConsumeFlowAnalyzer) -> String {
        let codes: [JSONValue] = s.byRequestCode.keys.sorted().map { code in
            let c = s.byRequestCode[code]!
            return .object([
                JSONMember("code", Self.num(code)), JSONMember("name", .string(RequestCode.name(code))),
                JSONMember("requests", Self.num(c.requests)), JSONMember("oneway", Self.num(c.oneways)),
                JSONMember("answered", Self.num(c.answered)), JSONMember("unanswered", Self.num(c.unanswered)),
                JSONMember("p50_ms", c.latency.count > 0 ? Self.ms(c.latency.quantile(0.5)) : .null),
                JSONMember("p90_ms", c.latency.count > 0 ? Self.ms(c.latency.quantile(0.9)) : .null),
                JSONMember("p99_ms", c.latency.count > 0 ? Self.ms(c.latency.quantile(0.99)) : .null),
                JSONMember("max_ms", c.latency.count > 0 ? Self.ms(c.latency.maxNanos) : .null),
                JSONMember("answers", .object(c.responses.sorted { $0.key < $1.key }.map { JSONMember(ResponseCode.name($0.key), Self.num($0.value)) })),
            ])
        }
        let lag: [JSONValue] = analyzer.lagTable.map { q in
            .object([JSONMember("group", .string(q.group)), JSONMember("topic", .string(q.topic)), JSONMember("broker", .string(q.broker)),
                     JSONMember("queue_id", Self.num(q.queueId)), JSONMember("broker_max_offset", Self.num(q.brokerMaxOffset)),
                     JSONMember("committed_offset", Self.num(q.committedOffset)), JSONMember("lag", Self.num(q.lag)),
                     JSONMember("status", .string(q.status.rawValue)), JSONMember("lag_first", Self.num(q.lagFirst)),
                     JSONMember("lag_max", Self.num(q.lagMax)), JSONMember("lag_last", Self.num(q.lagLast)),
                     JSONMember("pulls", Self.num(q.pulls)), JSONMember("messages", Self.num(q.messages)),
                     JSONMember("owner", Self.str(q.owner))])
        }
        return JSONValue.object([
            JSONMember("event", .string("summary")), JSONMember("frames", Self.num(s.frames)),
            JSONMember("json_frames", Self.num(s.jsonFrames)), JSONMember("rocketmq_frames", Self.num(s.binaryFrames)),
            JSONMember("connections", Self.num(s.connections)), JSONMember("packets", Self.num(s.packets)),
            JSONMember("lost_bytes", Self.num(s.lostBytes)), JSONMember("resync_bytes", Self.num(s.resyncBytes)),
            JSONMember("bad_frames", Self.num(s.badFrames)), JSONMember("orphan_responses", Self.num(s.orphanResponses)),
            JSONMember("untracked", Self.num(analyzer.untracked)),
            JSONMember("codes", .array(codes)), JSONMember("lag", .array(lag)),
        ]).compactText
    }
}

/// What every output format is: lines for each event as it happens (nothing for formats that draw the whole
/// run at the end), then lines when the run ends. `decode`, the live consumer and the broker's request log
/// all drive one of these with the same events.
public protocol TraceRenderer {
    mutating func render(_ event: TraceEvent) -> [String]
    /// The lines of `event` as UTF-8, each followed by a newline, appended to `out` (what a tool writes to its
    /// output). By default the lines of `render(_:)`; a renderer whose lines are the hot path writes them directly.
    mutating func render(_ event: TraceEvent, into out: inout [UInt8])
    mutating func finish(statistics: TraceStatistics, analyzer: ConsumeFlowAnalyzer, findings: [Finding], source: String?) -> [String]
}

extension TraceRenderer {
    public mutating func render(_ event: TraceEvent, into out: inout [UInt8]) {
        out.appendLines(render(event))
    }

    /// The lines of `events` in order, the findings among them appended to `findings` (what every tool that
    /// drives a renderer keeps for its summary).
    public mutating func render(_ events: [TraceEvent], collecting findings: inout [Finding]) -> [String] {
        var lines: [String] = []
        for e in events {
            if case .finding(let f) = e { findings.append(f) }
            lines += render(e)
        }
        return lines
    }

    /// `render(_:collecting:)` with the lines as UTF-8, each ending in a newline, appended to `out`.
    public mutating func render(_ events: [TraceEvent], collecting findings: inout [Finding], into out: inout [UInt8]) {
        for e in events {
            if case .finding(let f) = e { findings.append(f) }
            render(e, into: &out)
        }
    }
}

extension Array where Element == UInt8 {
    /// `lines` as UTF-8, each followed by a newline.
    public mutating func appendLines(_ lines: [String]) {
        for line in lines {
            append(contentsOf: line.utf8)
            append(0x0A)
        }
    }
}

extension TextRenderer: TraceRenderer {
    /// Answered requests, nearly every line of a timeline, are written straight into `out`.
    public mutating func render(_ event: TraceEvent, into out: inout [UInt8]) {
        if case .frame(let f) = event, f.command.isResponse, let req = f.request, f.annotation == nil {
            guard filter.matches(f) else { return }
            responseLine(f, req, into: &out)
            out.append(0x0A)
            return
        }
        out.appendLines(render(event))
    }

    public mutating func finish(statistics: TraceStatistics, analyzer: ConsumeFlowAnalyzer, findings: [Finding], source: String?) -> [String] {
        summary(statistics: statistics, analyzer: analyzer, findings: findings, source: source)
    }
}

extension NDJSONRenderer: TraceRenderer {
    /// Frames, nearly every line of a trace, are written straight into `out`: no String and no array per line.
    public mutating func render(_ event: TraceEvent, into out: inout [UInt8]) {
        if case .frame(let f) = event {
            guard filter.matches(f) else { return }
            Self.frameLine(f, into: &out)
            out.append(0x0A)
            return
        }
        out.appendLines(render(event))
    }

    public mutating func finish(statistics: TraceStatistics, analyzer: ConsumeFlowAnalyzer, findings: [Finding], source: String?) -> [String] {
        [summary(statistics: statistics, analyzer: analyzer)]
    }
}

/// The text summary alone: no timeline.
public struct SummaryRenderer: TraceRenderer, Sendable {
    public var text: TextRenderer
    public init(text: TextRenderer = TextRenderer()) { self.text = text }
    public func render(_ event: TraceEvent) -> [String] { [] }
    public mutating func finish(statistics: TraceStatistics, analyzer: ConsumeFlowAnalyzer, findings: [Finding], source: String?) -> [String] {
        text.summary(statistics: statistics, analyzer: analyzer, findings: findings, source: source)
    }
}

/// The output formats and their renderers.
public enum OutputFormat: String, Sendable, CaseIterable {
    case text, ndjson, summary, mermaid, html

    /// Whether the format prints every frame (so frame events must be built).
    public var printsFrames: Bool { self != .summary }

    public func renderer(color: Bool = false, filter: TraceFilter = TraceFilter()) -> any TraceRenderer {
        switch self {
        case .text: return TextRenderer(color: color, filter: filter)
        case .ndjson: return NDJSONRenderer(filter: filter)
        case .summary: return SummaryRenderer(text: TextRenderer(filter: filter))
        case .mermaid: return MermaidRenderer(filter: filter)
        case .html: return HTMLReportRenderer(filter: filter)
        }
    }
}

/// One JSON object written member by member into bytes: `{"key":value,…}`.
struct JSONLineWriter<Sink: JSONByteSink> {
    var bytes: Sink
    private var members = 0

    init(_ sink: Sink) { bytes = sink }

    /// Ends the object.
    mutating func close() {
        if members == 0 { bytes.append(UInt8(ascii: "{")) }
        bytes.append(UInt8(ascii: "}"))
    }

    /// `{"k":` or `,"k":`, in one piece (five appends to an array, each with its capacity and uniqueness
    /// checks, cost about 190 instructions; a frame line has twenty keys).
    mutating func key(_ k: StaticString) {
        let separator = members == 0 ? UInt8(ascii: "{") : UInt8(ascii: ",")
        members += 1
        k.withUTF8Buffer { name in
            bytes.append((separator, UInt8(ascii: "\""), 2), UnsafeRawBufferPointer(name), (UInt8(ascii: "\""), UInt8(ascii: ":"), 2))
        }
    }
    mutating func null() {
        ("null" as StaticString).withUTF8Buffer { bytes.append(contentsOf: UnsafeRawBufferPointer($0)) }
    }
    mutating func string(_ k: StaticString, _ v: String?) {
        key(k)
        if let v { bytes.appendJSONString(v) } else { null() }
    }
    mutating func int<T: BinaryInteger>(_ k: StaticString, _ v: T?) {
        key(k)
        if let v { writeInt(Int64(v)) } else { null() }
    }
    mutating func writeInt(_ v: Int64) {
        if v < 0 { bytes.append(UInt8(ascii: "-")) }
        writeDigits(v.magnitude, width: 1)
    }
    /// `v` in decimal, zero-padded to `width` digits.
    mutating func writeDigits(_ v: UInt64, width: Int) {
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = 0
        var x = v
        withUnsafeMutableBytes(of: &digits) { d in
            repeat {
                d[19 - n] = UInt8(ascii: "0") + UInt8(x % 10)
                x /= 10
                n += 1
            } while x > 0 || n < width
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: d[(20 - n)...]))
        }
    }
    /// Seconds since the epoch with microseconds, as `Describe.epochSeconds`.
    mutating func time(_ k: StaticString, _ t: CaptureTime) {
        key(k)
        let ns = t.nanoseconds
        if ns < 0 { bytes.append(UInt8(ascii: "-")) }
        let a = ns.magnitude
        writeDigits(a / 1_000_000_000, width: 1)
        bytes.append(UInt8(ascii: "."))
        writeDigits((a % 1_000_000_000) / 1000, width: 6)
    }
    /// Milliseconds with three decimals, as `NDJSONRenderer.ms`.
    mutating func millis(_ nanos: Int64) {
        let us = nanos / 1000
        writeInt(us / 1000)
        bytes.append(UInt8(ascii: "."))
        writeDigits((us % 1000).magnitude, width: 3)
    }
}

extension JSONLineWriter where Sink == [UInt8] {
    init() { self.init([]) }

    /// A writer that appends to `out`'s bytes, which it holds until `close(into:)` gives them back (moved, not
    /// copied: `out` is left empty meanwhile).
    init(taking out: inout [UInt8]) {
        bytes = []
        swap(&bytes, &out)
    }

    /// Ends the object and moves the bytes back into `out`.
    mutating func close(into out: inout [UInt8]) {
        close()
        swap(&bytes, &out)
    }
}
