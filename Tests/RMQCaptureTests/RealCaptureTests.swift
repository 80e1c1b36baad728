import Foundation
import Testing
import RMQCapture

/// `shared/captures` found by walking up from this source file (from /work/main that is `../shared/captures`).
/// Nil when no ancestor has it: the real-capture tests are then skipped, saying so.
let captureTestsSharedDirectory: String? = {
    var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    while dir.path != "/" {
        let candidate = dir.appendingPathComponent("shared/captures")
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDirectory), isDirectory.boolValue {
            return candidate.path
        }
        dir = dir.deletingLastPathComponent()
    }
    return nil
}()

@Suite("Real RocketMQ captures")
struct RealCaptureDecodeTests {
    // Skipped (with this comment as the reason) when ../shared/captures is absent: the files are never copied
    // into the project.
    @Test("cap1_single_consumer_json.pcap: 451 packets, all TCP or skipped, none malformed",
          .enabled(if: captureTestsSharedDirectory != nil, "skipped: ../shared/captures absent"))
    func cap1() throws {
        let path = (captureTestsSharedDirectory ?? "") + "/realbroker-4.9.4/cap1_single_consumer_json.pcap"
        let reader = try PcapReader(path: path)
        #expect(reader.linkType == LinkLayer.ethernet)
        #expect(reader.linkTypeName == "EN10MB")
        var tcp = 0, skipped = 0
        var malformed: [String] = []
        var payloadBytes = 0
        var ports: Set<UInt16> = []
        var lastTime = CaptureTime(nanoseconds: 0)
        var firstTime: CaptureTime?
        var timesOrdered = true
        try reader.forEachDecoded { packet in
            switch packet {
            case .tcp(let s):
                tcp += 1
                payloadBytes += s.capturedLength
                #expect(s.capturedLength == s.payloadLength)
                ports.insert(min(s.source.port, s.destination.port))
                if s.time < lastTime { timesOrdered = false }
                if firstTime == nil { firstTime = s.time }
                lastTime = s.time
            case .skipped: skipped += 1
            case .malformed(let reason): malformed.append(reason)
            }
            return true
        }
        #expect(reader.packetsRead == 451)
        #expect(tcp + skipped == 451)
        #expect(malformed.isEmpty, "\(malformed)")
        #expect(tcp > 400)
        #expect(payloadBytes > 100_000)
        #expect(ports.contains(9876) && ports.contains(10911))
        #expect(timesOrdered)
        // tshark's frame.time_epoch of packet 1 is 1795572246.279091 (a microsecond file, read as nanoseconds).
        #expect(firstTime == CaptureTime(nanoseconds: 1_795_572_246_279_091_000))

        // Independent cross-check: tshark's TCP payload byte count.
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/tshark") {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/tshark")
            process.arguments = ["-n", "-r", path, "-T", "fields", "-e", "tcp.len"]
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = FileHandle.nullDevice
            try process.run()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            let total = output.split(separator: "\n").compactMap { Int($0) }.reduce(0, +)
            #expect(total == payloadBytes)
        }
    }

    @Test("every shared capture decodes without malformed packets",
          .enabled(if: captureTestsSharedDirectory != nil, "skipped: ../shared/captures absent"),
          arguments: ["realbroker-4.9.4", "deepflow"])
    func allShared(_ folder: String) throws {
        let dir = (captureTestsSharedDirectory ?? "") + "/" + folder
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".pcap") }.sorted()
        #expect(!files.isEmpty)
        for file in files {
            let reader = try PcapReader(path: dir + "/" + file)
            var malformed = 0
            try reader.forEachDecoded { if $0.isMalformed { malformed += 1 }; return true }
            #expect(malformed == 0, "\(file)")
            #expect(reader.packetsRead > 0, "\(file)")
        }
    }
}
