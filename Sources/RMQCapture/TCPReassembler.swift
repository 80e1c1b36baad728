/// TCP stream reassembly for one direction of one connection: a value-type state machine with no I/O.
///
/// Design (after gopacket's `tcpassembly`): sequence numbers are mapped onto a 64-bit *stream offset*
/// (bytes delivered + bytes skipped as gaps) relative to the next expected byte, using modular 32-bit
/// arithmetic (`Int32(bitPattern: a &- b)`), so wrap-around across 2^32 needs no special case. Everything
/// after that works on non-wrapping `UInt64` offsets. Out-of-order bytes are kept in a sorted array of
/// non-overlapping chunks; memory is bounded by `maxBufferedBytes` (and a chunk-count bound derived from
/// it), never by the input.

import NIOCore

/// Why a byte stream ended.
public enum CloseReason: Sendable, Equatable {
    case fin
    case reset
}

/// What the reassembler reports, in stream order.
public enum ReassemblyEvent: Sendable, Equatable {
    /// Contiguous stream bytes (the readable bytes) starting at `streamOffset`. `time` is the capture time of the
    /// segment that carried them. In-order bytes are the segment's payload itself (a slice, not a copy).
    case data(ByteBuffer, time: CaptureTime, streamOffset: UInt64)
    /// `byteCount` stream bytes starting at `streamOffset` were never seen (lost, or cut by the snapshot
    /// length) and have been skipped.
    case gap(byteCount: UInt64, streamOffset: UInt64, time: CaptureTime)
    /// No SYN was seen: the stream starts at an arbitrary point, so the first bytes may be mid-frame.
    case midStreamStart(time: CaptureTime)
    /// The stream ended. Nothing follows for this direction.
    case closed(CloseReason, time: CaptureTime)
}

public struct TCPReassembler: Sendable {
    /// A buffered out-of-order piece: bytes, or a known-missing range (tail cut by the snapshot length).
    struct Chunk: Sendable {
        var start: UInt64
        var length: UInt64
        var bytes: ByteBuffer  // empty when `missing`
        var missing: Bool
        var time: CaptureTime
        var end: UInt64 { start &+ length }
    }

    /// Recently delivered data kept (shared, not copied) so that retransmissions overlapping delivered bytes
    /// can be checked for conflicting content.
    struct Delivered: Sendable {
        var start: UInt64
        var bytes: ByteBuffer
    }

    // MARK: Configuration

    /// Upper bound on out-of-order payload bytes held.
    public let maxBufferedBytes: Int
    /// Upper bound on the number of buffered pieces (bounds per-piece overhead, including snaplen-missing
    /// ranges that hold no bytes).
    public let maxBufferedSegments: Int
    private static let historyCount = 4

    // MARK: Counters

    /// Bytes emitted as `.data`.
    public private(set) var bytesDelivered: UInt64 = 0
    /// Bytes received for stream positions already received (delivered, skipped or buffered) — retransmissions
    /// and overlaps; conflicting bytes are included.
    public private(set) var duplicateBytes: UInt64 = 0
    /// Number of segments carrying at least one byte that differs from what was received first at the same
    /// position (the first-received byte wins). Only detectable against buffered data and recently delivered
    /// data (the last few delivered pieces, up to `maxBufferedBytes`).
    public private(set) var overlapConflicts: Int = 0
    /// Bytes skipped with `.gap` events.
    public private(set) var gapBytes: UInt64 = 0
    /// Out-of-order payload bytes currently held. Never above `maxBufferedBytes` between calls.
    public private(set) var bufferedBytes: Int = 0
    /// Segments passed to `receive`.
    public private(set) var segments: Int = 0
    /// Payload bytes ignored because they lie after a FIN or arrived after the stream was closed.
    public private(set) var bytesAfterClose: UInt64 = 0

    // MARK: State

    /// Sequence number of stream offset 0 (ISN + 1 after a SYN; the first data segment's sequence number when
    /// the capture started mid-connection). `nil` until known.
    public private(set) var sequenceBase: UInt32?
    /// The initial sequence number from the SYN, when one was seen.
    public private(set) var initialSequence: UInt32?
    /// True when the sequence base came from a non-SYN segment.
    public private(set) var startedMidStream = false
    /// Stream bytes accounted for so far (delivered + gaps): the offset of the next expected byte.
    public private(set) var streamOffset: UInt64 = 0
    /// Set once `.closed` was emitted.
    public private(set) var closeReason: CloseReason?
    public var isClosed: Bool { closeReason != nil }
    /// Stream offset of the FIN, once a FIN was received (the stream closes when delivery reaches it).
    public private(set) var finOffset: UInt64?
    private var finTime = CaptureTime(nanoseconds: 0)

    private var chunks: [Chunk] = []
    private var history: [Delivered] = []
    private var historyBytes = 0

    /// How long (capture time) and how many buffered bytes a hole that the peer already acknowledged is still
    /// waited for before it is declared lost: capture order is not send order (merged captures, multi-queue
    /// NICs, capture points off the path put a segment after the ACK that acknowledges it).
    public let ackHoldNanos: Int64
    public let ackHoldBytes: Int
    /// An acknowledged hole being held: the acknowledged stream offset and when the ACK was seen.
    private var ackedHole: (offset: UInt64, time: CaptureTime)?

    public init(maxBufferedBytes: Int, maxBufferedSegments: Int? = nil, ackHoldNanos: Int64 = 0, ackHoldBytes: Int = 1 << 20) {
        let bytes = max(0, maxBufferedBytes)
        self.maxBufferedBytes = bytes
        self.maxBufferedSegments = max(1, maxBufferedSegments ?? max(16, bytes / 64))
        self.ackHoldNanos = max(0, ackHoldNanos)
        self.ackHoldBytes = max(0, ackHoldBytes)
    }

    /// Number of buffered out-of-order pieces.
    public var bufferedSegments: Int { chunks.count }

    // MARK: Receiving

    public mutating func receive(_ segment: TCPSegment, into events: inout [ReassemblyEvent]) {
        receiveOne(segment, into: &events)
        if ackedHole != nil { settleAckedHole(now: segment.time, into: &events) }
    }

    private mutating func receiveOne(_ segment: TCPSegment, into events: inout [ReassemblyEvent]) {
        segments += 1
        let flags = segment.flags
        let time = segment.time
        // Clamp to what 32-bit sequence arithmetic can describe; never trust the announced length further.
        let length = Int64(min(max(segment.payloadLength, 0), Int(Int32.max)))
        let captured = Int64(min(segment.payload.readableBytes, Int(length)))

        if closeReason != nil {
            accountAfterClose(segment, length: length)
            return
        }
        if flags.contains(.rst) {
            abort(time: time, into: &events)
            return
        }

        var seq = segment.sequence
        if flags.contains(.syn) {
            if sequenceBase == nil {
                initialSequence = seq
                sequenceBase = seq &+ 1
            }
            seq = seq &+ 1  // SYN consumes one sequence number; any data follows it
        }
        guard let base = sequenceBase else {
            // No SYN seen yet: the first segment that occupies sequence space sets the base.
            if length == 0 && !flags.contains(.fin) { return }  // pure ACK / window update
            sequenceBase = seq
            startedMidStream = true
            events.append(.midStreamStart(time: time))
            receiveSequenced(segment, seq: seq, base: seq, length: length, captured: captured, into: &events)
            return
        }
        receiveSequenced(segment, seq: seq, base: base, length: length, captured: captured, into: &events)
    }

    private mutating func receiveSequenced(_ segment: TCPSegment, seq: UInt32, base: UInt32, length: Int64,
                                           captured: Int64, into events: inout [ReassemblyEvent]) {
        let time = segment.time
        let expected = base &+ UInt32(truncatingIfNeeded: streamOffset)
        // Position of the segment's first byte relative to the next expected byte.
        let rel = Int64(Int32(bitPattern: seq &- expected))
        let relEnd = rel + length

        // Fast path: the next expected bytes, nothing buffered, fully captured, no FIN pending before its end.
        if rel == 0, length > 0, chunks.isEmpty, captured == length, Int64(segment.payload.readableBytes) == length,
           finOffset == nil {
            deliver(segment.payload, time: time, into: &events)
            // The FIN follows the payload, i.e. it is at the (new) next expected position.
            if segment.flags.contains(.fin) { receiveFIN(relative: 0, time: time, into: &events) }
            return
        }

        var conflict = false
        // Bytes before the next expected byte: already delivered or skipped.
        if rel < 0, length > 0 {
            let oldEnd = min(relEnd, 0)
            duplicateBytes &+= UInt64(oldEnd - rel)
            let capturedOldEnd = min(rel + captured, 0)
            if capturedOldEnd > rel && compareWithHistory(segment.payload, relStart: rel, relEnd: capturedOldEnd) {
                conflict = true
            }
        }

        if segment.flags.contains(.fin) { receiveFIN(relative: relEnd, time: time, into: &events, deferClose: true) }

        // New bytes, limited by a FIN received earlier (or in this segment).
        var limit = Int64.max
        if let fin = finOffset { limit = Int64(truncatingIfNeeded: fin &- streamOffset) }
        let dataLo = max(rel, 0)
        let dataHi = min(rel + captured, limit)
        let missLo = max(rel + captured, 0)
        let missHi = min(relEnd, limit)
        let newStart = max(rel, 0)
        if relEnd > newStart && relEnd > limit {
            bytesAfterClose &+= UInt64(relEnd - max(limit, newStart))
        }
        if dataHi > dataLo {
            let lo = Int(dataLo - rel), hi = Int(dataHi - rel)
            if insert(start: streamOffset &+ UInt64(dataLo), source: segment.payload, lo: lo, hi: hi, time: time) {
                conflict = true
            }
        }
        if missHi > missLo {
            insert(start: streamOffset &+ UInt64(missLo), missing: UInt64(missHi - missLo), time: time)
        }
        if conflict { overlapConflicts += 1 }

        drain(into: &events)
        enforceBound(into: &events)
        closeIfComplete(into: &events)
    }

    /// Records a FIN at `relative` (relative to the next expected byte).
    private mutating func receiveFIN(relative: Int64, time: CaptureTime, into events: inout [ReassemblyEvent],
                                     deferClose: Bool = false) {
        guard finOffset == nil else { return }  // a retransmitted (or contradicting) FIN: the first one wins
        let fin = relative <= 0 ? streamOffset : streamOffset &+ UInt64(relative)
        finOffset = fin
        finTime = time
        // Buffered bytes at or beyond the FIN can never be delivered.
        while let last = chunks.last, last.end > fin {
            if last.start >= fin {
                dropLastChunk(countingAfterClose: last.length)
            } else {
                let keep = fin - last.start
                bytesAfterClose &+= last.length - keep
                let i = chunks.count - 1
                if !last.missing {
                    bufferedBytes -= Int(last.length - keep)
                    chunks[i].bytes.moveWriterIndex(to: chunks[i].bytes.readerIndex + Int(keep))
                }
                chunks[i].length = keep
            }
        }
        // The sender is done: an acknowledged hole held for a late segment is lost after all.
        if let h = ackedHole {
            ackedHole = nil
            skipAcknowledgedHoles(upTo: h.offset, into: &events)
        }
        if !deferClose { closeIfComplete(into: &events) }
    }

    private mutating func dropLastChunk(countingAfterClose n: UInt64) {
        let c = chunks.removeLast()
        bytesAfterClose &+= n
        if !c.missing { bufferedBytes -= c.bytes.readableBytes }
    }

    private mutating func closeIfComplete(into events: inout [ReassemblyEvent]) {
        guard closeReason == nil, let fin = finOffset, streamOffset >= fin else { return }
        closeReason = .fin
        releaseBuffers()
        events.append(.closed(.fin, time: finTime))
    }

    private mutating func accountAfterClose(_ segment: TCPSegment, length: Int64) {
        guard length > 0 else { return }
        // Retransmissions of bytes before the end of the stream are duplicates; anything else is after close.
        if let base = sequenceBase {
            var seq = segment.sequence
            if segment.flags.contains(.syn) { seq = seq &+ 1 }
            let expected = base &+ UInt32(truncatingIfNeeded: streamOffset)
            let rel = Int64(Int32(bitPattern: seq &- expected))
            if rel < 0 {
                let old = min(-rel, length)
                duplicateBytes &+= UInt64(old)
                bytesAfterClose &+= UInt64(length - old)
                return
            }
        }
        bytesAfterClose &+= UInt64(length)
    }

    /// The peer acknowledged every byte before `ack`. A hole below that point was received by the peer but
    /// not captured, so it will never show up: skip it now (the buffered data after it is delivered) instead
    /// of waiting for the buffer bound or the end of the capture.
    /// With `ackHoldNanos` > 0 the hole is held that long (and while fewer than `ackHoldBytes` are buffered
    /// behind it) in case the segment arrives late in the capture.
    public mutating func acknowledged(_ ack: UInt32, time: CaptureTime? = nil, into events: inout [ReassemblyEvent]) {
        guard closeReason == nil, let base = sequenceBase, let first = chunks.first, first.start > streamOffset else { return }
        let expected = base &+ UInt32(truncatingIfNeeded: streamOffset)
        let rel = Int64(Int32(bitPattern: ack &- expected))
        guard rel > 0 else { return }
        let ackOffset = streamOffset &+ UInt64(rel)
        if ackHoldNanos > 0, let time {
            if let h = ackedHole {
                ackedHole = (max(h.offset, ackOffset), h.time)
            } else {
                ackedHole = (ackOffset, time)
            }
            settleAckedHole(now: time, into: &events)
            return
        }
        skipAcknowledgedHoles(upTo: ackOffset, into: &events)
    }

    private mutating func skipAcknowledgedHoles(upTo ackOffset: UInt64, into events: inout [ReassemblyEvent]) {
        while let c = chunks.first, c.start > streamOffset, c.start <= ackOffset {
            skipToFirstChunk(into: &events)
        }
    }

    /// Declares a held acknowledged hole lost once its time or byte allowance is used up; forgets it once the
    /// late bytes filled it.
    private mutating func settleAckedHole(now: CaptureTime, into events: inout [ReassemblyEvent]) {
        guard let h = ackedHole else { return }
        guard closeReason == nil, let first = chunks.first, first.start > streamOffset, first.start <= h.offset else {
            if streamOffset >= h.offset || chunks.isEmpty { ackedHole = nil }
            return
        }
        if now.nanoseconds - h.time.nanoseconds >= ackHoldNanos || bufferedBytes >= ackHoldBytes {
            ackedHole = nil
            skipAcknowledgedHoles(upTo: h.offset, into: &events)
        }
    }

    // MARK: Flushing and closing

    /// End of capture (or idle): deliver everything buffered, skipping holes with `.gap`. If a FIN was seen,
    /// the hole before it is skipped too and the stream is closed.
    public mutating func flush(into events: inout [ReassemblyEvent]) {
        guard closeReason == nil else { return }
        while !chunks.isEmpty { skipToFirstChunk(into: &events) }
        if let fin = finOffset, streamOffset < fin {
            emitGap(fin - streamOffset, time: finTime, into: &events)
        }
        closeIfComplete(into: &events)
    }

    /// Ends the stream abruptly (RST seen in this or the other direction): delivers buffered data with gaps
    /// for holes, then emits `.closed(.reset)`. Does nothing if already closed.
    public mutating func abort(time: CaptureTime, into events: inout [ReassemblyEvent]) {
        guard closeReason == nil else { return }
        while !chunks.isEmpty { skipToFirstChunk(into: &events) }
        closeReason = .reset
        releaseBuffers()
        events.append(.closed(.reset, time: time))
    }

    private mutating func releaseBuffers() {
        ackedHole = nil
        chunks = []
        history = []
        historyBytes = 0
        bufferedBytes = 0
    }

    // MARK: Buffer

    /// Inserts captured bytes `source[lo..<hi]` at stream offset `start`, keeping already-buffered bytes where
    /// they overlap (first received wins). Returns true if an overlapping byte differed.
    private mutating func insert(start: UInt64, source: ByteBuffer, lo: Int, hi: Int, time: CaptureTime) -> Bool {
        let end = start &+ UInt64(hi - lo)
        var i = firstChunkEnding(after: start)
        // Common case: no overlap with anything buffered — store the piece as is.
        if i == chunks.count || chunks[i].start >= end {
            let bytes = Self.piece(of: source, lo, hi)
            chunks.insert(Chunk(start: start, length: end - start, bytes: bytes, missing: false, time: time), at: i)
            bufferedBytes += hi - lo
            return false
        }
        var conflict = false
        var cur = start
        while cur < end {
            if i < chunks.count && chunks[i].start <= cur {
                let c = chunks[i]
                let ovEnd = min(end, c.end)
                duplicateBytes &+= ovEnd - cur
                if !c.missing && !conflict {
                    let a = lo + Int(cur - start), b = lo + Int(ovEnd - start)
                    let ca = Int(cur - c.start)
                    conflict = !Self.equal(source, a, c.bytes, ca, count: b - a)
                }
                cur = ovEnd
                i += 1
            } else {
                let pieceEnd = i < chunks.count ? min(end, chunks[i].start) : end
                let a = lo + Int(cur - start), b = lo + Int(pieceEnd - start)
                let bytes = Self.piece(of: source, a, b)
                chunks.insert(Chunk(start: cur, length: pieceEnd - cur, bytes: bytes, missing: false, time: time), at: i)
                bufferedBytes += b - a
                i += 1
                cur = pieceEnd
            }
        }
        return conflict
    }

    /// Inserts a known-missing range (snaplen truncation). Already-buffered pieces win where they overlap.
    private mutating func insert(start: UInt64, missing length: UInt64, time: CaptureTime) {
        let end = start &+ length
        var i = firstChunkEnding(after: start)
        var cur = start
        while cur < end {
            if i < chunks.count && chunks[i].start <= cur {
                let ovEnd = min(end, chunks[i].end)
                duplicateBytes &+= ovEnd - cur
                cur = ovEnd
                i += 1
            } else {
                let pieceEnd = i < chunks.count ? min(end, chunks[i].start) : end
                chunks.insert(Chunk(start: cur, length: pieceEnd - cur, bytes: ByteBuffer(), missing: true, time: time), at: i)
                i += 1
                cur = pieceEnd
            }
        }
    }

    /// Index of the first buffered chunk whose end is after `offset` (chunks are sorted and disjoint).
    private func firstChunkEnding(after offset: UInt64) -> Int {
        var lo = 0, hi = chunks.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if chunks[mid].end <= offset { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// Delivers buffered chunks that start at the next expected byte.
    private mutating func drain(into events: inout [ReassemblyEvent]) {
        var k = 0
        while k < chunks.count && chunks[k].start <= streamOffset {
            let c = chunks[k]
            k += 1
            if c.missing {
                emitGap(c.length, time: c.time, into: &events)
            } else {
                bufferedBytes -= c.bytes.readableBytes
                deliver(c.bytes, time: c.time, into: &events)
            }
        }
        if k > 0 { chunks.removeFirst(k) }
    }

    /// Keeps buffered bytes and pieces within bounds by declaring the first hole lost.
    private mutating func enforceBound(into events: inout [ReassemblyEvent]) {
        while (bufferedBytes > maxBufferedBytes || chunks.count > maxBufferedSegments) && !chunks.isEmpty {
            skipToFirstChunk(into: &events)
        }
    }

    private mutating func skipToFirstChunk(into events: inout [ReassemblyEvent]) {
        guard let first = chunks.first else { return }
        if first.start > streamOffset {
            emitGap(first.start - streamOffset, time: first.time, into: &events)
        }
        drain(into: &events)
    }

    private mutating func emitGap(_ count: UInt64, time: CaptureTime, into events: inout [ReassemblyEvent]) {
        events.append(.gap(byteCount: count, streamOffset: streamOffset, time: time))
        streamOffset &+= count
        gapBytes &+= count
    }

    private mutating func deliver(_ bytes: ByteBuffer, time: CaptureTime, into events: inout [ReassemblyEvent]) {
        let count = bytes.readableBytes
        events.append(.data(bytes, time: time, streamOffset: streamOffset))
        remember(bytes, count: count, at: streamOffset)
        streamOffset &+= UInt64(count)
        bytesDelivered &+= UInt64(count)
    }

    /// `source`'s readable bytes `lo..<hi`: the buffer itself when whole; a copy of a part (a part kept as a
    /// slice would hold the whole segment's storage while only the part is counted against the bound).
    private static func piece(of source: ByteBuffer, _ lo: Int, _ hi: Int) -> ByteBuffer {
        if lo == 0 && hi == source.readableBytes { return source }
        return source.withUnsafeReadableBytes { ByteBuffer(bytes: UnsafeRawBufferPointer(rebasing: $0[lo..<hi])) }
    }

    /// Whether `count` readable bytes of `a` from `ai` equal those of `b` from `bi` (both ranges in bounds).
    private static func equal(_ a: ByteBuffer, _ ai: Int, _ b: ByteBuffer, _ bi: Int, count: Int) -> Bool {
        a.withUnsafeReadableBytes { pa in
            b.withUnsafeReadableBytes { pb in
                UnsafeRawBufferPointer(rebasing: pa[ai..<(ai + count)]).elementsEqual(UnsafeRawBufferPointer(rebasing: pb[bi..<(bi + count)]))
            }
        }
    }

    // MARK: Delivered-data history (conflict detection for retransmissions)

    private mutating func remember(_ bytes: ByteBuffer, count: Int, at start: UInt64) {
        guard count <= maxBufferedBytes else {
            history.removeAll(keepingCapacity: true)
            historyBytes = 0
            return
        }
        if history.capacity < Self.historyCount { history.reserveCapacity(Self.historyCount) }
        while !history.isEmpty && (history.count >= Self.historyCount || historyBytes + count > maxBufferedBytes) {
            historyBytes -= history.removeFirst().bytes.readableBytes
        }
        history.append(Delivered(start: start, bytes: bytes))
        historyBytes += count
    }

    /// Compares `payload` bytes at relative positions [relStart, relEnd) (all < 0, i.e. before the next
    /// expected byte) with remembered delivered data. `payload[0]` is at relative position `relStart`.
    private func compareWithHistory(_ payload: ByteBuffer, relStart: Int64, relEnd: Int64) -> Bool {
        // Absolute offsets; positions before stream offset 0 cannot be compared.
        let so = Int64(truncatingIfNeeded: streamOffset)
        let absStart = so + relStart, absEnd = so + relEnd
        for h in history {
            let hs = Int64(truncatingIfNeeded: h.start), he = hs + Int64(h.bytes.readableBytes)
            let a = max(absStart, hs), b = min(absEnd, he)
            if a >= b { continue }
            let pa = Int(a - absStart), ha = Int(a - hs), n = Int(b - a)
            if !Self.equal(payload, pa, h.bytes, ha, count: n) { return true }
        }
        return false
    }
}
