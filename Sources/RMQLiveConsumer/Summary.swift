import RMQConsumer
import RocketMQRemoting
import Synchronization

/// Counts the problems a consumer reported during its run, by kind, keeping the first example of each.
public final class ProblemTally: Sendable {
    struct Entry { var count: Int; var example: String }
    private let entries = Mutex<[String: Entry]>([:])
    private let order = Mutex<[String]>([])
    public init() {}

    public func add(_ p: Problem) {
        let kind = Self.kind(p)
        entries.withLock { e in
            if e[kind] == nil { order.withLock { $0.append(kind) } }
            e[kind, default: Entry(count: 0, example: p.description)].count += 1
        }
    }

    public var lines: [String] {
        let o = order.withLock { $0 }
        return entries.withLock { e in o.map { "  \($0): \(e[$0]!.count) (first: \(e[$0]!.example))" } }
    }

    public var isEmpty: Bool { entries.withLock { $0.isEmpty } }

    static func kind(_ p: Problem) -> String {
        let d = String(describing: p)
        return String(d.prefix { $0 != "(" })
    }
}

/// The consumer part of a closing summary: what the listener did per queue, what was committed at
/// shutdown, and what shutdown could not do.
public enum ConsumerSummary {
    public static func lines(clientID: String, group: String, statistics: LiveConsumerStatistics, report: ShutdownReport,
                             problems: ProblemTally?, seconds: Double) -> [String] {
        var l: [String] = []
        let rate = seconds > 0 ? Double(statistics.consumedTotal) / seconds : 0
        l.append("consumer \(clientID) (group \(group)): \(statistics.consumedTotal) messages consumed, \(statistics.failedTotal) returned RECONSUME_LATER, in \(format(seconds)) s (\(Int(rate.rounded())) msg/s)")
        let queues = Set(statistics.consumed.keys).union(statistics.failed.keys).union(report.persistedOffsets.keys).sorted()
        if !queues.isEmpty {
            l.append("  queue                                    consumed  failed  committed at shutdown")
            for q in queues {
                let name = "\(q.topic)@\(q.brokerName)#\(q.queueId)"
                let committed = report.persistedOffsets[q].map(String.init) ?? report.offsetsNotPersisted[q].map { "\($0) NOT SENT" } ?? "-"
                l.append("  " + pad(name, 40) + " " + lpad(String(statistics.consumed[q] ?? 0), 8) + " " + lpad(String(statistics.failed[q] ?? 0), 7)
                         + "  " + committed)
            }
        }
        if report.isClean {
            l.append("  shutdown: clean (every processed message committed, every broker told UNREGISTER_CLIENT)")
        } else {
            for (q, o) in report.unconsumed.sorted(by: { $0.key < $1.key }) {
                l.append("  NOT DONE: \(q) offsets \(o.map(String.init).joined(separator: ",")) still being consumed at the deadline: not committed (delivered again after a restart)")
            }
            for (q, o) in report.pendingSendBacks.sorted(by: { $0.key < $1.key }) {
                l.append("  NOT DONE: \(q) send-backs of offsets \(o.map(String.init).joined(separator: ",")) unanswered: not committed")
            }
            for (q, o) in report.offsetsNotPersisted.sorted(by: { $0.key < $1.key }) {
                l.append("  NOT DONE: offset \(o) of \(q) not sent (no master address)")
            }
            for (a, why) in report.unregisterFailed.sorted(by: { $0.key < $1.key }) {
                l.append("  NOT DONE: UNREGISTER_CLIENT at \(a): \(why)")
            }
        }
        if let problems, !problems.isEmpty {
            l.append("  problems reported during the run:")
            l += problems.lines
        }
        return l
    }

    static func format(_ s: Double) -> String {
        let ms = Int((s * 1000).rounded())
        return "\(ms / 1000).\(String(repeating: "0", count: 3 - String(ms % 1000).count))\(ms % 1000)"
    }
    static func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : s + String(repeating: " ", count: w - s.count) }
    static func lpad(_ s: String, _ w: Int) -> String { s.count >= w ? s : String(repeating: " ", count: w - s.count) + s }
}
