/// The client-side queue allocation strategies of the push consumer (PROTOCOL.md 7.6). Inputs are sorted as
/// Java sorts them: queues by `MessageQueue.compareTo`, consumer ids by `String.compareTo` (UTF-16 order).
public enum AllocationStrategy: String, Sendable, CaseIterable {
    /// AllocateMessageQueueAveragely: contiguous blocks, the first `n mod c` consumers get one more.
    case averagely = "AVG"
    /// AllocateMessageQueueAveragelyByCircle: round-robin dealing.
    case circle = "AVG_BY_CIRCLE"

    /// The queues `current` gets; empty when it is not in `consumers` (Java logs and allocates nothing).
    public func allocate(queues: [MessageQueue], consumers: [String], current: String) -> [MessageQueue] {
        let mqAll = queues.sorted()
        let cidAll = consumers.sorted { $0.utf16.lexicographicallyPrecedes($1.utf16) }
        guard let i = cidAll.firstIndex(of: current), !mqAll.isEmpty else { return [] }
        let n = mqAll.count, c = cidAll.count
        switch self {
        case .averagely:
            let mod = n % c
            let avg = n <= c ? 1 : (mod > 0 && i < mod ? n / c + 1 : n / c)
            let start = (mod > 0 && i < mod) ? i * avg : i * avg + mod
            let count = min(avg, n - start)
            return count > 0 ? Array(mqAll[start..<(start + count)]) : []
        case .circle:
            return stride(from: i, to: n, by: c).map { mqAll[$0] }
        }
    }
}
