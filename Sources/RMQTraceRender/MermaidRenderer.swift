import RMQTraceModel
import RMQTraceCore
import RocketMQRemoting

/// A Mermaid sequence diagram of the consume flow: participants are the name servers, the brokers and the
/// clients (by clientID); one arrow per exchange, answers dashed, long polls with their hold time, phases and
/// findings as notes. Repeated exchanges between the same two participants with the same request code (pulls,
/// route refreshes, heartbeats, commits) collapse into one arrow with a count and a time span, so that a long
/// run stays drawable: the diagram is capped at `maxLines` and says what it left out.
public struct MermaidRenderer: TraceRenderer, Sendable {
    public var maxLines: Int
    public var filter: TraceFilter

    /// One drawn exchange, or a run of collapsed ones.
    struct Arrow: Sendable {
        var from: String
        var to: String
        var code: Int32
        var label: String
        var count: Int
        var first: CaptureTime
        var last: CaptureTime
        var answers: [String: Int]
        var oneway: Bool
        var maxHoldNanos: Int64
        var unanswered: Int
    }
    enum Item: Sendable {
        case arrow(Int)
        case note(over: [String], text: String)
    }

    private var participants: [String] = []
    private var kinds: [String: Role] = [:]
    private var arrows: [Arrow] = []
    private var items: [Item] = []
    /// The index of the last arrow between two participants (either way), so that interleaved streams of
    /// different pairs still collapse.
    private var lastArrowOfPair: [String: Int] = [:]
    private var lastPhase: [String: Phase] = [:]
    private var exchanges = 0

    public init(maxLines: Int = 380, filter: TraceFilter = TraceFilter()) {
        self.maxLines = maxLines
        self.filter = filter
    }

    public mutating func render(_ event: TraceEvent) -> [String] {
        switch event {
        case .frame(let f):
            if f.command.isResponse {
                guard let req = f.request, filter.matches(f) else { return [] }
                let hold = f.latencyNanos ?? 0
                add(frame: f, code: req.code, header: req.header, answer: Describe.answer(f).split(separator: " ").first.map(String.init) ?? "?",
                    hold: hold, oneway: false, unanswered: false)
            } else if f.command.isOneway, filter.matches(f) {
                add(frame: f, code: f.command.code, header: f.header, answer: nil, hold: 0, oneway: true, unanswered: false)
            }
        case .unanswered(let f, _, _):
            guard filter.matches(f) else { return [] }
            add(frame: f, code: f.command.code, header: f.header, answer: nil, hold: 0, oneway: false, unanswered: true)
        case .finding(let finding):
            guard finding.severity > .info else { return [] }
            // Over every participant (drawn across the whole diagram).
            items.append(.note(over: [], text: "\(finding.severity == .error ? "ERROR" : "WARNING") \(finding.kind): \(Self.clip(finding.message, 140))"))
        default:
            break
        }
        return []
    }

    private mutating func participant(_ name: String, _ role: Role) -> String {
        if kinds[name] == nil {
            participants.append(name)
            kinds[name] = role
        }
        return name
    }

    private mutating func add(frame f: FrameRecord, code: Int32, header: TypedHeader?, answer: String?, hold: Int64, oneway: Bool,
                              unanswered: Bool) {
        exchanges += 1
        let ends = ExchangeEnds(f)
        let from = participant(ends.requester, ends.requesterRole)
        let to = participant(ends.answerer, ends.answererRole)
        // A note where a client's phase changes.
        let phaseOwner = ends.requesterIsClient ? from : to
        if lastPhase[phaseOwner] != f.phase, f.phase != .other, f.phase != .admin {
            lastPhase[phaseOwner] = f.phase
            items.append(.note(over: [phaseOwner], text: f.phase.rawValue))
        }
        var label = RequestCode.name(code)
        if let t = header?.topic { label += " \(t)" + (header?.queueId.map { "#\($0)" } ?? "") }
        let pair = from < to ? "\(from)\u{1}\(to)" : "\(to)\u{1}\(from)"
        if let i = lastArrowOfPair[pair], arrows[i].from == from, arrows[i].code == code, arrows[i].oneway == oneway,
           case .arrow(let last)? = items.last(where: { if case .arrow = $0 { return true } else { return false } }),
           last == i || code == RequestCode.pullMessage || code == RequestCode.updateConsumerOffset || code == RequestCode.heartBeat
            || code == RequestCode.getRouteInfoByTopic || code == RequestCode.popMessage || code == RequestCode.ackMessage {
            arrows[i].count += 1
            arrows[i].last = f.time
            if arrows[i].label != label {
                // Mixed queues: name the topic alone; mixed topics: the code alone.
                let topicOnly = RequestCode.name(code) + (header?.topic.map { " \($0)" } ?? "")
                arrows[i].label = arrows[i].label.hasPrefix(topicOnly) ? topicOnly : RequestCode.name(code)
            }
            if let answer { arrows[i].answers[answer, default: 0] += 1 }
            arrows[i].maxHoldNanos = max(arrows[i].maxHoldNanos, hold)
            if unanswered { arrows[i].unanswered += 1 }
            return
        }
        arrows.append(Arrow(from: from, to: to, code: code, label: label, count: 1, first: f.time, last: f.time,
                            answers: answer.map { [$0: 1] } ?? [:], oneway: oneway, maxHoldNanos: hold, unanswered: unanswered ? 1 : 0))
        lastArrowOfPair[pair] = arrows.count - 1
        items.append(.arrow(arrows.count - 1))
    }

    public mutating func finish(statistics: TraceStatistics, analyzer: ConsumeFlowAnalyzer, findings: [Finding], source: String?) -> [String] {
        var ids: [String: String] = [:]
        var out = ["sequenceDiagram"]
        // Servers first (name servers, then brokers), then clients, each in order of appearance.
        let order: (Role) -> Int = { $0 == .nameServer ? 0 : ($0 == .broker ? 1 : 2) }
        let sorted = participants.enumerated().sorted { (order(kinds[$0.element] ?? .unknown), $0.offset) < (order(kinds[$1.element] ?? .unknown), $1.offset) }
        for (n, (_, name)) in sorted.enumerated() {
            let id = "P\(n + 1)"
            ids[name] = id
            let role = kinds[name] ?? .unknown
            let label = role == .nameServer ? "namesrv \(name)" : (role == .broker ? "broker \(name)" : name)
            out.append("    participant \(id) as \(Self.escape(label))")
        }
        let budget = max(8, maxLines - out.count - 2)
        var drawn = 0
        var left = 0
        for item in items {
            let lines: [String]
            switch item {
            case .arrow(let i):
                lines = arrowLines(arrows[i], ids: ids)
            case .note(let over, let text):
                let who = over.isEmpty ? (sorted.isEmpty ? [] : ["P1", "P\(sorted.count)"]) : over.compactMap { ids[$0] }
                guard !who.isEmpty else { continue }
                lines = ["    Note over \(Array(Set(who)).sorted { $0.count == $1.count ? $0 < $1 : $0.count < $1.count }.joined(separator: ",")): \(Self.escape(text))"]
            }
            if drawn + lines.count > budget { left += 1; continue }
            out += lines
            drawn += lines.count
        }
        if left > 0 { out.append("    Note over \(ids.values.sorted().first ?? "P1"): \(left) more arrows and notes not drawn (the diagram is capped at \(maxLines) lines)") }
        return out
    }

    private func arrowLines(_ a: Arrow, ids: [String: String]) -> [String] {
        guard let from = ids[a.from], let to = ids[a.to] else { return [] }
        var request = a.label
        if a.count > 1 {
            let span = a.last.nanoseconds - a.first.nanoseconds
            request += " ×\(a.count) over \(FindingDetail.seconds(span))"
        }
        var lines = ["    \(from)->>\(to): \(Self.escape(request))"]
        if a.oneway { lines[0] = "    \(from)-)\(to): \(Self.escape(request + " (oneway)"))" ; return lines }
        var answer = a.answers.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }
            .map { a.count > 1 ? "\($0.key)×\($0.value)" : $0.key }.joined(separator: " ")
        if a.unanswered > 0 { answer += (answer.isEmpty ? "" : " ") + "no answer×\(a.unanswered)" }
        if a.code == RequestCode.pullMessage || a.code == RequestCode.popMessage, a.maxHoldNanos >= 1_000_000_000 {
            answer += ", held up to \(FindingDetail.seconds(a.maxHoldNanos))"
        } else if a.count == 1, a.maxHoldNanos > 0 {
            answer += " (\(Describe.latency(a.maxHoldNanos)))"
        }
        if !answer.isEmpty { lines.append("    \(to)-->>\(from): \(Self.escape(answer))") }
        return lines
    }

    static func clip(_ s: String, _ n: Int) -> String { s.count <= n ? s : String(s.prefix(n - 1)) + "…" }

    /// Mermaid text: `#` starts an entity and `;` ends a statement, so both are written as entities; line
    /// breaks become spaces.
    static func escape(_ s: String) -> String {
        var out = ""
        for ch in s {
            switch ch {
            case "#": out += "#35;"
            case ";": out += "#59;"
            case "\n", "\r": out += " "
            default: out.append(ch)
            }
        }
        return out
    }
}

/// The two ends of an exchange as the pictures name them: who asked and who answered, a client by its clientID.
struct ExchangeEnds {
    let requester: String
    let requesterRole: Role
    let answerer: String
    let answererRole: Role

    init(_ f: FrameRecord) {
        let (req, reqRole, srv, srvRole) = f.command.isResponse
            ? (f.destination, f.destinationRole, f.source, f.sourceRole)
            : (f.source, f.sourceRole, f.destination, f.destinationRole)
        let client = f.client ?? req
        requester = reqRole == .client || reqRole == .unknown ? client : req
        requesterRole = reqRole
        answerer = srvRole == .client || srvRole == .unknown ? client : srv
        answererRole = srvRole
    }

    var requesterIsClient: Bool { requesterRole == .client || requesterRole == .unknown }
}
