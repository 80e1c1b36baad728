import RocketMQRemoting

/// The messages of one queue that were delivered and are not finished yet, and the committable offset they
/// imply (Java `ProcessQueue` with its `msgTreeMap`).
///
/// The committable offset never passes a message still in flight: after `remove`, it is the lowest offset
/// still in flight, or `maxOffset + 1` when nothing is (`ProcessQueue.removeMessage`).
public struct ProcessQueue: Hashable, Sendable {
    /// offset → size in bytes of the body, for the size threshold.
    private(set) var inFlight: [Int64: Int] = [:]
    /// Highest offset ever put (`queueOffsetMax`).
    public private(set) var maxOffset: Int64 = -1
    public private(set) var cachedBytes: Int = 0
    /// The lowest and highest offsets in flight, kept as messages come and go (Java's TreeMap firstKey and
    /// lastKey), so that neither a finished message nor the flow-control check before each pull scans the table.
    public private(set) var minInFlight: Int64?
    public private(set) var maxInFlight: Int64?

    public init() {}

    public var count: Int { inFlight.count }
    public var isEmpty: Bool { inFlight.isEmpty }
    /// Offsets in flight, ascending.
    public var offsets: [Int64] { inFlight.keys.sorted() }
    public func contains(_ offset: Int64) -> Bool { inFlight[offset] != nil }

    /// `ProcessQueue.getMaxSpan`: distance between the lowest and highest offset in flight.
    public var span: Int64 {
        guard let lo = minInFlight, let hi = maxInFlight else { return 0 }
        return hi - lo
    }

    /// Adds messages (already-present offsets are ignored, as a TreeMap put of the same key keeps one entry).
    public mutating func put(_ messages: [(offset: Int64, size: Int)]) {
        for m in messages where inFlight[m.offset] == nil {
            inFlight[m.offset] = m.size
            cachedBytes += m.size
            if m.offset > maxOffset { maxOffset = m.offset }
            if m.offset < minInFlight ?? .max { minInFlight = m.offset }
            if m.offset > maxInFlight ?? .min { maxInFlight = m.offset }
        }
    }

    /// Removes finished messages and returns the offset that may be committed now, or nil when the queue was
    /// already empty (Java returns −1 then and the stored offset stays).
    @discardableResult
    public mutating func remove(_ offsets: [Int64]) -> Int64? {
        guard !inFlight.isEmpty else { return nil }
        for o in offsets {
            if let size = inFlight.removeValue(forKey: o) { cachedBytes -= size }
        }
        if inFlight.isEmpty {
            minInFlight = nil
            maxInFlight = nil
        } else {
            // Offsets mostly finish in order, so a short walk from the old bound finds the new one; across a
            // wide gap (messages filtered out by tag) the table is scanned instead.
            if let lo = minInFlight, inFlight[lo] == nil {
                minInFlight = Self.walk(from: lo, by: 1, in: inFlight) ?? inFlight.keys.min()
            }
            if let hi = maxInFlight, inFlight[hi] == nil {
                maxInFlight = Self.walk(from: hi, by: -1, in: inFlight) ?? inFlight.keys.max()
            }
        }
        return minInFlight ?? maxOffset + 1
    }

    /// The first offset in flight within 64 steps of `start`, or nil.
    private static func walk(from start: Int64, by step: Int64, in table: [Int64: Int]) -> Int64? {
        var o = start
        for _ in 0..<64 {
            o += step
            if table[o] != nil { return o }
        }
        return nil
    }

    /// Forgets everything (the queue was dropped).
    public mutating func clear() {
        inFlight.removeAll()
        cachedBytes = 0
        minInFlight = nil
        maxInFlight = nil
    }
}
