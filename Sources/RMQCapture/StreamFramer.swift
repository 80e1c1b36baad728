import NIOCore
import RocketMQRemoting

/// Cuts one direction of a reassembled TCP stream into RemotingCommand frames. A plain value with no I/O.
///
/// After lost bytes it skips exactly to the end of the frame they fell into when that frame's length was
/// already known; otherwise (a capture that starts mid-connection, a gap past a frame end, a frame that does
/// not decode) it resynchronises on the next plausible frame boundary: a length and header-length word that
/// make sense and a header that parses. Buffering is bounded by the maximum frame size.
public struct StreamFramer: Sendable {
    public enum Output: Sendable {
        case frame(RemotingCommand, size: Int, time: CaptureTime, streamOffset: UInt64)
        /// With `deferDecoding`: a complete frame whose first 8 bytes are valid, not decoded yet (a slice of
        /// the stream buffer).
        case rawFrame(ByteBuffer, time: CaptureTime, streamOffset: UInt64)
        case skipped(GapKind, byteCount: UInt64, streamOffset: UInt64, time: CaptureTime, detail: String)
    }

    public let maxFrameLength: Int
    /// Hand complete frames out undecoded (`.rawFrame`); the caller decodes them (e.g. straight to typed
    /// headers) and reports those that fail.
    public var deferDecoding = false
    private var buffer = ByteBuffer()
    /// Whether `buffer` is storage of the framer's own (bytes copied across segments), not a segment's slice.
    private var ownsBuffer = false
    /// How far beyond the bytes in hand a frame's buffer is sized from its length field (the rest grows as
    /// the bytes come): memory follows the bytes received, never a length field alone.
    public static let reserveAhead = 1 << 20
    /// Stream offset of `buffer.readerIndex`.
    private var offset: UInt64 = 0
    private var resyncing = false
    /// Bytes to drop (the rest of a frame that lost bytes) before the next frame starts.
    private var skipRemaining: UInt64 = 0
    private var skipStart: UInt64 = 0
    private var resyncStart: UInt64? = nil
    private var tls = false
    private var sawData = false
    public private(set) var framesDecoded = 0

    public init(maxFrameLength: Int = RemotingFrame.defaultMaxFrameLength) {
        self.maxFrameLength = maxFrameLength
    }

    public var isTLS: Bool { tls }

    public mutating func receive(_ event: ReassemblyEvent, into out: inout [Output]) {
        switch event {
        case .midStreamStart:
            if !sawData { resyncing = true }
        case .data(let bytes, let time, let streamOffset):
            if !sawData {
                sawData = true
                offset = streamOffset
                if bytes.getInteger(at: bytes.readerIndex, as: UInt16.self) == 0x1603 && !resyncing {
                    tls = true
                }
            }
            if tls {
                out.append(.skipped(.tls, byteCount: UInt64(bytes.readableBytes), streamOffset: streamOffset, time: time,
                                    detail: "TLS record bytes, not decoded"))
                return
            }
            var slice = bytes
            if skipRemaining > 0 {
                let n = min(UInt64(slice.readableBytes), skipRemaining)
                skipRemaining -= n
                offset += n
                slice.moveReaderIndex(forwardBy: Int(n))
                if skipRemaining == 0 {
                    out.append(.skipped(.lostBytes, byteCount: offset - skipStart, streamOffset: skipStart, time: time,
                                        detail: "rest of a frame that lost bytes"))
                }
                if slice.readableBytes == 0 { return }
            }
            if buffer.readableBytes == 0 {
                // Nothing pending: the segment's bytes become the buffer (no copy), and the frames it holds whole
                // are slices of them: of the mapped capture file when the segment came from one.
                buffer = slice
                ownsBuffer = false
            } else {
                appendAcrossSegments(slice)
            }
            drain(time: time, into: &out)
        case .gap(let count, let streamOffset, let time):
            guard !tls else { return }
            sawData = true
            let pending = UInt64(buffer.readableBytes)
            if skipRemaining > 0 {
                // Still inside a frame that already lost bytes.
                if count < skipRemaining {
                    skipRemaining -= count
                    offset += count
                    return
                }
                let frameEnd = offset + skipRemaining
                let gapEnd = streamOffset + count
                out.append(.skipped(.lostBytes, byteCount: gapEnd - skipStart, streamOffset: skipStart, time: time,
                                    detail: "a frame that lost bytes in the capture" + (gapEnd > frameEnd ? " and \(gapEnd - frameEnd) bytes after it" : "")))
                skipRemaining = 0
                if gapEnd > frameEnd { enterResync(at: gapEnd) } else { offset = gapEnd; buffer = ByteBuffer() }
                return
            }
            if !resyncing, pending >= 4, let length = buffer.getInteger(at: buffer.readerIndex, as: Int32.self),
               length >= 4, Int64(length) + 4 <= Int64(maxFrameLength) {
                let frameEnd = offset + UInt64(length) + 4
                let gapEnd = streamOffset + count
                if gapEnd <= frameEnd {
                    // The lost bytes fall inside a frame whose length we know: skip to its end.
                    skipStart = offset
                    skipRemaining = frameEnd - gapEnd
                    buffer = ByteBuffer()
                    offset = gapEnd
                    if skipRemaining == 0 {
                        out.append(.skipped(.lostBytes, byteCount: frameEnd - skipStart, streamOffset: skipStart, time: time,
                                            detail: "\(count) bytes lost in the capture inside a frame"))
                    }
                    return
                }
            }
            let lostStart = offset
            out.append(.skipped(.lostBytes, byteCount: pending + count, streamOffset: lostStart, time: time,
                                detail: "\(count) bytes lost in the capture" + (pending > 0 ? " (and \(pending) bytes of the frame they cut)" : "")))
            enterResync(at: streamOffset + count)
        case .closed(_, let time):
            flushIncomplete(time: time, into: &out, why: "connection closed inside a frame")
        }
    }

    /// A frame across segments: its bytes are copied once into storage of the framer's own, sized for the whole
    /// frame when its length is known (up to `reserveAhead` beyond the bytes in hand), so that the segments
    /// that follow append in place instead of regrowing it and copying everything again at each doubling.
    private mutating func appendAcrossSegments(_ slice: ByteBuffer) {
        let inHand = buffer.readableBytes + slice.readableBytes
        var want = inHand
        if !resyncing, skipRemaining == 0, let length = buffer.getInteger(at: buffer.readerIndex, as: Int32.self), length >= 4 {
            want = max(inHand, min(Int(length) + 4, maxFrameLength, inHand + Self.reserveAhead))
        }
        if ownsBuffer {
            buffer.reserveCapacity(minimumWritableBytes: want - buffer.readableBytes)
        } else {
            var own = ByteBufferAllocator().buffer(capacity: want)
            own.writeImmutableBuffer(buffer)
            buffer = own
            ownsBuffer = true
        }
        buffer.writeImmutableBuffer(slice)
    }

    /// End of capture: whatever is buffered is an incomplete frame.
    public mutating func finish(time: CaptureTime, into out: inout [Output]) {
        flushIncomplete(time: time, into: &out, why: "capture ended inside a frame")
    }

    private mutating func flushIncomplete(time: CaptureTime, into out: inout [Output], why: String) {
        if skipRemaining > 0 {
            out.append(.skipped(.lostBytes, byteCount: offset - skipStart, streamOffset: skipStart, time: time,
                                detail: "frame that lost bytes, \(why)"))
            skipRemaining = 0
        }
        let n = buffer.readableBytes
        if n > 0 {
            out.append(.skipped(resyncing ? .resync : .badFrame, byteCount: UInt64(n), streamOffset: offset, time: time,
                                detail: "\(n) bytes of an incomplete frame, \(why)"))
            offset += UInt64(n)
            buffer = ByteBuffer()
        }
    }

    private mutating func enterResync(at newOffset: UInt64) {
        buffer = ByteBuffer()
        offset = newOffset
        resyncing = true
        resyncStart = nil
    }

    private mutating func consume(_ n: Int) {
        buffer.moveReaderIndex(forwardBy: n)
        offset += UInt64(n)
        // An emptied buffer is replaced by the next segment's bytes (see `receive`); one still holding bytes drops
        // what it read once that is large.
        if buffer.readableBytes > 0 && buffer.readerIndex > 1 << 16 {
            buffer.discardReadBytes()
        }
    }

    private mutating func drain(time: CaptureTime, into out: inout [Output]) {
        while true {
            if resyncing {
                guard scanForBoundary(time: time, into: &out) else { return }
            }
            let base = buffer.readerIndex
            guard let length = buffer.getInteger(at: base, as: Int32.self) else { return }
            let word = buffer.getInteger(at: base + 4, as: UInt32.self)
            let total: Int
            do {
                total = try RemotingFrame.validatePrefix(length: length, headerWord: word, maxFrameLength: maxFrameLength)
            } catch {
                out.append(.skipped(.badFrame, byteCount: 0, streamOffset: offset, time: time, detail: located(error)))
                resyncing = true
                resyncStart = nil
                continue
            }
            guard buffer.readableBytes >= total, let frame = buffer.getSlice(at: base, length: total) else { return }
            if deferDecoding {
                let at = offset
                consume(total)
                framesDecoded += 1
                out.append(.rawFrame(frame, time: time, streamOffset: at))
                continue
            }
            do {
                let cmd = try RemotingFrame.decode(frame)
                let at = offset
                consume(total)
                framesDecoded += 1
                out.append(.frame(cmd, size: total, time: time, streamOffset: at))
            } catch {
                // The length framing was consistent: drop this frame and carry on with the next.
                out.append(.skipped(.badFrame, byteCount: UInt64(total), streamOffset: offset, time: time, detail: located(error)))
                consume(total)
            }
        }
    }

    /// The error text with the frame's stream offset; built only for errors (not per frame).
    private func located(_ error: Error) -> String { ObservedGap.located(error, offset: offset) }

    /// In resync mode: drops bytes until a plausible frame starts at the reader index. Returns true when one
    /// does and its complete frame decodes (the frame is left in the buffer), false when more bytes are needed.
    private mutating func scanForBoundary(time: CaptureTime, into out: inout [Output]) -> Bool {
        if resyncStart == nil { resyncStart = offset }
        while buffer.readableBytes >= 8 {
            let base = buffer.readerIndex
            if plausiblePrefix(at: base) {
                let length = Int(buffer.getInteger(at: base, as: Int32.self) ?? 0)
                let total = length + 4
                if buffer.readableBytes < total { return false }
                if let frame = buffer.getSlice(at: base, length: total), (try? RemotingFrame.decode(frame)) != nil {
                    let start = resyncStart ?? offset
                    if offset > start {
                        out.append(.skipped(.resync, byteCount: offset - start, streamOffset: start, time: time,
                                            detail: "skipped to the next frame boundary"))
                    }
                    resyncing = false
                    resyncStart = nil
                    return true
                }
            }
            consume(1)
        }
        return false
    }

    /// A frame start that is more than just possible: length and header word within bounds and the header's
    /// first bytes look like a RemotingCommand header.
    private func plausiblePrefix(at base: Int) -> Bool {
        guard let length = buffer.getInteger(at: base, as: Int32.self),
              let word = buffer.getInteger(at: base + 4, as: UInt32.self) else { return false }
        guard length >= 6, Int64(length) + 4 <= Int64(maxFrameLength) else { return false }
        let type = word >> 24
        let h = Int(word & 0x00FF_FFFF)
        guard h <= Int(length) - 4 else { return false }
        if type == 0 {
            // `{"` then a key
            guard h >= 10, let a = buffer.getInteger(at: base + 8, as: UInt8.self),
                  let b = buffer.getInteger(at: base + 9, as: UInt8.self) else { return false }
            return a == UInt8(ascii: "{") && b == UInt8(ascii: "\"")
        }
        if type == 1 {
            guard h >= 21, let lang = buffer.getInteger(at: base + 10, as: UInt8.self),
                  let flag = buffer.getInteger(at: base + 17, as: Int32.self),
                  let remark = buffer.getInteger(at: base + 21, as: Int32.self) else { return false }
            return lang <= 13 && flag >= 0 && flag <= 3 && remark >= 0 && Int(remark) <= h - 21
        }
        return false
    }
}
