import Foundation
import NIOCore
import RocketMQRemoting
import Testing
@testable import RMQCapture
#if canImport(Glibc)
import Glibc
#endif

/// Classic pcap files are read in place: segment payloads are slices of the file's mapping, frames that one
/// segment holds whole are slices of those, and the mappings live exactly as long as their last slice.
@Suite("Mapped capture files")
struct MappedCaptureTests {
    /// 300 segments of 6 to 2999 bytes from the client, each one packet.
    static func capture() -> (records: [PacketRecord], payloads: [[UInt8]]) {
        var synth = TCPSynthesizer(client: v4Endpoint(10, 0, 0, 1, 50000), server: v4Endpoint(10, 0, 0, 2, 10911),
                                   clientISN: 1000, serverISN: 9000, linkType: LinkLayer.ethernet)
        var records = synth.handshake(at: nanos(1_000))
        var payloads: [[UInt8]] = []
        for i in 0..<300 {
            let bytes = patternBytes(6 + (i * 977) % 2994, seed: UInt8(truncatingIfNeeded: i))  // no Ethernet padding
            payloads.append(bytes)
            records += synth.send(from: .client, bytes: bytes, at: nanos(2_000 + Int64(i)), segmentSize: 4000)
        }
        return (records, payloads)
    }

    /// The first `n` packets of `capture()` and a pcap file of them.
    static func firstPackets(_ n: Int) -> (records: [PacketRecord], file: [UInt8]) {
        let records = Array(capture().records.prefix(n))
        return (records, PcapWriter.file(records, linkType: LinkLayer.ethernet, precision: .nanoseconds))
    }

    static func write(_ records: [PacketRecord], _ dir: CaptureTempDirectory) throws -> String {
        let path = dir.file("mapped.pcap")
        try Data(PcapWriter.file(records, linkType: LinkLayer.ethernet, precision: .nanoseconds))
            .write(to: URL(fileURLWithPath: path))
        return path
    }

    static func dataSegments(_ reader: PcapReader) throws -> [TCPSegment] {
        try decodeAllPackets(reader).compactMap(\.segment).filter { $0.capturedLength > 0 }
    }

    @Test("payloads are slices of one mapping: their addresses are their file offsets apart")
    func payloadsAreSlicesOfTheMapping() throws {
        let dir = try CaptureTempDirectory()
        defer { dir.cleanup() }
        let (records, payloads) = Self.capture()
        let segments = try Self.dataSegments(PcapReader(path: Self.write(records, dir)))
        #expect(segments.map(\.payloadBytes) == payloads)
        // In the file, consecutive payloads are one payload, a 16-byte record header and 54 bytes of Ethernet,
        // IPv4 and TCP headers apart. Copies would be anywhere on the heap.
        let addresses = segments.map { s in s.payload.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) } }
        for i in 1..<segments.count {
            #expect(addresses[i] == addresses[i - 1] + UInt(payloads[i - 1].count + 16 + 54), "segment \(i)")
        }
    }

    @Test("windows smaller than a record: every record read whole, as libpcap reads it", arguments: [4096, 5000, 1 << 16])
    func smallWindows(window: Int) throws {
        let dir = try CaptureTempDirectory()
        defer { dir.cleanup() }
        let (records, payloads) = Self.capture()
        let path = try Self.write(records, dir)
        let mapped = try Self.dataSegments(PcapReader(path: path, mappingWindow: window))
        #expect(mapped.map(\.payloadBytes) == payloads)
        // A filter makes libpcap read the file (copies out of its buffer).
        let viaLibpcap = try PcapReader(path: path)
        try viaLibpcap.setFilter("tcp")
        #expect(try Self.dataSegments(viaLibpcap).map(\.payloadBytes) == payloads)
    }

    /// Reads `path` through the mapping (windows of `window` bytes) or through libpcap (a filter): the payloads
    /// delivered, then the error, if any, as (packet number, truncated?).
    static func outcome(_ path: String, window: Int?) throws -> (payloads: [[UInt8]], error: (Int, Bool)?) {
        let reader = try PcapReader(path: path, mappingWindow: window ?? MappedCapture.windowSize)
        if window == nil { try reader.setFilter("") }
        var payloads: [[UInt8]] = []
        do {
            try reader.forEachDecoded { p in
                if let s = p.segment, s.capturedLength > 0 { payloads.append(s.payloadBytes) }
                return true
            }
        } catch CaptureError.truncated(_, let n, _) {
            return (payloads, (n, true))
        } catch CaptureError.read(_, let n, _) {
            return (payloads, (n, false))
        }
        return (payloads, nil)
    }

    @Test("a file cut anywhere, read through small windows, ends as libpcap ends it")
    func cutFilesAcrossWindows() throws {
        let dir = try CaptureTempDirectory()
        defer { dir.cleanup() }
        let (_, file) = Self.firstPackets(40)
        var rng = CaptureFuzzRNG(state: 7)
        for cut in [25, 39, 40, 41] + (0..<30).map({ _ in Int.random(in: 24..<file.count, using: &rng) }) {
            let path = dir.file("cut-\(cut).pcap")
            try Data(file[0..<cut]).write(to: URL(fileURLWithPath: path))
            let viaLibpcap = try Self.outcome(path, window: nil)
            for window in [4096, 8192] {
                let mapped = try Self.outcome(path, window: window)
                #expect(mapped.payloads == viaLibpcap.payloads, "cut at \(cut), window \(window)")
                #expect(mapped.error?.0 == viaLibpcap.error?.0 && mapped.error?.1 == viaLibpcap.error?.1,
                        "cut at \(cut), window \(window)")
            }
        }
    }

    @Test("a record claiming 80 MiB is a read error naming the packet, not a mapping of 80 MiB")
    func hugeCaptureLength() throws {
        let dir = try CaptureTempDirectory()
        defer { dir.cleanup() }
        var (records, file) = Self.firstPackets(3)
        // The third record's caplen (native byte order, as PcapWriter writes it).
        let third = 24 + 16 + records[0].data.count + 16 + records[1].data.count
        withUnsafeBytes(of: UInt32(80 << 20)) { file.replaceSubrange((third + 8)..<(third + 12), with: $0) }
        let path = dir.file("huge.pcap")
        try Data(file).write(to: URL(fileURLWithPath: path))
        let mapped = try Self.outcome(path, window: 4096)
        #expect(mapped.error?.0 == 3 && mapped.error?.1 == false)
        #expect(try Self.outcome(path, window: nil).error?.0 == 3)
    }

    @Test("slices outlive the reader and the file")
    func slicesOutliveTheReader() throws {
        let dir = try CaptureTempDirectory()
        let (records, payloads) = Self.capture()
        var segments: [TCPSegment] = []
        do {
            let reader = try PcapReader(path: Self.write(records, dir), mappingWindow: 8192)
            segments = try Self.dataSegments(reader)
        }
        dir.cleanup()
        #expect(segments.map(\.payloadBytes) == payloads)
    }

    @Test("a buffer over a mapping: copy on write for shared slices, in place for the only owner, unmapped with the last")
    func mappedStorageLifetime() throws {
        let size = 3 * 4096
        let base = try #require(mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
        #expect(base != MAP_FAILED)
        base.storeBytes(of: 0x41, as: UInt8.self)
        var root: ByteBuffer? = MappedWindowRegistry.buffer(base, size)
        var shared = root!.getSlice(at: 0, length: 4)!
        shared.writeString("xyz")  // shared storage: copied, the mapping untouched
        #expect(base.load(as: UInt8.self) == 0x41)
        #expect(shared.getInteger(at: 0, as: UInt8.self) == 0x41 && shared.readableBytes == 7)
        var owner = root!.getSlice(at: 0, length: 1)!
        root = nil
        #expect(MappedWindowRegistry.contains(base))  // `owner` still holds it
        owner.writeString("B")  // the only owner: written in place, within the mapping
        #expect(base.load(fromByteOffset: 1, as: UInt8.self) == UInt8(ascii: "B"))
        owner.writeBytes([UInt8](repeating: 7, count: size))  // past the mapping: moved to the heap, unmapped
        #expect(!MappedWindowRegistry.contains(base))
        #expect(owner.readableBytes == size + 2 && owner.getString(at: 0, length: 2) == "AB")
    }

    @Test("the framer cuts frames that one segment holds whole out of the segment's bytes, no copy")
    func framesAreSlicesOfTheSegment() throws {
        func frame(_ opaque: Int32) -> [UInt8] {
            let command = RemotingCommand.request(code: 11, opaque: opaque, extFields: ExtFields([(key: "consumerGroup", value: "G")]))
            return Array(RemotingFrame.encode(command).readableBytesView)
        }
        let a = frame(1), b = frame(2), c = frame(3)
        var f = StreamFramer()
        f.deferDecoding = true
        var out: [StreamFramer.Output] = []
        let t = nanos(1)
        let segment = ByteBuffer(bytes: a + b + c[0..<5])
        f.receive(.data(segment, time: t, streamOffset: 0), into: &out)
        f.receive(.data(ByteBuffer(bytes: c[5...]), time: t, streamOffset: UInt64(a.count + b.count + 5)), into: &out)
        let frames = out.compactMap { o -> ByteBuffer? in
            if case .rawFrame(let buffer, _, _) = o { return buffer }
            return nil
        }
        try #require(frames.count == 3)
        #expect(frames.map { Array($0.readableBytesView) } == [a, b, c])
        let start = segment.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        let address = { (b: ByteBuffer) in b.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) } }
        #expect(address(frames[0]) == start && address(frames[1]) == start + UInt(a.count))
        #expect(address(frames[2]) != start + UInt(a.count + b.count))  // across segments: a copy
    }
}
