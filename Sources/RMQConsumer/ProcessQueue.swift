import RocketMQRemoting

/// The messages of one queue that were delivered and are not finished yet, in offset order, with when each was
/// delivered, and the committable offset they imply (Java `ProcessQueue` with its `msgTreeMap`, a TreeMap).
///
/// The committable offset never passes a message still in flight: after `remove`, it is the lowest offset
/// still in flight, or `maxOffset + 1` when nothing is (`ProcessQueue.removeMessage`).
///
/// Held as one array in ascending offset order rather than tables keyed by offset: pulls add messages above
/// the highest offset (an append), and they mostly finish from the lowest up (the first slot), so a message
/// costs no hashing on its way in and out. A message that finishes before the ones below it stays as a
/// finished slot until they finish; finished slots at either end are dropped at once.
public struct ProcessQueue: Hashable, Sendable {
    /// One offset put into the queue; `live` until it finishes.
    struct Slot: Sendable {
        var offset: Int64
        var size: Int
        var message: DeliveredMessage?
        /// When it was (last) delivered, milliseconds since the epoch (for `consumeTimeout`).
        var deliveredAt: Int64?
        var live: Bool
    }
    /// Ascending offsets from `head`; `slots[head]` and the last slot are live whenever `count > 0`.
    private var slots: [Slot] = []
    private var head = 0
    /// Messages in flight.
    public private(set) var count = 0
    /// Highest offset ever put (`queueOffsetMax`).
    public private(set) var maxOffset: Int64 = -1
    public private(set) var cachedBytes: Int = 0

    public init() {}

    public var isEmpty: Bool { count == 0 }
    /// The lowest and highest offsets in flight (Java's TreeMap firstKey and lastKey).
    public var minInFlight: Int64? { count == 0 ? nil : slots[head].offset }
    public var maxInFlight: Int64? { count == 0 ? nil : slots[slots.count - 1].offset }
    /// Offsets in flight, ascending.
    public var offsets: [Int64] { liveSlots.map(\.offset) }
    public func contains(_ offset: Int64) -> Bool { index(of: offset) != nil }

    /// `ProcessQueue.getMaxSpan`: distance between the lowest and highest offset in flight.
    public var span: Int64 {
        guard let lo = minInFlight, let hi = maxInFlight else { return 0 }
        return hi - lo
    }

    /// Adds messages (already-present offsets are ignored, as a TreeMap put of the same key keeps one entry).
    public mutating func put(_ messages: [(offset: Int64, size: Int)]) {
        for m in messages { insert(Slot(offset: m.offset, size: m.size, message: nil, deliveredAt: nil, live: true)) }
    }

    /// Adds pulled messages, delivered at `now` (milliseconds since the epoch). One already in flight at its
    /// offset is replaced and counts as delivered again (Java submits every message of a pull, the TreeMap
    /// keeps one entry per offset).
    mutating func put(_ messages: [DeliveredMessage], deliveredAt now: Int64) {
        for m in messages {
            let slot = Slot(offset: m.queueOffset, size: m.record.storedBodyLength, message: m, deliveredAt: now, live: true)
            if !insert(slot), let i = index(of: m.queueOffset) {
                slots[i].message = m
                slots[i].deliveredAt = now
            }
        }
    }

    /// The message in flight at `offset`, if it was put with one.
    func message(at offset: Int64) -> DeliveredMessage? { index(of: offset).flatMap { slots[$0].message } }
    /// When the message at `offset` was last delivered.
    func deliveredAt(_ offset: Int64) -> Int64? { index(of: offset).flatMap { slots[$0].deliveredAt } }

    /// Delivers again the messages at `offsets` that are in flight with one, at `now`: returns them, in the
    /// order asked.
    mutating func redeliver(_ offsets: [Int64], at now: Int64) -> [DeliveredMessage] {
        var out: [DeliveredMessage] = []
        for o in offsets {
            guard let i = index(of: o), let m = slots[i].message else { continue }
            slots[i].deliveredAt = now
            out.append(m)
        }
        return out
    }

    /// Changes the message in flight at `offset`; false when there is none.
    mutating func updateMessage(at offset: Int64, _ change: (inout DeliveredMessage) -> Void) -> Bool {
        guard let i = index(of: offset), slots[i].message != nil else { return false }
        change(&slots[i].message!)
        return true
    }

    /// Removes finished messages and returns the offset that may be committed now, or nil when the queue was
    /// already empty (Java returns −1 then and the stored offset stays).
    @discardableResult
    public mutating func remove(_ offsets: [Int64]) -> Int64? {
        guard count > 0 else { return nil }
        for o in offsets {
            guard let i = index(of: o) else { continue }
            slots[i].live = false
            slots[i].message = nil
            count -= 1
            cachedBytes -= slots[i].size
        }
        if count == 0 {
            slots.removeAll(keepingCapacity: true)
            head = 0
        } else {
            while !slots[head].live { head += 1 }
            while !slots[slots.count - 1].live { slots.removeLast() }
            // The finished slots before `head` go once they are half of the array.
            if head >= 32 && head * 2 >= slots.count {
                slots.removeSubrange(0..<head)
                head = 0
            }
        }
        return minInFlight ?? maxOffset + 1
    }

    /// Forgets everything (the queue was dropped).
    public mutating func clear() {
        slots.removeAll()
        head = 0
        count = 0
        cachedBytes = 0
    }

    /// The index of the live slot of `offset`: the lowest slot, where most messages finish, or by binary search.
    private func index(of offset: Int64) -> Int? {
        guard count > 0 else { return nil }
        if slots[head].offset == offset { return head }
        let i = lowerBound(offset)
        return i < slots.count && slots[i].offset == offset && slots[i].live ? i : nil
    }

    /// The first index from `head` whose offset is not below `offset`.
    private func lowerBound(_ offset: Int64) -> Int {
        var lo = head, hi = slots.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if slots[mid].offset < offset { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// Puts one slot in its place; false when its offset is in flight already.
    @discardableResult
    private mutating func insert(_ slot: Slot) -> Bool {
        // Empty whenever nothing is in flight (`remove` and `clear` empty it).
        if slots.isEmpty || slot.offset > slots[slots.count - 1].offset {
            slots.append(slot)
        } else {
            let i = lowerBound(slot.offset)
            if i < slots.count && slots[i].offset == slot.offset {
                if slots[i].live { return false }
                slots[i] = slot  // finished and put again (a pull from an earlier offset)
            } else {
                slots.insert(slot, at: i)
            }
        }
        count += 1
        cachedBytes += slot.size
        if slot.offset > maxOffset { maxOffset = slot.offset }
        return true
    }

    /// The slots in flight, ascending (finished ones between them left out).
    private var liveSlots: [Slot] { count == 0 ? [] : slots[head...].filter(\.live) }

    // Equal when the same offsets are in flight with the same messages, sizes and times, however the finished
    // slots lie.

    public static func == (a: ProcessQueue, b: ProcessQueue) -> Bool {
        a.count == b.count && a.maxOffset == b.maxOffset && a.cachedBytes == b.cachedBytes
            && a.liveSlots.elementsEqual(b.liveSlots) {
                $0.offset == $1.offset && $0.size == $1.size && $0.message == $1.message && $0.deliveredAt == $1.deliveredAt
            }
    }

    public func hash(into h: inout Hasher) {
        h.combine(count)
        h.combine(maxOffset)
        for s in liveSlots { h.combine(s.offset) }
    }
}
