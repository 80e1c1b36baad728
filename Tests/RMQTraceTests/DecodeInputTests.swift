import RMQTestSupport
import Foundation
import RMQCapture
import RMQTrace
import RocketMQRemoting
import Testing

/// Hostile input files: each a clear one-line error, decoding what can be decoded.
@Suite struct DecodeInputTests {
    /// Writes a temporary file; each caller removes it with `defer { removeTemp(path) }`.
    static func temp(_ name: String, _ bytes: [UInt8]) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("rmq-trace-\(getpid())-\(name)").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func removeTemp(_ path: String) { try? FileManager.default.removeItem(atPath: path) }

    @Test func pcapCutMidPacketDecodesWhatCameBefore() throws {
        let full = FixtureScenarios.consumeFlow()
        let path = try Self.temp("cut.pcap", Array(full[0..<(full.count - 30)]))
        defer { DecodeInputTests.removeTemp(path) }
        let (lines, error) = try DecodeSession.decodeFile(path, format: .text)
        let e = try #require(error)
        #expect(e.contains("truncated") && e.contains(path) && e.contains("packet"))
        #expect(lines.contains { $0.hasPrefix("!! ") && !$0.contains("\n") })
        #expect(lines.contains { $0.contains("UNREGISTER_CLIENT") })
        #expect(lines.contains { $0 == "== Summary ==" })
    }

    @Test func unknownLinkTypeIsRefused() throws {
        var w = PcapWriter(linkType: 147)
        w.append(PacketRecord(time: CaptureTime(nanoseconds: 0), data: [1, 2, 3]))
        let path = try Self.temp("user0.pcap", w.bytes)
        defer { DecodeInputTests.removeTemp(path) }
        #expect { _ = try DecodeSession.decodeFile(path, format: .text) } throws: { error in
            "\(error)".contains("147") && "\(error)".contains("USER0")
        }
    }

    @Test func notAPcap() throws {
        let path = try Self.temp("text.pcap", Array("hello, this is not a capture\n".utf8))
        defer { DecodeInputTests.removeTemp(path) }
        #expect { _ = try DecodeSession.decodeFile(path, format: .text) } throws: { error in
            "\(error)".contains(path)
        }
    }

    @Test func filtersNarrowTheTimelineNotTheSummary() throws {
        let path = try Self.temp("flow.pcap", FixtureScenarios.consumeFlow())
        defer { DecodeInputTests.removeTemp(path) }
        var filter = TraceFilter()
        filter.codes = [RequestCode.queryConsumerOffset]
        let (lines, _) = try DecodeSession.decodeFile(path, format: .text, filter: filter)
        let timeline = lines.prefix { $0 != "" }.filter { $0.contains(" => ") }
        #expect(timeline.count == 4 && timeline.allSatisfy { $0.contains("QUERY_CONSUMER_OFFSET") })
        #expect(lines.contains { $0.contains("PULL_MESSAGE") && $0.hasPrefix("  11") })

        var byGroup = TraceFilter()
        byGroup.groups = ["orders_producer"]
        let (g, _) = try DecodeSession.decodeFile(path, format: .ndjson, filter: byGroup)
        let frames = g.filter { $0.contains(#""event":"frame""#) }
        #expect(frames.count == 2 && frames.allSatisfy { $0.contains("SEND_MESSAGE_V2") || $0.contains(#""request_code":310"#) })
    }

    @Test func secretsAreRedacted() throws {
        var s = ScenarioBuilder()
        s.connect("b", client: "10.0.0.10:50002", server: "10.0.0.2:10911")
        var ext = QueryConsumerOffsetRequestHeader(consumerGroup: "g", topic: "t", queueId: 0).extFields
        ext.append("AccessKey", "AKIDEXAMPLE1234")
        ext.append("Signature", "c2VjcmV0LXNpZ25hdHVyZQ==")
        ext.append("SecretKey", "very-secret")
        s.exchange("b", s.request(14, ext)) { ScenarioBuilder.response($0, OffsetResponseHeader(offset: 1).extFields) }
        let path = try Self.temp("acl.pcap", s.pcap())
        defer { DecodeInputTests.removeTemp(path) }
        for format in OutputFormat.allCases {
            let (lines, _) = try DecodeSession.decodeFile(path, format: format)
            let all = lines.joined(separator: "\n")
            #expect(!all.contains("AKIDEXAMPLE1234") && !all.contains("c2VjcmV0LXNpZ25hdHVyZQ==") && !all.contains("very-secret"))
        }
        let (nd, _) = try DecodeSession.decodeFile(path, format: .ndjson)
        #expect(nd.contains { $0.contains(#""AccessKey":"<redacted 15 bytes>""#) })
    }
}

/// `--format summary` prints exactly the summary that ends the text timeline, whatever path it takes.
@Suite struct SummaryConsistencyTests {
    @Test(arguments: FixtureScenarios.all.map(\.name))
    func summaryEqualsTheTextSummary(_ name: String) throws {
        let path = try DecodeInputTests.temp("\(name)-sum.pcap", FixtureScenarios.all.first { $0.name == name }!.build())
        defer { DecodeInputTests.removeTemp(path) }
        let (text, _) = try DecodeSession.decodeFile(path, format: .text)
        let (summary, _) = try DecodeSession.decodeFile(path, format: .summary)
        let start = try #require(text.lastIndex(of: "== Summary =="))
        #expect(Array(text[(start - 1)...]) == summary)
    }

    @Test(.enabled(if: SharedCaptures.present, "../shared/captures is absent"),
          arguments: ["cap2_two_consumers_json.pcap", "cap5_startup_and_single_consumer_rocketmq_binary.pcap"])
    func realCaptures(_ file: String) throws {
        let path = SharedCaptures.path("realbroker-4.9.4/\(file)")
        let (text, _) = try DecodeSession.decodeFile(path, format: .text)
        let (summary, _) = try DecodeSession.decodeFile(path, format: .summary)
        let start = try #require(text.lastIndex(of: "== Summary =="))
        #expect(Array(text[(start - 1)...]) == summary)
    }
}

@Test func mermaidDiagramsOfRealCapturesStayDrawable() throws {
    guard SharedCaptures.present else { return }
    for name in ["cap1_single_consumer_json.pcap", "cap2_two_consumers_json.pcap", "cap7_vipchannel_mtu1500_json.pcap"] {
        let (lines, _) = try DecodeSession.decodeFile(SharedCaptures.path("realbroker-4.9.4/" + name), format: .mermaid)
        #expect(lines.first == "sequenceDiagram")
        #expect(lines.count < 400, "\(name): \(lines.count) lines")
        // Every arrow and note names declared participants; no raw ';' or '#' (Mermaid statement/entity syntax).
        let declared = Set(lines.filter { $0.hasPrefix("    participant ") }.map { $0.split(separator: " ")[1] })
        for l in lines.dropFirst() where !l.hasPrefix("    participant ") {
            let text = l.split(separator: ":", maxSplits: 1).last ?? ""
            #expect(!text.contains(";") || text.contains("#59;") || text.contains("#35;"), "\(l)")
            if l.contains("->>") || l.contains("-->>") || l.contains("-)") {
                let ends = l.split(separator: ":")[0].trimmingCharacters(in: .whitespaces)
                    .components(separatedBy: CharacterSet(charactersIn: "->)")).filter { !$0.isEmpty }
                for e in ends { #expect(declared.contains(Substring(e)), "\(l)") }
            }
        }
    }
}
