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

    public init() {}

    public var count: Int { inFlight.count }
    public var isEmpty: Bool { inFlight.isEmpty }
    public var minInFlight: Int64? { inFlight.keys.min() }
    public var maxInFlight: Int64? { inFlight.keys.max() }
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
        return minInFlight ?? maxOffset + 1
    }

    /// Forgets everything (the queue was dropped).
    public mutating func clear() {
        inFlight.removeAll()
        cachedBytes = 0
    }
}
