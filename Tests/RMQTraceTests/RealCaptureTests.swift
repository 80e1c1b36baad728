import Foundation
import NIOCore
import RMQCapture
import RMQTrace
import RocketMQRemoting
import Testing

/// Tests over ../shared/captures (real RocketMQ traffic). Skipped, saying so, where that folder is absent.
enum SharedCaptures {
    static let root: URL? = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            let candidate = url.appendingPathComponent("shared/captures")
            if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("realbroker-4.9.4").path) { return candidate }
        }
        return nil
    }()
    static var present: Bool {
        if root == nil { print("skipped: ../shared/captures is absent (tests over real captures need it)") }
        return root != nil
    }
    static func path(_ rel: String) -> String { root!.appendingPathComponent(rel).path }

    /// NDJSON frame objects of a capture.
    static func frames(_ rel: String) throws -> [JSONValue] {
        let (lines, error) = try DecodeSession.decodeFile(path(rel), format: .ndjson)
        #expect(error == nil)
        return try lines.map { try JSONParser.parse(Array($0.utf8), context: rel) }.filter { $0["event"] == .string("frame") }
    }
}

@Suite(.enabled(if: SharedCaptures.present, "../shared/captures is absent"))
struct RealCaptureTests {
    /// Per-code counts from ../shared/captures/README.md ("Frame counts").
    static let expected: [(file: String, frames: Int, json: Int, requests: String, responses: String)] = [
        ("cap0_startup_json.pcap", 4, 4, "103×2", "0×2"),
        ("cap1_single_consumer_json.pcap", 347, 347,
         "11×15, 14×5, 15 oneway×27, 17×1, 34×6, 35×5, 36×1, 38×4, 40 oneway×1, 103 oneway×1, 103×2, 105×28, 106×1, 310 oneway×5, 310×90, 320×1",
         "0×148, 17×2, 19×4"),
        ("cap2_two_consumers_json.pcap", 623, 623,
         "11×113, 14×9, 15 oneway×32, 34×14, 35×6, 36×1, 38×14, 40 oneway×4, 103 oneway×1, 103×1, 105×45, 310 oneway×5, 310×90, 320×1",
         "0×279, 19×5, 25×3"),
        ("cap3_broadcast_json.pcap", 267, 267,
         "11×20, 34×4, 35×4, 40 oneway×1, 103 oneway×1, 105×13, 310 oneway×5, 310×90, 320×1", "0×125, 19×3"),
        ("cap5_startup_and_single_consumer_rocketmq_binary.pcap", 360, 0,
         "11×16, 14×5, 15 oneway×30, 17×1, 34×6, 35×5, 36×1, 38×6, 40 oneway×1, 103 oneway×1, 103×4, 105×28, 106×1, 310 oneway×5, 310×90, 320×1",
         "0×152, 17×2, 19×5"),
        ("cap7_vipchannel_mtu1500_json.pcap", 326, 326,
         "11×15, 14×5, 15 oneway×20, 17×1, 34×5, 35×5, 36×1, 38×4, 40 oneway×1, 103 oneway×1, 103×2, 105×22, 106×1, 310 oneway×5, 310×90, 320×1",
         "0×141, 17×2, 19×4"),
    ]

    static func counts(_ text: String) -> [String: Int] {
        var out: [String: Int] = [:]
        for item in text.split(separator: ",") {
            let parts = item.trimmingCharacters(in: .whitespaces).split(separator: "×")
            out[String(parts[0]), default: 0] += Int(parts[1])!
        }
        return out
    }

    @Test(arguments: expected.map(\.file))
    func everyFrameDecodedAndCountedAsTheReadmeSays(_ file: String) throws {
        let e = Self.expected.first { $0.file == file }!
        let frames = try SharedCaptures.frames("realbroker-4.9.4/\(file)")
        #expect(frames.count == e.frames)
        #expect(frames.filter { $0["serialization"] == .string("JSON") }.count == e.json)
        var requests: [String: Int] = [:]
        var responses: [String: Int] = [:]
        var unpaired = 0
        for f in frames {
            let code = f["code"]!.scalarText!
            switch f["type"]!.stringValue! {
            case "request": requests[code, default: 0] += 1
            case "oneway": requests["\(code) oneway", default: 0] += 1
            default:
                responses[code, default: 0] += 1
                if f["request_code"] == .null { unpaired += 1 }
            }
        }
        #expect(requests == Self.counts(e.requests))
        #expect(responses == Self.counts(e.responses))
        // Every response is paired with its request (all captures start before the first request).
        #expect(unpaired == 0)
    }

    @Test func cap7ReassemblesFramesSpanningSegments() throws {
        let (lines, _) = try DecodeSession.decodeFile(SharedCaptures.path("realbroker-4.9.4/cap7_vipchannel_mtu1500_json.pcap"), format: .summary)
        #expect(lines.contains { $0.hasPrefix("gaps: 0 bytes lost in the capture, 0 bytes skipped to resynchronise, 0 bad frames") })
        let frames = try SharedCaptures.frames("realbroker-4.9.4/cap7_vipchannel_mtu1500_json.pcap")
        // Frames larger than one 1500-byte segment exist and decoded.
        #expect(frames.contains { ($0["frame_len"]?.int64Value ?? 0) > 1500 })
        // VIP channel: the producer talks to 10909.
        #expect(frames.contains { $0["dst"] == .string("127.0.0.1:10909") && $0["code"] == .number("310") })
    }

    @Test func cap5BinaryHeadersBothWays() throws {
        let frames = try SharedCaptures.frames("realbroker-4.9.4/cap5_startup_and_single_consumer_rocketmq_binary.pcap")
        #expect(frames.allSatisfy { $0["serialization"] == .string("ROCKETMQ") })
        let pulls = frames.filter { $0["type"] == .string("response") && $0["request_code"] == .number("11") && $0["code"] == .number("0") }
        #expect(!pulls.isEmpty)
        #expect(pulls.allSatisfy { ($0["body"]?["messages"]?.int64Value ?? 0) > 0 })
    }

    /// cap1 carries one 8 KiB body sent zlib-compressed (sysFlag 769): find it in a pull response and inflate it.
    @Test func cap1CompressedBodyInflates() throws {
        let reader = try PcapReader(path: SharedCaptures.path("realbroker-4.9.4/cap1_single_consumer_json.pcap"))
        var table = TCPConnectionTable(maxBufferedBytesPerDirection: 1 << 20, maxConnections: 64, idleTimeout: 1 << 40)
        var framers: [String: StreamFramer] = [:]
        var events: [ConnectionEvent] = []
        var out: [StreamFramer.Output] = []
        var compressed: [StoredMessage] = []
        var sends = 0
        try reader.forEachDecoded { p in
            guard let seg = p.segment else { return true }
            events.removeAll()
            table.receive(seg, into: &events)
            for e in events {
                guard case .stream(let id, let dir, let ev) = e else { continue }
                out.removeAll()
                framers["\(id) \(dir)", default: StreamFramer()].receive(ev, into: &out)
                for o in out {
                    guard case .frame(let cmd, _, _, _) = o else { continue }
                    if !cmd.isResponse, cmd.code == 310, case .sendMessage(let h, _)? = try? TypedHeader.decodeRequest(code: 310, extFields: cmd.extFields),
                       h.sysFlag & 1 != 0 {
                        sends += 1
                        #expect(h.sysFlag == 769)
                    }
                    if cmd.isResponse, cmd.remark == "FOUND", let body = cmd.body {
                        let batch = StoredMessageDecoder.decodeAll(body)
                        #expect(batch.error == nil)
                        compressed += batch.messages.filter { $0.sysFlag.contains(.compressed) }
                    }
                }
            }
            return true
        }
        #expect(sends == 1)
        let m = try #require(compressed.first)
        #expect(m.sysFlag.compression == .zlib && m.crcMatches)
        let inflated = try #require(m.body.bytes)
        // The "8 KiB" test body is 8198 bytes; it travels as 915 zlib bytes.
        #expect(inflated.count == 8198 && m.storedBody.count == 915, "inflated \(inflated.count) from \(m.storedBody.count)")
    }

    /// DeepFlow's parse results (`.result`) agree with ours on code, opaque, topic, group, queue and response code.
    @Test(arguments: ["consumer-otel", "consumer-skywalking", "get-consumer-list-by-group", "get-routeinfo-by-topic", "heartbeat",
                      "producer-otel", "producer-skywalking", "pull-message", "send-message-v2", "update-consumer-offset"])
    func agreesWithDeepFlow(_ name: String) throws {
        let resultText = try String(contentsOfFile: SharedCaptures.path("deepflow/rocketmq-\(name).result"), encoding: .utf8)
        func field(_ line: Substring, _ key: String) -> String {
            guard let r = line.range(of: "\(key): ") else { return "" }
            var v = line[r.upperBound...]
            if v.hasPrefix("\"") {
                v = v.dropFirst()
                return String(v[..<v.firstIndex(of: "\"")!])
            }
            return String(v.prefix { $0 != "," && $0 != " " })
        }
        let expected = resultText.split(separator: "\n").filter { $0.hasPrefix("RocketmqInfo") }
        let frames = try SharedCaptures.frames("deepflow/rocketmq-\(name).pcap")
        #expect(frames.count == expected.count)
        // DeepFlow lists frames in its own order: match them by (opaque, request or response).
        func key(_ f: JSONValue) -> String { "\(f["opaque"]!.scalarText!) \(f["type"] == .string("response"))" }
        var ours: [String: JSONValue] = [:]
        for f in frames { ours[key(f)] = f }
        for line in expected {
            let isResponse = field(line, "msg_type") == "Response"
            guard let f = ours["\(field(line, "opaque")) \(isResponse)"] else {
                Issue.record("\(name): no frame with opaque \(field(line, "opaque")) (\(isResponse ? "response" : "request"))")
                continue
            }
            if !isResponse {
                #expect(f["type"] != .string("response"))
                #expect(field(line, "req_code") == f["code"]!.scalarText!)
                let fields = f["fields"]!
                let topic = fields["topic"]?.stringValue ?? fields["b"]?.stringValue ?? ""
                let group = fields["consumerGroup"]?.stringValue ?? fields["a"]?.stringValue ?? fields["group"]?.stringValue ?? ""
                let queue = fields["queueId"]?.stringValue ?? fields["e"]?.stringValue ?? ""
                #expect(field(line, "ext_topic") == topic, "\(name) opaque \(field(line, "opaque"))")
                #expect(field(line, "ext_group") == group, "\(name) opaque \(field(line, "opaque"))")
                #expect(field(line, "ext_queue_id") == queue, "\(name) opaque \(field(line, "opaque"))")
            } else {
                #expect(f["type"] == .string("response"))
                #expect(field(line, "resp_code") == f["code"]!.scalarText!)
                #expect(field(line, "remark") == (f["remark"]?.stringValue ?? ""))
            }
        }
    }
}

/// Captures as networks record them: the same real captures with adjacent packets swapped (a segment after
/// the ACK that acknowledges it, a response before its request) give the same frames and the same pairs.
@Suite(.enabled(if: SharedCaptures.present, "../shared/captures is absent"))
struct ReorderedCaptureTests {
    /// Every frame as (connection, direction, code, opaque, flag, paired request code), sorted: what must not
    /// depend on capture order.
    static func exchanges(_ path: String) throws -> [String] {
        let (lines, error) = try DecodeSession.decodeFile(path, format: .ndjson)
        #expect(error == nil)
        var out: [String] = []
        for l in lines {
            let v = try JSONParser.parse(Array(l.utf8), context: path)
            guard v["event"] == .string("frame") else { continue }
            out.append([v["conn"], v["src"], v["code"], v["opaque"], v["flag"], v["request_code"]].map { "\($0 ?? .null)" }.joined(separator: "|"))
        }
        return out.sorted()
    }

    /// The capture with packets i and i+1 swapped (timestamps travel with their packets) wherever `pick(i)`.
    static func swapped(_ path: String, pick: (Int) -> Bool) throws -> String {
        let reader = try PcapReader(path: path)
        var packets: [PacketRecord] = []
        while let p = try reader.next() { packets.append(PacketRecord(time: p.time, data: p.data, originalLength: p.originalLength)) }
        var i = 0
        while i + 1 < packets.count {
            if pick(i) { packets.swapAt(i, i + 1); i += 2 } else { i += 1 }
        }
        let out = NSTemporaryDirectory() + "rmq-swapped-\(getpid())-\(UUID().uuidString).pcap"
        try Data(PcapWriter.file(packets, linkType: reader.linkType)).write(to: URL(fileURLWithPath: out))
        return out
    }

    @Test(arguments: ["cap1_single_consumer_json.pcap", "cap2_two_consumers_json.pcap", "cap5_startup_and_single_consumer_rocketmq_binary.pcap",
                      "cap7_vipchannel_mtu1500_json.pcap"])
    func swappedPacketsGiveTheSameFramesAndPairs(_ name: String) throws {
        let original = SharedCaptures.path("realbroker-4.9.4/" + name)
        let expected = try Self.exchanges(original)
        #expect(!expected.isEmpty)
        for (label, pick) in [("every 3rd pair", { (i: Int) in i % 3 == 0 }), ("every other pair", { (i: Int) in i % 2 == 1 })] as [(String, (Int) -> Bool)] {
            let variant = try Self.swapped(original, pick: pick)
            defer { try? FileManager.default.removeItem(atPath: variant) }
            let got = try Self.exchanges(variant)
            #expect(got == expected, "\(name), \(label): \(Set(expected).subtracting(got).prefix(3)) missing, \(Set(got).subtracting(expected).prefix(3)) extra")
        }
    }
}
