import NIOCore
import RocketMQRemoting

/// Where the broker state reads back what has left memory: the commit log and consume-queue files of `--store`
/// (``MessageStore``). These are the state's only reads outside itself; every write stays an action
/// (``BrokerAction/persist(_:entries:)``), and nothing is read back before the driver has written it (entries and
/// records leave memory only on a clock tick, after the actions of every request before it were executed).
public protocol ColdStorage: AnyObject, Sendable {
    /// The records at these commit-log positions, in order; nil for one that cannot be read.
    func readRecords(_ at: [QueueEntry]) -> [ByteBuffer?]
    /// The record at a physical offset, its size read from its first four bytes (at most `maxSize`).
    func readRecord(physicalOffset: Int64, maxSize: Int) -> ByteBuffer?
    /// Up to `count` consume-queue entries of `key` from `offset` on (fewer where the file ends).
    func readEntries(_ key: QueueKey, from offset: Int64, count: Int) -> [QueueEntry]
}

/// A consume-queue entry: Java ConsumeQueue's unit (commit-log offset, size, tags hash code) and the store time,
/// 28 bytes on disk.
public struct QueueEntry: Sendable, Equatable {
    public var physicalOffset: Int64
    public var size: Int32
    public var tagsCode: Int64
    public var storeTimestamp: Int64
    public static let diskSize = 28

    public init(physicalOffset: Int64, size: Int32, tagsCode: Int64, storeTimestamp: Int64) {
        self.physicalOffset = physicalOffset
        self.size = size
        self.tagsCode = tagsCode
        self.storeTimestamp = storeTimestamp
    }

    func write(into b: inout ByteBuffer) {
        b.writeMultipleIntegers(physicalOffset, size, tagsCode, storeTimestamp)
    }

    static func read(_ b: inout ByteBuffer) -> QueueEntry? {
        guard let (p, s, t, ts) = b.readMultipleIntegers(as: (Int64, Int32, Int64, Int64).self) else { return nil }
        return QueueEntry(physicalOffset: p, size: s, tagsCode: t, storeTimestamp: ts)
    }
}

/// A consume queue: offsets `minOffset..<maxOffset`, the newest of them in memory (`hot`); older entries are read
/// back from ``ColdStorage`` (with `--store`) or are gone (memory only: `minOffset` moves past them).
public struct ConsumeQueue: Sendable {
    public internal(set) var minOffset: Int64 = 0
    public internal(set) var maxOffset: Int64 = 0
    /// Entries `hotStart..<maxOffset`.
    var hot = CircularBuffer<QueueEntry>()

    public init(minOffset: Int64 = 0, entries: [QueueEntry] = []) {
        self.minOffset = minOffset
        maxOffset = minOffset + Int64(entries.count)
        hot = CircularBuffer(entries)
    }

    var hotStart: Int64 { maxOffset - Int64(hot.count) }
    /// The entries in memory, oldest first.
    var entries: [QueueEntry] { Array(hot) }

    mutating func append(_ e: QueueEntry) {
        hot.append(e)
        maxOffset += 1
    }

    mutating func append(contentsOf es: [QueueEntry]) {
        hot.append(contentsOf: es)
        maxOffset += Int64(es.count)
    }

    /// The entry at `offset` if it is in memory.
    func hotEntry(at offset: Int64) -> QueueEntry? {
        let i = offset - hotStart
        guard offset >= minOffset, i >= 0, i < Int64(hot.count) else { return nil }
        return hot[hot.index(hot.startIndex, offsetBy: Int(i))]
    }

    /// Memory only: forgets the entries whose records were dropped (physical offset below `first`).
    mutating func dropBefore(physicalOffset first: Int64) {
        while let e = hot.first, e.physicalOffset < first { hot.removeFirst() }
        minOffset = max(minOffset, hotStart)
    }

    /// With a cold storage: keeps the newest `keep` entries in memory.
    mutating func keepNewest(_ keep: Int) {
        if hot.count > keep { hot.removeFirst(hot.count - keep) }
    }
}

/// The newest records of the commit log in memory, in segments of contiguous records, bounded in bytes. A record
/// never spans two segments. Segments are written only at their end and only while this cache holds the sole
/// reference (copied first otherwise), and records are handed out as copies, so the state stays a value.
struct RecordCache: Sendable {
    final class Segment: @unchecked Sendable {
        let start: Int64
        let capacity: Int
        let bytes: UnsafeMutableRawPointer
        var used = 0
        init(start: Int64, capacity: Int) {
            self.start = start
            self.capacity = capacity
            bytes = .allocate(byteCount: capacity, alignment: 8)
        }
        /// A segment at `start` that takes over the memory of `old` (which must not be used again).
        init(start: Int64, reusing old: Segment) {
            self.start = start
            capacity = old.capacity
            bytes = old.bytes
            old.handedOver = true
        }
        /// The memory went to another segment.
        private var handedOver = false
        deinit { if !handedOver { bytes.deallocate() } }
        var end: Int64 { start + Int64(used) }
        func copy() -> Segment {
            let s = Segment(start: start, capacity: capacity)
            s.bytes.copyMemory(from: bytes, byteCount: used)
            s.used = used
            return s
        }
    }

    /// Oldest first (an array: `isKnownUniquelyReferenced` needs its in-place element access; a few hundred at most).
    var segments: [Segment] = []
    var segmentBytes = 1 << 20
    /// Bytes allocated by the segments held.
    private(set) var heldBytes = 0
    /// Segments dropped by the last trims, kept for the next appends: memory the process has touched already.
    /// Freed, their memory went back to the kernel (glibc trims its heaps) and came back as fresh pages, a page
    /// fault each; on a VM whose host backs fresh guest memory lazily, that cost 5-10 us a page against 1.3 here
    /// (the broker benchmark, once a JVM had started beside it). At most `spareLimit` bytes.
    var spare: [Segment] = []
    /// The most a trim keeps (`preallocate` may hold more until the appends take them).
    var spareLimit = 16 << 20
    private(set) var spareBytes = 0

    /// The first physical offset held (the end of the log when nothing is).
    var start: Int64? { segments.first?.start }

    /// Appends a record written at physical offset `physical` (the end of what is held, or anywhere when empty).
    mutating func append(_ record: ByteBuffer, at physical: Int64) {
        let n = record.readableBytes
        let fits = segments.last.map { $0.end == physical && $0.capacity - $0.used >= n } ?? false
        if fits {
            if !isKnownUniquelyReferenced(&segments[segments.count - 1]) { segments[segments.count - 1] = segments[segments.count - 1].copy() }
        } else {
            if let last = segments.last, last.end != physical { clear() }
            let s = takeSpare(start: physical, minimumCapacity: n) ?? Segment(start: physical, capacity: max(segmentBytes, n))
            segments.append(s)
            heldBytes += s.capacity
        }
        let seg = segments[segments.count - 1]
        record.withUnsafeReadableBytes { raw in
            if let base = raw.baseAddress { (seg.bytes + seg.used).copyMemory(from: base, byteCount: n) }
        }
        seg.used += n
    }

    /// The record at `physical` of `size` bytes, if held.
    func read(physicalOffset physical: Int64, size: Int) -> ByteBuffer? {
        guard let seg = segment(containing: physical), physical + Int64(size) <= seg.end else { return nil }
        return ByteBuffer(bytes: UnsafeRawBufferPointer(start: seg.bytes + Int(physical - seg.start), count: size))
    }

    /// The size word of the record at `physical`, if held.
    func size(at physical: Int64) -> Int? {
        guard let seg = segment(containing: physical), physical + 4 <= seg.end else { return nil }
        return Int(Int32(bigEndian: (seg.bytes + Int(physical - seg.start)).loadUnaligned(as: Int32.self)))
    }

    /// Writes the record at `physical` of `size` bytes into `buffer`; false if it is not held.
    func copy(physicalOffset physical: Int64, size: Int, into buffer: inout ByteBuffer) -> Bool {
        guard let seg = segment(containing: physical), physical + Int64(size) <= seg.end else { return false }
        buffer.writeBytes(UnsafeRawBufferPointer(start: seg.bytes + Int(physical - seg.start), count: size))
        return true
    }

    func holds(_ physical: Int64) -> Bool { segment(containing: physical) != nil }

    private func segment(containing physical: Int64) -> Segment? {
        guard let first = segments.first, physical >= first.start else { return nil }
        // Newest first: reads are mostly of recent records.
        for s in segments.reversed() where physical >= s.start { return physical < s.end ? s : nil }
        return nil
    }

    /// Drops the oldest segments until at most `limit` bytes are held (the newest segment stays). Returns whether
    /// any was dropped.
    mutating func trim(toAtMost limit: Int) -> Bool {
        var dropped = false
        var n = 0
        var held = heldBytes
        while held > limit, n < segments.count - 1 { held -= segments[n].capacity; n += 1 }
        if n > 0 {
            for i in 0..<n where segments[i].capacity == segmentBytes && spareBytes + segmentBytes <= spareLimit
                && isKnownUniquelyReferenced(&segments[i]) {
                spare.append(segments[i])
                spareBytes += segmentBytes
            }
            segments.removeFirst(n)
            heldBytes = held
            dropped = true
        }
        return dropped
    }

    /// Allocates segments for `bytes` of records ahead and touches every page of them (kept as spares, taken by
    /// the first appends): the broker's counterpart of the real broker's JVM pre-touching its heap
    /// (-XX:+AlwaysPreTouch), so that the first messages are not copied into fresh pages one fault at a time.
    mutating func preallocate(bytes: Int) {
        let page = MessageStore.pageSize
        var left = bytes
        while left > 0 {
            let s = Segment(start: 0, capacity: segmentBytes)
            var i = 0
            while i < s.capacity { s.bytes.storeBytes(of: 0, toByteOffset: i, as: UInt8.self); i += page }
            spare.append(s)
            spareBytes += s.capacity
            left -= s.capacity
        }
    }

    /// A spare segment of the usual size, emptied and moved to `start`, when one is kept and `minimumCapacity`
    /// fits in it.
    /// Only a spare that no copy of the cache holds too (a copy of the state shares its spares: the first to take
    /// one would write into the other's): one that is shared is dropped here, left to the other.
    private mutating func takeSpare(start: Int64, minimumCapacity: Int) -> Segment? {
        guard minimumCapacity <= segmentBytes else { return nil }
        while var old = spare.popLast() {
            spareBytes -= old.capacity
            if isKnownUniquelyReferenced(&old) { return Segment(start: start, reusing: old) }
        }
        return nil
    }

    mutating func clear() {
        segments.removeAll()
        heldBytes = 0
        spare.removeAll()
        spareBytes = 0
    }
}
