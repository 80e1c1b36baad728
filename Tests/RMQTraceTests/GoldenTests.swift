import Foundation
import RMQCapture
import RMQTrace
import Testing

/// Zeek-style baselines: each capture in Fixtures/ has its recorded `.timeline.txt` and `.ndjson`. Any
/// difference fails and is printed. `RMQ_RECORD_GOLDEN=1 swift test --filter GoldenTests` rewrites the
/// captures from FixtureScenarios and the outputs from the decoder; read the new files before committing.
/// The `cpp-*` captures were recorded from Apache's C++ client by scripts/record-fixtures (see Fixtures/README.md):
/// only their goldens are rewritten here, never the captures.
@Suite(.serialized) struct GoldenTests {
    static let root: URL = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }()
    static let fixtures = root.appendingPathComponent("Fixtures")
    static let recording = ProcessInfo.processInfo.environment["RMQ_RECORD_GOLDEN"] == "1"

    static func decode(_ name: String, _ format: OutputFormat) throws -> String {
        let path = fixtures.appendingPathComponent("\(name).pcap").path
        let (lines, _) = try DecodeSession.decodeFile(path, format: format, sourceName: "Fixtures/\(name).pcap")
        return lines.joined(separator: "\n") + "\n"
    }

    /// The data an HTML report embeds, one array element per line (the page's script is not golden).
    static func reportData(_ page: String) -> String {
        guard let start = page.range(of: "<script type=\"application/json\" id=\"report-data\">"),
              let end = page.range(of: "</script>", range: start.upperBound..<page.endIndex) else { return "<no report data>" }
        return page[start.upperBound..<end.lowerBound].replacingOccurrences(of: "},{", with: "},\n{")
            .replacingOccurrences(of: "],[", with: "],\n[") + "\n"
    }

    static func firstDifference(_ a: String, _ b: String) -> String {
        let la = a.split(separator: "\n", omittingEmptySubsequences: false)
        let lb = b.split(separator: "\n", omittingEmptySubsequences: false)
        for i in 0..<max(la.count, lb.count) {
            let x = i < la.count ? String(la[i]) : "<end>"
            let y = i < lb.count ? String(lb[i]) : "<end>"
            if x != y { return "line \(i + 1):\n  expected: \(x)\n  actual:   \(y)" }
        }
        return "no difference"
    }

    /// `rmq-trace decode` writes through the byte path of `DecodeSession` (NDJSON frame lines straight into the
    /// output buffer); the goldens are checked through its lines: both give the same text, in every format.
    @Test(arguments: OutputFormat.allCases)
    func bytePathWritesTheLines(_ format: OutputFormat) throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.fixtures.path).filter { $0.hasSuffix(".pcap") }.sorted()
        #expect(names.count >= 3)
        for name in names {
            let path = Self.fixtures.appendingPathComponent(name).path
            let (lines, _) = try DecodeSession.decodeFile(path, format: format)
            let reader = try PcapReader(path: path)
            var session = DecodeSession(format: format, source: path)
            var out = Array((session.header(linkType: reader.linkTypeName).map { $0 + "\n" }.joined()).utf8)
            var inputError: String?
            do { try reader.forEachDecoded { session.packet($0, into: &out); return true } } catch { inputError = "\(error)" }
            session.finish(inputError: inputError, into: &out)
            let expected = lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n"
            #expect(String(decoding: out, as: UTF8.self) == expected, "\(name) \(format): \(Self.firstDifference(expected, String(decoding: out, as: UTF8.self)))")
        }
    }

    /// With colour, the timeline is the golden text with ANSI codes around the request name (bold) and the answer
    /// (green for SUCCESS and PULL_NOT_FOUND, red otherwise), through the lines and through the byte path alike.
    @Test func colouredTimelineIsTheGoldenWithCodes() throws {
        let path = Self.fixtures.appendingPathComponent("consume-flow.pcap").path
        let plain = try DecodeSession.decodeFile(path, format: .text).lines
        let reader = try PcapReader(path: path)
        var session = DecodeSession(format: .text, color: true, source: path)
        var lines = session.header(linkType: reader.linkTypeName)
        var byteSession = DecodeSession(format: .text, color: true, source: path)
        var bytes: [UInt8] = Array(byteSession.header(linkType: reader.linkTypeName).map { $0 + "\n" }.joined().utf8)
        try reader.forEachDecoded { p in
            session.packet(p, into: &lines)
            byteSession.packet(p, into: &bytes)
            return true
        }
        session.finish(inputError: nil, into: &lines)
        byteSession.finish(inputError: nil, into: &bytes)
        #expect(String(decoding: bytes, as: UTF8.self) == lines.joined(separator: "\n") + "\n")
        func stripped(_ s: String) -> String {
            var out = "", escape = false
            for c in s.unicodeScalars {
                if c == "\u{1B}" { escape = true; continue }
                if escape { if c == "m" { escape = false }; continue }
                out.unicodeScalars.append(c)
            }
            return out
        }
        #expect(lines.map(stripped) == plain)
        let pull = try #require(lines.first { $0.contains("PULL_MESSAGE") && $0.contains("=> ") })
        #expect(pull.contains("\u{1B}[1mPULL_MESSAGE\u{1B}[0m"))
        #expect(pull.contains("=> \u{1B}[32m") || pull.contains("=> \u{1B}[31m"))
        #expect(lines.contains { $0.contains("=> \u{1B}[32mPULL_NOT_FOUND") || $0.contains("=> \u{1B}[32mSUCCESS") || $0.contains("=> \u{1B}[32mFOUND") })
    }

    @Test(arguments: FixtureScenarios.all.map(\.name))
    func fixture(_ name: String) throws {
        let pcapURL = Self.fixtures.appendingPathComponent("\(name).pcap")
        let built = FixtureScenarios.all.first { $0.name == name }!.build()
        if Self.recording {
            try FileManager.default.createDirectory(at: Self.fixtures, withIntermediateDirectories: true)
            try Data(built).write(to: pcapURL)
        }
        // The committed capture is what the scenario script builds.
        let committed = try [UInt8](Data(contentsOf: pcapURL))
        #expect(committed == built, "Fixtures/\(name).pcap differs from FixtureScenarios.\(name); re-record with RMQ_RECORD_GOLDEN=1")
        for (format, ext) in [(OutputFormat.text, "timeline.txt"), (.ndjson, "ndjson"), (.mermaid, "mmd"), (.html, "report.json")] {
            var actual = try Self.decode(name, format)
            if format == .html { actual = Self.reportData(actual) }
            let goldenURL = Self.fixtures.appendingPathComponent("\(name).\(ext)")
            if Self.recording { try actual.write(to: goldenURL, atomically: true, encoding: .utf8) }
            let expected = (try? String(contentsOf: goldenURL, encoding: .utf8)) ?? "<missing \(goldenURL.path)>"
            #expect(actual == expected, "Fixtures/\(name).\(ext): \(Self.firstDifference(expected, actual))")
        }
    }

    /// Captures recorded from the C++ client against `rmq-trace broker` (scripts/record-fixtures); not built here.
    static let recorded = ["cpp-single-consumer", "cpp-two-consumers", "cpp-broadcast", "cpp-retry", "cpp-restart", "cpp-killed"]

    @Test(arguments: GoldenTests.recorded)
    func recordedFixture(_ name: String) throws {
        let pcapURL = Self.fixtures.appendingPathComponent("\(name).pcap")
        #expect(FileManager.default.fileExists(atPath: pcapURL.path), "Fixtures/\(name).pcap is missing; scripts/record-fixtures records it")
        for (format, ext) in [(OutputFormat.text, "timeline.txt"), (.ndjson, "ndjson"), (.mermaid, "mmd")] {
            let actual = try Self.decode(name, format)
            let goldenURL = Self.fixtures.appendingPathComponent("\(name).\(ext)")
            if Self.recording { try actual.write(to: goldenURL, atomically: true, encoding: .utf8) }
            let expected = (try? String(contentsOf: goldenURL, encoding: .utf8)) ?? "<missing \(goldenURL.path)>"
            #expect(actual == expected, "Fixtures/\(name).\(ext): \(Self.firstDifference(expected, actual))")
        }
    }
}
