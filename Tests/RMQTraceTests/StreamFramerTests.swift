import NIOCore
import RMQCapture
import RMQTrace
import RocketMQRemoting
import Testing

/// The framer as a state machine: reassembly events in, frames and skipped ranges out. Table-driven.
@Suite struct StreamFramerTests {
    static let t = CaptureTime(nanoseconds: 1_000)

    static func frame(_ code: Int32, opaque: Int32, body: Int = 0, type: SerializeType = .json) -> [UInt8] {
        var cmd = RemotingCommand.request(code: code, opaque: opaque, extFields: ["topic": "T"],
                                          body: body > 0 ? ByteBuffer(repeating: 0x41, count: body) : nil)
        cmd.serializeType = type
        var b = RemotingFrame.encode(cmd)
        return b.readBytes(length: b.readableBytes)!
    }

    enum Step { case data([UInt8]), gap(Int), mid, close }

    /// Runs steps (stream offsets computed) and renders the outputs compactly: `F<opaque>`, `lost:N`,
    /// `resync:N`, `bad:N`, `tls:N`.
    static func run(_ steps: [Step], maxFrame: Int = RemotingFrame.defaultMaxFrameLength) -> [String] {
        var f = StreamFramer(maxFrameLength: maxFrame)
        var out: [StreamFramer.Output] = []
        var offset: UInt64 = 0
        for s in steps {
            switch s {
            case .data(let b):
                f.receive(.data(ByteBuffer(bytes: b), time: t, streamOffset: offset), into: &out)
                offset += UInt64(b.count)
            case .gap(let n):
                f.receive(.gap(byteCount: UInt64(n), streamOffset: offset, time: t), into: &out)
                offset += UInt64(n)
            case .mid: f.receive(.midStreamStart(time: t), into: &out)
            case .close: f.receive(.closed(.fin, time: t), into: &out)
            }
        }
        f.finish(time: t, into: &out)
        return out.map {
            switch $0 {
            case .frame(let c, _, _, _): return "F\(c.opaque)"
            case .rawFrame(let b, _, _): return "R\(b.readableBytes)"
            case .skipped(let k, let n, _, _, _): return "\(k.rawValue):\(n)"
            }
        }
    }

    static let a = frame(11, opaque: 1, body: 100)
    static let b = frame(14, opaque: 2)
    static let c = frame(34, opaque: 3, body: 40, type: .rocketmq)

    struct Case: Sendable, CustomStringConvertible {
        let name: String
        let steps: [Step]
        let expected: [String]
        var description: String { name }
    }

    static let cases: [Case] = [
        Case(name: "three frames in one chunk", steps: [.data(a + b + c)], expected: ["F1", "F2", "F3"]),
        Case(name: "byte by byte", steps: (a + b).map { .data([$0]) }, expected: ["F1", "F2"]),
        Case(name: "split inside the length word", steps: [.data(Array(a[0..<2])), .data(Array(a[2...]) + b)], expected: ["F1", "F2"]),
        Case(name: "gap inside a frame skips exactly to its end",
             steps: [.data(Array(a[0..<30])), .gap(20), .data(Array(a[50...]) + b)], expected: ["lost:\(a.count)", "F2"]),
        Case(name: "gap exactly at a frame boundary", steps: [.data(a), .gap(b.count), .data(c)], expected: ["F1", "lost:\(b.count)", "F3"]),
        Case(name: "gap spanning a frame end resynchronises",
             steps: [.data(Array(a[0..<30])), .gap(a.count - 30 + 5), .data(Array(b[5...]) + c)],
             expected: ["lost:\(a.count + 5)", "resync:\(b.count - 5)", "F3"]),
        Case(name: "mid-stream start resynchronises", steps: [.mid, .data(Array(a[17...]) + b + c)], expected: ["resync:\(a.count - 17)", "F2", "F3"]),
        Case(name: "mid-stream start on a boundary skips nothing", steps: [.mid, .data(b + c)], expected: ["F2", "F3"]),
        Case(name: "bad header, consistent length: frame dropped, next decodes",
             steps: [.data([0, 0, 0, 8, 0, 0, 0, 4] + Array("{\"x\"".utf8) + b)], expected: ["bad-frame:12", "F2"]),
        Case(name: "4 GiB-ish length: rejected at once, resync finds the next frame",
             steps: [.data([0x7F, 0xFF, 0xFF, 0xFF, 0, 0, 0, 2] + b)], expected: ["bad-frame:0", "resync:8", "F2"]),
        Case(name: "negative length", steps: [.data([0xFF, 0xFF, 0xFF, 0xF0, 1, 0, 0, 0] + c)], expected: ["bad-frame:0", "resync:8", "F3"]),
        Case(name: "unknown serialize type", steps: [.data([0, 0, 0, 6, 9, 0, 0, 2, 0x7B, 0x7D] + b)], expected: ["bad-frame:0", "resync:10", "F2"]),
        Case(name: "TLS", steps: [.data([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]), .data([9, 9])], expected: ["tls:10", "tls:2"]),
        Case(name: "incomplete frame at the end", steps: [.data(a + Array(b[0..<10]))], expected: ["F1", "bad-frame:10"]),
        Case(name: "closed inside a frame", steps: [.data(Array(a[0..<40])), .close], expected: ["bad-frame:40"]),
        Case(name: "large frame over 1448-byte segments, the next frames in its last segment",
             steps: chunks(big + b + c, 1448), expected: ["F4", "F2", "F3"]),
        Case(name: "frame longer than the reservation ahead, over 64 KiB segments",
             steps: chunks(huge + b, 65536), expected: ["F5", "F2"]),
        Case(name: "gap inside a large frame after a copy began",
             steps: [.data(Array(big[0..<3000])), .data(Array(big[3000..<5000])), .gap(2000), .data(Array(big[7000...]) + b)],
             expected: ["lost:\(big.count)", "F2"]),
    ]

    static let big = frame(11, opaque: 4, body: 300_000)
    static let huge = frame(11, opaque: 5, body: StreamFramer.reserveAhead + 500_000)
    static func chunks(_ bytes: [UInt8], _ size: Int) -> [Step] {
        stride(from: 0, to: bytes.count, by: size).map { .data(Array(bytes[$0..<min($0 + size, bytes.count)])) }
    }

    @Test(arguments: cases)
    func framerCase(_ c: Case) {
        #expect(Self.run(c.steps) == c.expected)
    }

    @Test func deferredDecodingHandsOutWholeFrames() {
        var f = StreamFramer()
        f.deferDecoding = true
        var out: [StreamFramer.Output] = []
        let bytes = Self.a + Self.b
        f.receive(.data(ByteBuffer(bytes: bytes[0..<50]), time: Self.t, streamOffset: 0), into: &out)
        f.receive(.data(ByteBuffer(bytes: bytes[50...]), time: Self.t, streamOffset: 50), into: &out)
        let frames = out.compactMap { o -> [UInt8]? in
            if case .rawFrame(let b, _, _) = o { return Array(b.readableBytesView) }
            return nil
        }
        #expect(frames == [Self.a, Self.b])
    }

    /// Frames copied across segments (into storage sized from the length field, or grown past it) hold exactly
    /// the stream's bytes, whatever the segment size.
    @Test(arguments: [13, 1448, 65536, 200_000])
    func framesAcrossSegmentsKeepTheirBytes(segment: Int) {
        var f = StreamFramer()
        f.deferDecoding = true
        var out: [StreamFramer.Output] = []
        let bytes = Self.a + Self.big + Self.b + Self.huge + Self.c
        var at = 0
        while at < bytes.count {
            let end = min(at + segment, bytes.count)
            f.receive(.data(ByteBuffer(bytes: bytes[at..<end]), time: Self.t, streamOffset: UInt64(at)), into: &out)
            at = end
        }
        let frames = out.compactMap { o -> [UInt8]? in
            if case .rawFrame(let b, _, _) = o { return Array(b.readableBytesView) }
            return nil
        }
        #expect(frames == [Self.a, Self.big, Self.b, Self.huge, Self.c])
    }

    @Test func bufferingIsBoundedByTheMaximumFrame() {
        // A plausible-looking 1 GiB frame start is refused before anything is buffered for it.
        let steps: [Step] = [.data([0x40, 0, 0, 0, 0, 0, 0, 0x10])] + (0..<100).map { _ in .data([UInt8](repeating: 0x20, count: 1000)) } + [.data(Self.b)]
        let out = Self.run(steps, maxFrame: 64 * 1024)
        #expect(out.first == "bad-frame:0" && out.last == "F2")
    }
}
