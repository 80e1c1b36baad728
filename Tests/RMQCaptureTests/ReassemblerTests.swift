import NIOCore
import Testing
@testable import RMQCapture

// MARK: - Shared helpers (also used by ReassemblyTableTests.swift)

/// Parses a flag string: S = SYN, A = ACK, F = FIN, R = RST, P = PSH.
func raFlags(_ s: String) -> TCPFlags {
    var f: TCPFlags = []
    for ch in s {
        switch ch {
        case "S": f.insert(.syn)
        case "A": f.insert(.ack)
        case "F": f.insert(.fin)
        case "R": f.insert(.rst)
        case "P": f.insert(.psh)
        default: Issue.record("unknown flag \(ch)")
        }
    }
    return f
}

let raClient = Endpoint(address: .v4(0x0A00_0001), port: 50000)
let raServer = Endpoint(address: .v4(0x0A00_0002), port: 10911)

func raSegment(_ seq: UInt32, _ flags: String, _ payload: String, length: Int? = nil, time: Int64,
               from source: Endpoint = raClient, to destination: Endpoint = raServer) -> TCPSegment {
    let bytes = Array(payload.utf8)
    return TCPSegment(time: CaptureTime(nanoseconds: time), source: source, destination: destination,
                      sequence: seq, acknowledgement: 0, flags: raFlags(flags), payload: bytes,
                      payloadLength: length ?? bytes.count, packetNumber: Int(time))
}

/// Compact, readable rendering of a reassembly event: `offset:bytes@t`, `gap offset+count@t`, `mid@t`,
/// `fin@t`, `rst@t` (t = capture time in ns).
func raRender(_ e: ReassemblyEvent) -> String {
    switch e {
    case .data(let b, let t, let off): return "\(off):\(String(buffer: b))@\(t.nanoseconds)"
    case .gap(let n, let off, let t): return "gap \(off)+\(n)@\(t.nanoseconds)"
    case .midStreamStart(let t): return "mid@\(t.nanoseconds)"
    case .closed(.fin, let t): return "fin@\(t.nanoseconds)"
    case .closed(.reset, let t): return "rst@\(t.nanoseconds)"
    }
}

/// Events must describe a contiguous stream: each data/gap event starts where the previous one ended.
func raCheckContiguous(_ events: [ReassemblyEvent], _ r: TCPReassembler, sourceLocation: SourceLocation = #_sourceLocation) {
    var offset: UInt64 = 0
    for e in events {
        switch e {
        case .data(let b, _, let off):
            #expect(off == offset, sourceLocation: sourceLocation)
            offset = off + UInt64(b.readableBytes)
        case .gap(let n, let off, _):
            #expect(off == offset, sourceLocation: sourceLocation)
            offset = off + n
        default: break
        }
    }
    #expect(offset == r.streamOffset, sourceLocation: sourceLocation)
    #expect(r.bytesDelivered + r.gapBytes == r.streamOffset, sourceLocation: sourceLocation)
}

/// SplitMix64: small deterministic generator for property tests.
struct RASplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

// MARK: - Table-driven reassembler cases

struct ReassemblyStep: Sendable {
    enum Kind: Sendable { case segment(seq: UInt32, flags: String, payload: String, length: Int?, time: Int64?), flush }
    var kind: Kind
    static func s(_ seq: UInt32, _ flags: String, _ payload: String = "", len: Int? = nil, t: Int64? = nil) -> ReassemblyStep {
        ReassemblyStep(kind: .segment(seq: seq, flags: flags, payload: payload, length: len, time: t))
    }
    static let flush = ReassemblyStep(kind: .flush)
}

struct ReassemblyCase: Sendable, CustomTestStringConvertible {
    var name: String
    var steps: [ReassemblyStep]
    var expected: [String]
    var maxBuffered: Int = 1 << 16
    var duplicate: UInt64? = nil
    var conflicts: Int? = nil
    var afterClose: UInt64? = nil
    var testDescription: String { name }
}

/// Feeds the steps; segment time defaults to the 1-based step index. Checks after every step that the
/// buffer stays within its bound.
func raRun(_ steps: [ReassemblyStep], maxBuffered: Int = 1 << 16) -> (events: [ReassemblyEvent], reassembler: TCPReassembler) {
    var r = TCPReassembler(maxBufferedBytes: maxBuffered)
    var events: [ReassemblyEvent] = []
    for (i, step) in steps.enumerated() {
        switch step.kind {
        case .segment(let seq, let flags, let payload, let length, let time):
            r.receive(raSegment(seq, flags, payload, length: length, time: time ?? Int64(i + 1)), into: &events)
        case .flush:
            r.flush(into: &events)
        }
        #expect(r.bufferedBytes <= maxBuffered)
        #expect(r.bufferedBytes >= 0)
    }
    return (events, r)
}

let reassemblyCases: [ReassemblyCase] = [
    ReassemblyCase(name: "in order with SYN and FIN",
                   steps: [.s(100, "S"), .s(101, "A", "abc"), .s(104, "PA", "def"), .s(107, "FA")],
                   expected: ["0:abc@2", "3:def@3", "fin@4"], duplicate: 0, conflicts: 0),
    ReassemblyCase(name: "FIN carried with the last data",
                   steps: [.s(100, "S"), .s(101, "A", "abc"), .s(104, "FPA", "def")],
                   expected: ["0:abc@2", "3:def@3", "fin@3"]),
    ReassemblyCase(name: "zero-length ACKs produce nothing",
                   steps: [.s(100, "S"), .s(101, "A"), .s(101, "A"), .s(101, "A", "abc"), .s(104, "A"), .s(104, "PA")],
                   expected: ["0:abc@4"], duplicate: 0),
    ReassemblyCase(name: "SYN then FIN only",
                   steps: [.s(100, "S"), .s(101, "FA")],
                   expected: ["fin@2"]),
    ReassemblyCase(name: "retransmitted SYN ignored",
                   steps: [.s(100, "S"), .s(100, "S"), .s(101, "A", "abc")],
                   expected: ["0:abc@3"]),
    ReassemblyCase(name: "data on SYN (fast open)",
                   steps: [.s(100, "S", "abc"), .s(104, "A", "de")],
                   expected: ["0:abc@1", "3:de@2"]),
    ReassemblyCase(name: "retransmission exact",
                   steps: [.s(100, "S"), .s(101, "A", "abc"), .s(101, "A", "abc"), .s(104, "A", "def"), .s(101, "A", "abc")],
                   expected: ["0:abc@2", "3:def@4"], duplicate: 6, conflicts: 0),
    ReassemblyCase(name: "retransmission of buffered out-of-order segment",
                   steps: [.s(100, "S"), .s(104, "A", "def"), .s(104, "A", "def"), .s(101, "A", "abc")],
                   expected: ["0:abc@4", "3:def@2"], duplicate: 3, conflicts: 0),
    ReassemblyCase(name: "partial overlap with same bytes",
                   steps: [.s(100, "S"), .s(101, "A", "abcd"), .s(103, "A", "cdef")],
                   expected: ["0:abcd@2", "4:ef@3"], duplicate: 2, conflicts: 0),
    ReassemblyCase(name: "overlap spanning two delivered segments",
                   steps: [.s(100, "S"), .s(101, "A", "ab"), .s(103, "A", "cd"), .s(102, "A", "bcdef")],
                   expected: ["0:ab@2", "2:cd@3", "4:ef@4"], duplicate: 3, conflicts: 0),
    ReassemblyCase(name: "overlap conflicting with delivered bytes: first wins",
                   steps: [.s(100, "S"), .s(101, "A", "abcd"), .s(103, "A", "XYef")],
                   expected: ["0:abcd@2", "4:ef@3"], duplicate: 2, conflicts: 1),
    ReassemblyCase(name: "overlap conflicting with buffered bytes: first wins",
                   steps: [.s(100, "S"), .s(105, "A", "efgh"), .s(107, "A", "XYij"), .s(101, "A", "abcd")],
                   expected: ["0:abcd@4", "4:efgh@2", "8:ij@3"], duplicate: 2, conflicts: 1),
    ReassemblyCase(name: "segment covering a buffered one fills both sides",
                   steps: [.s(100, "S"), .s(103, "A", "cd"), .s(101, "A", "abcdef")],
                   expected: ["0:ab@3", "2:cd@2", "4:ef@3"], duplicate: 2, conflicts: 0),
    ReassemblyCase(name: "wrap-around across 2^32 in order",
                   steps: [.s(0xFFFF_FFF0, "S"), .s(0xFFFF_FFF1, "A", "0123456789"), .s(0xFFFF_FFFB, "A", "abcdefghij"),
                           .s(0x0000_0005, "A", "KLM"), .s(0x0000_0008, "FA")],
                   expected: ["0:0123456789@2", "10:abcdefghij@3", "20:KLM@4", "fin@5"], duplicate: 0),
    ReassemblyCase(name: "wrap-around across 2^32 out of order",
                   steps: [.s(0xFFFF_FFF0, "S"), .s(0x0000_0005, "FA", "KLM"), .s(0xFFFF_FFFB, "A", "abcdefghij"),
                           .s(0xFFFF_FFF1, "A", "0123456789")],
                   expected: ["0:0123456789@4", "10:abcdefghij@3", "20:KLM@2", "fin@2"]),
    ReassemblyCase(name: "wrap-around retransmission across 2^32",
                   steps: [.s(0xFFFF_FFFE, "S"), .s(0xFFFF_FFFF, "A", "abcd"), .s(0xFFFF_FFFF, "A", "abcdef")],
                   expected: ["0:abcd@2", "4:ef@3"], duplicate: 4),
    ReassemblyCase(name: "RST closes immediately",
                   steps: [.s(100, "S"), .s(101, "A", "abc"), .s(104, "RA"), .s(104, "A", "def")],
                   expected: ["0:abc@2", "rst@3"], afterClose: 3),
    ReassemblyCase(name: "RST delivers buffered data with a gap first",
                   steps: [.s(100, "S"), .s(104, "A", "def"), .s(200, "R")],
                   expected: ["gap 0+3@2", "3:def@2", "rst@3"]),
    ReassemblyCase(name: "data after FIN ignored",
                   steps: [.s(100, "S"), .s(101, "FA", "abc"), .s(105, "A", "xyz"), .s(101, "A", "abc")],
                   expected: ["0:abc@2", "fin@2"], duplicate: 3, afterClose: 3),
    ReassemblyCase(name: "FIN out of order waits for the data before it; data beyond FIN ignored",
                   steps: [.s(100, "S"), .s(104, "FA", "def"), .s(107, "A", "zzz"), .s(101, "A", "abc")],
                   expected: ["0:abc@4", "3:def@2", "fin@2"], afterClose: 3),
    ReassemblyCase(name: "buffered data beyond a later FIN is dropped",
                   steps: [.s(100, "S"), .s(106, "A", "fgh"), .s(104, "FA", "de"), .s(101, "A", "abc")],
                   expected: ["0:abc@4", "3:de@3", "fin@3"], afterClose: 3),
    ReassemblyCase(name: "mid-connection start",
                   steps: [.s(5000, "A", "abc"), .s(5003, "PA", "def")],
                   expected: ["mid@1", "0:abc@1", "3:def@2"]),
    ReassemblyCase(name: "mid-connection start after pure ACKs",
                   steps: [.s(5000, "A"), .s(5000, "A", "abc"), .s(4998, "A", "xyabc")],
                   expected: ["mid@2", "0:abc@2"], duplicate: 5, conflicts: 0),
    ReassemblyCase(name: "mid-connection FIN only",
                   steps: [.s(5000, "FA")],
                   expected: ["mid@1", "fin@1"]),
    ReassemblyCase(name: "lost segment then flush gives a gap with the exact byte count",
                   steps: [.s(100, "S"), .s(101, "A", "abc"), .s(111, "A", "klm"), .s(114, "A", "no"), .flush],
                   expected: ["0:abc@2", "gap 3+7@3", "10:klm@3", "13:no@4"]),
    ReassemblyCase(name: "two holes then flush",
                   steps: [.s(100, "S"), .s(104, "A", "d"), .s(107, "A", "gh"), .flush, .s(109, "A", "ij")],
                   expected: ["gap 0+3@2", "3:d@2", "gap 4+2@3", "6:gh@3", "8:ij@5"]),
    ReassemblyCase(name: "flush with pending FIN closes after the gap",
                   steps: [.s(100, "S"), .s(101, "A", "abc"), .s(107, "FA", "ghi"), .flush],
                   expected: ["0:abc@2", "gap 3+3@3", "6:ghi@3", "fin@3"]),
    ReassemblyCase(name: "flush with a hole before a bare FIN",
                   steps: [.s(100, "S"), .s(101, "A", "abc"), .s(110, "FA"), .flush, .flush],
                   expected: ["0:abc@2", "gap 3+6@3", "fin@3"]),
    ReassemblyCase(name: "flush with nothing buffered does nothing",
                   steps: [.s(100, "S"), .s(101, "A", "abc"), .flush],
                   expected: ["0:abc@2"]),
    ReassemblyCase(name: "buffer bound exceeded: gap emitted early",
                   steps: [.s(100, "S"), .s(101, "A", "ab"), .s(105, "A", "efgh"), .s(109, "A", "ijkl"),
                           .s(113, "A", "mn"), .s(103, "A", "cd"), .s(115, "A", "op")],
                   expected: ["0:ab@2", "gap 2+2@3", "4:efgh@3", "8:ijkl@4", "12:mn@5", "14:op@7"],
                   maxBuffered: 8, duplicate: 2),
    ReassemblyCase(name: "single segment larger than the bound is delivered past the hole",
                   steps: [.s(100, "S"), .s(103, "A", "cdefghijkl"), .s(101, "A", "ab")],
                   expected: ["gap 0+2@2", "2:cdefghijkl@2"], maxBuffered: 4, duplicate: 2),
    ReassemblyCase(name: "zero bound: every out-of-order segment skips its hole",
                   steps: [.s(100, "S"), .s(102, "A", "b"), .s(104, "A", "d")],
                   expected: ["gap 0+1@2", "1:b@2", "gap 2+1@3", "3:d@3"], maxBuffered: 0),
    ReassemblyCase(name: "snaplen-truncated segment: data then gap",
                   steps: [.s(100, "S"), .s(101, "A", "abc", len: 10), .s(111, "A", "xyz")],
                   expected: ["0:abc@2", "gap 3+7@2", "10:xyz@3"]),
    ReassemblyCase(name: "snaplen-truncated segment out of order",
                   steps: [.s(100, "S"), .s(111, "A", "xyz"), .s(101, "A", "abc", len: 10)],
                   expected: ["0:abc@3", "gap 3+7@3", "10:xyz@2"]),
    ReassemblyCase(name: "fully truncated segment (no captured bytes) is a gap",
                   steps: [.s(100, "S"), .s(101, "A", "", len: 5), .s(106, "FA", "f")],
                   expected: ["gap 0+5@2", "5:f@3", "fin@3"]),
    ReassemblyCase(name: "truncated segment carrying FIN",
                   steps: [.s(100, "S"), .s(101, "FA", "ab", len: 4)],
                   expected: ["0:ab@2", "gap 2+2@2", "fin@2"]),
]

@Test(arguments: reassemblyCases)
func reassemblerCase(_ c: ReassemblyCase) {
    let (events, r) = raRun(c.steps, maxBuffered: c.maxBuffered)
    #expect(events.map(raRender) == c.expected)
    raCheckContiguous(events, r)
    if let d = c.duplicate { #expect(r.duplicateBytes == d) }
    if let k = c.conflicts { #expect(r.overlapConflicts == k) }
    if let a = c.afterClose { #expect(r.bytesAfterClose == a) }
    #expect(r.segments == c.steps.filter { if case .segment = $0.kind { return true } else { return false } }.count)
}

// MARK: - Permutations

func raPermutations<T>(_ a: [T]) -> [[T]] {
    if a.count <= 1 { return [a] }
    var out: [[T]] = []
    for i in a.indices {
        var rest = a
        let x = rest.remove(at: i)
        for p in raPermutations(rest) { out.append([x] + p) }
    }
    return out
}

@Test(arguments: [UInt32(100), 0xFFFF_FFF8, 0xFFFF_FFFB])
func outOfOrderAllPermutations(isn: UInt32) {
    // Three segments (time = identity 1, 2, 3), the last with FIN; every arrival order gives the same events.
    let segs: [ReassemblyStep] = [.s(isn &+ 1, "A", "AAAA", t: 1), .s(isn &+ 5, "A", "BBBB", t: 2),
                                  .s(isn &+ 9, "FA", "CCCC", t: 3)]
    let orders = raPermutations(segs)
    #expect(orders.count == 6)
    for order in orders {
        let (events, r) = raRun([.s(isn, "S", t: 0)] + order)
        #expect(events.map(raRender) == ["0:AAAA@1", "4:BBBB@2", "8:CCCC@3", "fin@3"])
        #expect(r.bufferedBytes == 0)
        #expect(r.gapBytes == 0)
        #expect(r.duplicateBytes == 0)
    }
}

// MARK: - Details

@Test func bufferedBytesNeverAboveBound() {
    var r = TCPReassembler(maxBufferedBytes: 10)
    var events: [ReassemblyEvent] = []
    r.receive(raSegment(0, "S", "", time: 1), into: &events)
    var peak = 0
    // Every other 3-byte segment is missing.
    for i in 0..<40 where i % 2 == 1 {
        r.receive(raSegment(UInt32(1 + 3 * i), "A", "xyz", time: Int64(i + 2)), into: &events)
        peak = max(peak, r.bufferedBytes)
        #expect(r.bufferedBytes <= 10)
    }
    #expect(peak > 0)
    r.flush(into: &events)
    #expect(r.bufferedBytes == 0)
    #expect(r.gapBytes == 60)
    #expect(r.bytesDelivered == 60)
    raCheckContiguous(events, r)
}

@Test func fastPathDoesNotCopyThePayload() {
    var r = TCPReassembler(maxBufferedBytes: 1024)
    var events: [ReassemblyEvent] = []
    events.reserveCapacity(8)
    r.receive(raSegment(7, "S", "", time: 1), into: &events)
    let segment = raSegment(8, "A", "payload bytes", time: 2)
    r.receive(segment, into: &events)
    guard case .data(let bytes, _, _)? = events.last else {
        Issue.record("no data event")
        return
    }
    let a = segment.payload.withUnsafeReadableBytes { $0.baseAddress }
    let b = bytes.withUnsafeReadableBytes { $0.baseAddress }
    #expect(a == b)
}

@Test func eventTimesAndExactShape() {
    var r = TCPReassembler(maxBufferedBytes: 64)
    var events: [ReassemblyEvent] = []
    r.receive(raSegment(41, "A", "hi", time: 10), into: &events)
    r.receive(raSegment(45, "A", "yo", length: 4, time: 11), into: &events)
    r.flush(into: &events)
    let t10 = CaptureTime(nanoseconds: 10), t11 = CaptureTime(nanoseconds: 11)
    #expect(events == [
        .midStreamStart(time: t10),
        .data(ByteBuffer(string: "hi"), time: t10, streamOffset: 0),
        .gap(byteCount: 2, streamOffset: 2, time: t11),
        .data(ByteBuffer(string: "yo"), time: t11, streamOffset: 4),
        .gap(byteCount: 2, streamOffset: 6, time: t11),
    ])
    #expect(r.startedMidStream)
    #expect(r.sequenceBase == 41)
    #expect(r.initialSequence == nil)
    #expect(r.gapBytes == 4 && r.bytesDelivered == 4 && r.segments == 2)
}

@Test func hostileInputsDoNotTrap() {
    var r = TCPReassembler(maxBufferedBytes: 16)
    var events: [ReassemblyEvent] = []
    // Negative and huge announced lengths, payload longer than announced, sequence jumps of ±2^31.
    r.receive(raSegment(0, "S", "", time: 1), into: &events)
    r.receive(raSegment(1, "A", "abc", length: -5, time: 2), into: &events)
    r.receive(raSegment(1, "A", "abcdef", length: 2, time: 3), into: &events)
    r.receive(raSegment(0x8000_0000, "A", "zz", time: 4), into: &events)
    r.receive(raSegment(0x7FFF_FFFF, "A", "q", length: Int.max, time: 5), into: &events)
    r.receive(raSegment(3, "SFA", "x", time: 6), into: &events)
    r.flush(into: &events)
    #expect(r.bufferedBytes <= 16)
    raCheckContiguous(events, r)
}

// MARK: - Property tests

/// Splits `stream` into random segments, retransmits random ranges (with different boundaries), shuffles
/// within a window, feeds them and checks that the delivered bytes equal the stream without any gap.
@Test(arguments: Array(UInt64(1)...UInt64(40)))
func randomSegmentationReassemblesExactly(seed: UInt64) {
    var rng = RASplitMix64(seed: seed)
    let n = Int.random(in: 1...4000, using: &rng)
    let stream = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
    // Half of the seeds start close to the wrap-around point.
    let isn: UInt32 = seed % 2 == 0 ? UInt32.max &- UInt32.random(in: 0...2000, using: &rng) : UInt32.random(in: 0...UInt32.max, using: &rng)

    var pieces: [(Int, Int)] = []
    var pos = 0
    while pos < n {
        let len = min(n - pos, Int.random(in: 1...300, using: &rng))
        pieces.append((pos, pos + len))
        pos += len
    }
    // Retransmissions: random ranges, overlapping original boundaries.
    let extra = Int.random(in: 0...(pieces.count / 2 + 1), using: &rng)
    for _ in 0..<extra {
        let a = Int.random(in: 0..<n, using: &rng)
        let b = min(n, a + Int.random(in: 1...400, using: &rng))
        pieces.insert((a, b), at: Int.random(in: 0...pieces.count, using: &rng))
    }
    // Local shuffle: swap elements within a window of 8.
    for i in pieces.indices {
        let j = min(pieces.count - 1, i + Int.random(in: 0...8, using: &rng))
        pieces.swapAt(i, j)
    }

    var r = TCPReassembler(maxBufferedBytes: 1 << 20)
    var events: [ReassemblyEvent] = []
    var t: Int64 = 1
    r.receive(TCPSegment(time: CaptureTime(nanoseconds: 0), source: raClient, destination: raServer, sequence: isn,
                         acknowledgement: 0, flags: .syn, payload: [], payloadLength: 0, packetNumber: 1), into: &events)
    for (a, b) in pieces {
        let seg = TCPSegment(time: CaptureTime(nanoseconds: t), source: raClient, destination: raServer,
                             sequence: isn &+ 1 &+ UInt32(a), acknowledgement: 0, flags: .ack,
                             payload: Array(stream[a..<b]), payloadLength: b - a, packetNumber: Int(t))
        t += 1
        r.receive(seg, into: &events)
    }
    r.receive(TCPSegment(time: CaptureTime(nanoseconds: t), source: raClient, destination: raServer,
                         sequence: isn &+ 1 &+ UInt32(n), acknowledgement: 0, flags: [.fin, .ack], payload: [],
                         payloadLength: 0, packetNumber: Int(t)), into: &events)

    var out: [UInt8] = []
    var gaps = 0
    var closed = 0
    for e in events {
        switch e {
        case .data(let b, _, let off):
            #expect(off == UInt64(out.count))
            out += b.readableBytesView
        case .gap: gaps += 1
        case .closed(.fin, _): closed += 1
        default: Issue.record("unexpected event \(e)")
        }
    }
    #expect(out == stream)
    #expect(gaps == 0)
    #expect(closed == 1)
    #expect(r.isClosed)
    #expect(r.overlapConflicts == 0)
    #expect(r.bufferedBytes == 0)
    #expect(r.bytesDelivered == UInt64(n))
}

/// With a small bound and lost segments: memory stays bounded, every delivered byte is at its true offset,
/// and delivered + gap bytes cover the whole stream after flush.
@Test(arguments: Array(UInt64(100)...UInt64(130)))
func randomLossWithSmallBound(seed: UInt64) {
    var rng = RASplitMix64(seed: seed)
    let n = Int.random(in: 100...3000, using: &rng)
    let stream = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
    let bound = Int.random(in: 0...500, using: &rng)
    let isn = UInt32.random(in: 0...UInt32.max, using: &rng)
    var pieces: [(Int, Int)] = []
    var pos = 0
    while pos < n {
        let len = min(n - pos, Int.random(in: 1...120, using: &rng))
        if Int.random(in: 0..<10, using: &rng) != 0 { pieces.append((pos, pos + len)) }  // ~10% lost
        pos += len
    }
    for i in pieces.indices {
        let j = min(pieces.count - 1, i + Int.random(in: 0...6, using: &rng))
        pieces.swapAt(i, j)
    }
    var r = TCPReassembler(maxBufferedBytes: bound)
    var events: [ReassemblyEvent] = []
    r.receive(raSegment(isn, "S", "", time: 0), into: &events)
    for (k, (a, b)) in pieces.enumerated() {
        let seg = TCPSegment(time: CaptureTime(nanoseconds: Int64(k + 1)), source: raClient, destination: raServer,
                             sequence: isn &+ 1 &+ UInt32(a), acknowledgement: 0, flags: .ack,
                             payload: Array(stream[a..<b]), payloadLength: b - a, packetNumber: k + 1)
        r.receive(seg, into: &events)
        #expect(r.bufferedBytes <= bound)
    }
    r.receive(raSegment(isn &+ 1 &+ UInt32(n), "FA", "", time: Int64(pieces.count + 1)), into: &events)
    r.flush(into: &events)
    #expect(r.isClosed)
    for e in events {
        if case .data(let b, _, let off) = e {
            #expect(Array(stream[Int(off)..<(Int(off) + b.readableBytes)]) == Array(b.readableBytesView))
        }
    }
    raCheckContiguous(events, r)
    #expect(r.streamOffset == UInt64(n))
}

// MARK: - An acknowledged hole held for a late segment (capture order is not send order)

struct AckHoldCase: CustomTestStringConvertible, Sendable {
    let name: String
    /// Steps: a segment (seq, payload, time) or an ACK from the peer (ack, time).
    enum Step: Sendable { case data(UInt32, String, Int64), ack(UInt32, Int64), fin(UInt32, Int64) }
    let steps: [Step]
    let expected: [String]
    var testDescription: String { name }
}

let ackHoldCases: [AckHoldCase] = [
    AckHoldCase(name: "the late segment arrives within the window: no gap",
                steps: [.data(101, "aaaa", 1), .data(109, "cccc", 2), .ack(113, 3), .data(105, "bbbb", 40_000_000)],
                expected: ["0:aaaa@1", "4:bbbb@40000000", "8:cccc@2"]),
    AckHoldCase(name: "the window runs out: the hole is lost at the next segment",
                steps: [.data(101, "aaaa", 1), .data(109, "cccc", 2), .ack(113, 3), .data(113, "dddd", 60_000_000)],
                expected: ["0:aaaa@1", "gap 4+4@2", "8:cccc@2", "12:dddd@60000000"]),
    AckHoldCase(name: "a later ACK after the window declares it lost",
                steps: [.data(101, "aaaa", 1), .data(109, "cccc", 2), .ack(113, 3), .ack(113, 51_000_000)],
                expected: ["0:aaaa@1", "gap 4+4@2", "8:cccc@2"]),
    AckHoldCase(name: "the sender's FIN ends the wait",
                steps: [.data(101, "aaaa", 1), .data(109, "cccc", 2), .ack(113, 3), .fin(113, 4)],
                expected: ["0:aaaa@1", "gap 4+4@2", "8:cccc@2", "fin@4"]),
]

@Test(arguments: ackHoldCases)
func acknowledgedHolesAreHeldForLateSegments(_ c: AckHoldCase) {
    var r = TCPReassembler(maxBufferedBytes: 1 << 16, ackHoldNanos: 50_000_000)
    var events: [ReassemblyEvent] = []
    r.receive(raSegment(100, "S", "", time: 0), into: &events)
    for step in c.steps {
        switch step {
        case .data(let seq, let payload, let t): r.receive(raSegment(seq, "A", payload, time: t), into: &events)
        case .ack(let ack, let t): r.acknowledged(ack, time: CaptureTime(nanoseconds: t), into: &events)
        case .fin(let seq, let t): r.receive(raSegment(seq, "FA", "", time: t), into: &events)
        }
    }
    #expect(events.map(raRender) == c.expected)
    raCheckContiguous(events, r)
}
