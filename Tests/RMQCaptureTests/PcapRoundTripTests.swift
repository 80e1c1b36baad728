import Foundation
import Testing
import RMQCapture

enum CaptureFileFormat: String, Sendable, CaseIterable {
    case pcapMicro = "pcap µs", pcapNano = "pcap ns", pcapngMicro = "pcapng µs", pcapngNano = "pcapng ns"

    var precision: PcapTimestampPrecision {
        self == .pcapMicro || self == .pcapngMicro ? .microseconds : .nanoseconds
    }

    func file(_ records: [PacketRecord], linkType: Int32) -> [UInt8] {
        switch self {
        case .pcapMicro, .pcapNano: return PcapWriter.file(records, linkType: linkType, precision: precision)
        case .pcapngMicro, .pcapngNano: return PcapNGWriter.file(records, linkType: linkType, precision: precision)
        }
    }

    /// What a reader gives back for a time written in this format.
    func stored(_ time: CaptureTime) -> CaptureTime {
        precision == .nanoseconds ? time : CaptureTime(nanoseconds: time.nanoseconds / 1000 * 1000)
    }
}

struct CaptureRoundTripCase: Sendable, CustomTestStringConvertible {
    var format: CaptureFileFormat
    var linkType: Int32
    var v6: Bool
    var testDescription: String { "\(format.rawValue), link type \(linkType), \(v6 ? "IPv6" : "IPv4")" }
}

private let captureRoundTripCases: [CaptureRoundTripCase] = CaptureFileFormat.allCases.flatMap { format in
    [LinkLayer.ethernet, LinkLayer.linuxSLL2, LinkLayer.raw, LinkLayer.null].flatMap { linkType in
        [false, true].map { CaptureRoundTripCase(format: format, linkType: linkType, v6: $0) }
    }
}

/// A conversation: handshake, a request in 3 segments, a response, FIN from both sides.
private func conversation(v6: Bool, linkType: Int32) -> (records: [PacketRecord], synth: TCPSynthesizer) {
    let client = v6 ? v6Endpoint(0xfd00_0000_0000_0000, 0x10, 51000) : v4Endpoint(192, 168, 1, 10, 51000)
    let server = v6 ? v6Endpoint(0xfd00_0000_0000_0000, 0x20, 9876) : v4Endpoint(192, 168, 1, 20, 9876)
    var synth = TCPSynthesizer(client: client, server: server, clientISN: 0xffff_fff0, serverISN: 7000,
                               linkType: linkType)
    let base: Int64 = 1_764_036_246_123_456_789
    var records = synth.handshake(at: nanos(base))
    records += synth.send(from: .client, bytes: patternBytes(250, seed: 1), at: nanos(base + 1_000_001), segmentSize: 100)
    records += synth.send(from: .server, bytes: patternBytes(1400, seed: 2), at: nanos(base + 2_000_003))
    records.append(synth.ack(from: .client, at: nanos(base + 2_500_000)))
    records.append(synth.fin(from: .client, at: nanos(base + 3_000_007)))
    records.append(synth.fin(from: .server, at: nanos(base + 3_000_999)))
    records.append(synth.ack(from: .client, at: nanos(base + 3_001_999)))
    return (records, synth)
}

@Suite("PcapWriter → PcapReader round trips")
struct PcapRoundTripTests {
    @Test("synthesized conversation survives a file round trip", arguments: captureRoundTripCases)
    func roundTrip(_ c: CaptureRoundTripCase) throws {
        let dir = try CaptureTempDirectory()
        defer { dir.cleanup() }
        let (records, synth) = conversation(v6: c.v6, linkType: c.linkType)
        let path = dir.file("conv")
        try Data(c.format.file(records, linkType: c.linkType)).write(to: URL(fileURLWithPath: path))

        let reader = try PcapReader(path: path)
        #expect(reader.linkType == c.linkType)
        let decoded = try decodeAllPackets(reader)
        #expect(reader.packetsRead == records.count)
        let segments = decoded.compactMap(\.segment)
        try #require(segments.count == records.count, "\(decoded.map(\.reason))")

        for (index, (segment, record)) in zip(segments, records).enumerated() {
            #expect(segment.time == c.format.stored(record.time))
            #expect(segment.packetNumber == index + 1)
            let direct = try #require(LinkLayer.decode(record.data, linkType: c.linkType, time: record.time,
                                                       packetNumber: index + 1).segment)
            #expect(segment.sequence == direct.sequence)
            #expect(segment.acknowledgement == direct.acknowledgement)
            #expect(segment.flags == direct.flags)
            #expect(segment.payloadBytes == direct.payloadBytes)
            #expect(segment.source == direct.source)
        }
        // Independent expectations on the numbers.
        let client = synth.client, server = synth.server
        #expect(segments[0].flags == .syn && segments[0].sequence == 0xffff_fff0 && segments[0].source == client)
        #expect(segments[1].flags == [.syn, .ack] && segments[1].sequence == 7000 && segments[1].acknowledgement == 0xffff_fff1)
        #expect(segments[1].source == server && segments[1].destination == client)
        #expect(segments[2].flags == .ack && segments[2].acknowledgement == 7001)
        let request = segments[3...5]
        #expect(request.map(\.sequence) == [0xffff_fff1, 0xffff_fff1 &+ 100, 0xffff_fff1 &+ 200])  // wraps past 2^32
        #expect(request.map(\.capturedLength) == [100, 100, 50])
        #expect(request.flatMap(\.payloadBytes) == patternBytes(250, seed: 1))
        #expect(request.last?.flags == [.ack, .psh])
        #expect(segments[6].sequence == 7001 && segments[6].acknowledgement == 0xffff_fff1 &+ 250)
        #expect(segments[6].payloadBytes == patternBytes(1400, seed: 2) && segments[6].payloadLength == 1400)
        #expect(segments[7].acknowledgement == 7001 + 1400)
        #expect(segments[8].flags == [.fin, .ack] && segments[8].sequence == 0xffff_fff1 &+ 250)
        #expect(segments[9].flags == [.fin, .ack] && segments[9].acknowledgement == 0xffff_fff1 &+ 251)
        #expect(segments[10].acknowledgement == 7001 + 1401)
    }

    @Test("next() copies out the same packets as forEach")
    func nextAPI() throws {
        let dir = try CaptureTempDirectory()
        defer { dir.cleanup() }
        let (records, _) = conversation(v6: false, linkType: 1)
        let path = dir.file("next.pcap")
        var writer = PcapWriter()
        writer.append(contentsOf: records)
        try writer.write(toFile: path)
        let reader = try PcapReader(path: path)
        var read: [CapturedPacket] = []
        while let packet = try reader.next() { read.append(packet) }
        #expect(read.map(\.data) == records.map(\.data))
        #expect(read.map(\.time) == records.map(\.time))
        #expect(read.map(\.packetNumber) == Array(1...records.count))
        #expect(read.allSatisfy { $0.capturedLength == $0.originalLength })
        #expect(read.map { $0.decoded(linkType: reader.linkType).segment?.packetNumber } == Array(1...records.count))
        #expect(try reader.next() == nil)
        #expect(reader.linkTypeName == "EN10MB")
    }

    @Test("hostile sequences are delivered as written: reorder, retransmit, drop, overlap, mid-stream, snaplen",
          arguments: [CaptureFileFormat.pcapNano, .pcapngMicro])
    func hostile(_ format: CaptureFileFormat) throws {
        let dir = try CaptureTempDirectory()
        defer { dir.cleanup() }
        var synth = TCPSynthesizer(client: v4Endpoint(127, 0, 0, 1, 40000), server: v4Endpoint(127, 0, 0, 1, 10911),
                                   clientISN: 99, serverISN: 5000)
        // Mid-stream: no handshake; first packet is data.
        var data = synth.send(from: .client, bytes: patternBytes(300), at: nanos(1_000_000_000), segmentSize: 100)
        data.swapAt(0, 1)                                                      // reorder
        data.append(data[0].at(nanos(1_000_010_000)))                              // retransmit
        let dropped = synth.send(from: .server, bytes: patternBytes(40), at: nanos(1_000_020_000))  // drop this
        synth.skip(from: .server, bytes: 10)                                    // bytes never seen
        let overlap = synth.segment(from: .client, sequence: 100 + 50, payload: patternBytes(120), at: nanos(1_000_030_000))
        let big = synth.send(from: .server, bytes: patternBytes(2000), at: nanos(1_000_040_000))[0].truncated(to: 200)
        let rst = synth.rst(from: .client, at: nanos(1_000_050_000))
        let records = data + [overlap, big, rst]
        #expect(dropped.count == 1)

        let path = dir.file("hostile")
        try Data(format.file(records, linkType: 1)).write(to: URL(fileURLWithPath: path))
        let segments = try decodeAllPackets(try PcapReader(path: path)).compactMap(\.segment)
        try #require(segments.count == records.count)
        #expect(segments[0].flags != .syn)
        #expect(segments[0...3].map(\.sequence) == [200, 100, 300, 200])
        #expect(segments[4].sequence == 150 && segments[4].payloadBytes == patternBytes(120))
        #expect(segments[5].sequence == 5001 + 40 + 10)
        #expect(segments[5].capturedLength == 200 - 54 && segments[5].payloadLength == 2000)
        #expect(segments[5].payloadBytes == Array(patternBytes(2000)[0..<146]))
        #expect(segments[6].flags == [.rst, .ack] && segments[6].sequence == 400)
    }

    @Test("synthesized packets have valid checksums according to tshark",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/tshark"), "needs /usr/bin/tshark"))
    func tsharkChecksums() throws {
        let dir = try CaptureTempDirectory()
        defer { dir.cleanup() }
        var records = conversation(v6: false, linkType: 1).records
        records += conversation(v6: true, linkType: 1).records
        let path = dir.file("checksums.pcapng")
        try PcapNGWriter(precision: .nanoseconds).appending(records).write(toFile: path)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/tshark")
        process.arguments = ["-n", "-r", path, "-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
                             "-T", "fields", "-e", "frame.number", "-e", "ip.checksum.status", "-e", "tcp.checksum.status",
                             "-e", "tcp.len"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let lines = output.split(separator: "\n")
        #expect(lines.count == records.count, "\(output)")
        for line in lines {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            // ip.checksum.status / tcp.checksum.status: 0 = bad, 1 = good, 2 = unverified (IPv6 has no IP checksum)
            #expect(fields.count == 4, "\(line)")
            if fields.count == 4 {
                #expect(fields[1].isEmpty || fields[1] == "1", "\(line)")
                #expect(fields[2] == "1", "\(line)")
            }
        }
    }
}

@Suite("PcapReader errors and filters")
struct PcapReaderErrorTests {
    private func records(_ count: Int) -> [PacketRecord] {
        var synth = TCPSynthesizer(client: v4Endpoint(10, 1, 1, 1, 1234), server: v4Endpoint(10, 1, 1, 2, 9876))
        return (0..<count).flatMap { i in
            synth.send(from: i % 2 == 0 ? .client : .server, bytes: patternBytes(64 + i), at: nanos(Int64(i) * 1_000_000))
        }
    }

    @Test("a file cut inside a packet: the packets before are delivered, then .truncated names the packet",
          arguments: [CaptureFileFormat.pcapMicro, .pcapNano, .pcapngNano])
    func truncatedFile(_ format: CaptureFileFormat) throws {
        let dir = try CaptureTempDirectory()
        defer { dir.cleanup() }
        let all = records(5)
        let full = format.file(all, linkType: 1)
        let firstThree = format.file(Array(all[0..<3]), linkType: 1)
        // Cut in the middle of packet 4's data, and in the middle of its record header.
        for cut in [firstThree.count + 40, firstThree.count + 7] {
            let path = dir.file("cut-\(cut)")
            try Data(full[0..<cut]).write(to: URL(fileURLWithPath: path))
            let reader = try PcapReader(path: path)
            var delivered: [Int] = []
            #expect {
                try reader.forEach { _, bytes, _ in
                    delivered.append(bytes.count)
                    return true
                }
            } throws: { error in
                guard case CaptureError.truncated(let p, let n, let message) = error else { return false }
                let text = (error as? CaptureError)?.description ?? ""
                return p == path && n == 4 && !message.isEmpty && text.contains(path) && text.contains("packet 4")
            }
            #expect(delivered == all[0..<3].map(\.data.count), "cut at \(cut)")
        }
    }

    @Test("an unknown link type is rejected when reading starts")
    func unsupportedLinkType() throws {
        let dir = try CaptureTempDirectory()
        defer { dir.cleanup() }
        let path = dir.file("user0.pcap")
        try Data(PcapWriter.file([PacketRecord(time: nanos(0), data: patternBytes(40))], linkType: 147))
            .write(to: URL(fileURLWithPath: path))
        let reader = try PcapReader(path: path)
        #expect(reader.linkType == 147)
        #expect(reader.linkTypeName == "USER0")
        #expect(throws: CaptureError.unsupportedLinkType(147, name: "USER0")) {
            try reader.forEach { _, _, _ in true }
        }
        #expect(throws: CaptureError.unsupportedLinkType(147, name: "USER0")) { try reader.next() }
        #expect(CaptureError.unsupportedLinkType(147, name: "USER0").description.contains("147 (USER0)"))
    }

    @Test("a file that is not a capture gives .open with libpcap's message")
    func notACapture() throws {
        let dir = try CaptureTempDirectory()
        defer { dir.cleanup() }
        let path = dir.file("notes.txt")
        try Data("this is not a pcap file, just some text\n".utf8).write(to: URL(fileURLWithPath: path))
        #expect {
            _ = try PcapReader(path: path)
        } throws: { error in
            guard case CaptureError.open(let p, let message) = error else { return false }
            return p == path && message.contains("format")  // "unknown file format"
        }
        let missing = dir.file("missing.pcap")
        #expect {
            _ = try PcapReader(path: missing)
        } throws: { error in
            guard case CaptureError.open(_, let message) = error else { return false }
            return message.contains("No such file")
                && (error as? CaptureError)?.description.hasPrefix("cannot open \(missing):") == true
        }
    }

    @Test("BPF filters apply to files; a bad expression gives .filter")
    func filters() throws {
        let dir = try CaptureTempDirectory()
        defer { dir.cleanup() }
        var a = TCPSynthesizer(client: v4Endpoint(10, 0, 0, 1, 5000), server: v4Endpoint(10, 0, 0, 2, 9876))
        var b = TCPSynthesizer(client: v4Endpoint(10, 0, 0, 1, 5001), server: v4Endpoint(10, 0, 0, 3, 10911))
        var records: [PacketRecord] = []
        for i in 0..<4 {
            records += a.send(from: .client, bytes: patternBytes(10), at: nanos(Int64(i) * 10))
            records += b.send(from: .client, bytes: patternBytes(10), at: nanos(Int64(i) * 10 + 5))
        }
        let path = dir.file("two.pcap")
        try Data(PcapWriter.file(records)).write(to: URL(fileURLWithPath: path))
        let reader = try PcapReader(path: path)
        try reader.setFilter("tcp port 10911")
        let segments = try decodeAllPackets(reader).compactMap(\.segment)
        #expect(segments.count == 4)
        #expect(segments.allSatisfy { $0.destination.port == 10911 })

        let other = try PcapReader(path: path)
        #expect {
            try other.setFilter("tcp port")
        } throws: { error in
            guard case CaptureError.filter(let expression, let message) = error else { return false }
            return expression == "tcp port" && !message.isEmpty
        }
    }

    @Test("forEach stops when the body returns false, and when stopped")
    func stopping() throws {
        let dir = try CaptureTempDirectory()
        defer { dir.cleanup() }
        let path = dir.file("stop.pcap")
        try Data(PcapWriter.file(records(10))).write(to: URL(fileURLWithPath: path))
        let reader = try PcapReader(path: path)
        var seen = 0
        try reader.forEach { _, _, _ in seen += 1; return seen < 3 }
        #expect(seen == 3)
        try reader.forEach { _, _, _ in
            seen += 1
            if seen == 5 { reader.breakLoop() }
            return true
        }
        #expect(seen == 5)
        #expect(try reader.next() == nil)
        #expect(reader.stopper.isStopRequested)
    }
}

@Suite("Standard input", .serialized)
struct PcapStdinTests {
    /// Reading path "-" takes standard input. Redirects this process's fd 0 to a file for the duration.
    @Test("path \"-\" reads a capture from standard input")
    func stdin() throws {
        let dir = try CaptureTempDirectory()
        defer { dir.cleanup() }
        var synth = TCPSynthesizer(client: v4Endpoint(10, 9, 9, 1, 4000), server: v4Endpoint(10, 9, 9, 2, 9876))
        let records = synth.handshake(at: nanos(1_000)) + synth.send(from: .client, bytes: patternBytes(33), at: nanos(2_000))
        let path = dir.file("stdin.pcapng")
        try PcapNGWriter.file(records).withUnsafeBufferPointer { try Data(buffer: $0).write(to: URL(fileURLWithPath: path)) }

        let saved = dup(0)
        let fd = open(path, O_RDONLY)
        try #require(saved >= 0 && fd >= 0)
        dup2(fd, 0)
        close(fd)
        defer {
            dup2(saved, 0)
            close(saved)
        }
        let reader = try PcapReader(path: "-")
        let segments = try decodeAllPackets(reader).compactMap(\.segment)
        #expect(segments.count == 4)
        #expect(segments.last?.payloadBytes == patternBytes(33))
        #expect(segments.map(\.time) == records.map(\.time))
        #expect(CaptureError.truncated(path: "-", packetNumber: 2, message: "x").description.hasPrefix("standard input:"))
    }
}
