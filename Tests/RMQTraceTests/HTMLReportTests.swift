import Foundation
import RMQTrace
import Testing

/// The HTML report of a fixture opened in headless Chromium: no script error, the swimlanes, the lag chart and
/// the allocation chart drawn (their SVG elements exist and have a size), and a click on a finding selects and
/// highlights its exchange. Skipped, saying so, where Chromium is absent or cannot start.
enum Chromium {
    static let path: String? = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }
    static var present: Bool {
        if path == nil { print("skipped: Chromium is absent (apt-get install chromium)") }
        return path != nil
    }

    /// The DOM after the page's scripts ran, or nil when Chromium would not start.
    static func dump(_ url: String) throws -> String? {
        let profile = NSTemporaryDirectory() + "rmq-chromium-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: profile) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path!)
        p.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                       "--user-data-dir=" + profile,
                       "--window-size=1280,2000", "--virtual-time-budget=5000", "--dump-dom", url]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { print("skipped: Chromium exited with \(p.terminationStatus)"); return nil }
        return String(decoding: data, as: UTF8.self)
    }
}

@Suite(.enabled(if: Chromium.present, "Chromium is absent"))
struct HTMLReportTests {
    @Test func fixtureReportDrawsAndLinksFindings() throws {
        let fixture = GoldenTests.fixtures.appendingPathComponent("group-problems.pcap").path
        let (lines, _) = try DecodeSession.decodeFile(fixture, format: .html, sourceName: "Fixtures/group-problems.pcap")
        let page = lines.joined(separator: "\n")
        #expect(!page.contains("<script src") && !page.contains("<link "), "the report must be self-contained")
        let file = NSTemporaryDirectory() + "rmq-report-\(getpid()).html"
        try page.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        guard let dom = try Chromium.dump("file://\(file)#selftest") else { return }
        guard let r = dom.range(of: "data-result=\"") else {
            Issue.record("the self-test did not run: \(dom.prefix(300))")
            return
        }
        let raw = dom[r.upperBound...].prefix { $0 != "\"" }
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&amp;", with: "&")
        let result = try JSONSerialization.jsonObject(with: Data(raw.utf8)) as! [String: Any]
        #expect((result["errors"] as? [Any])?.isEmpty == true, "script errors: \(result["errors"] ?? "")")
        for chart in ["swim", "lag", "alloc", "latency"] {
            let size = result[chart] as? [Int] ?? []
            #expect(size.count == 2 && size[0] > 100 && size[1] > 10, "\(chart) has size \(size)")
        }
        #expect((result["arrows"] as? Int ?? 0) > 20)
        #expect((result["lagPaths"] as? Int ?? 0) > 0)
        #expect((result["allocRects"] as? Int ?? 0) > 0)
        #expect((result["finding"] as? Int ?? -1) >= 0)
        #expect(result["selected"] is Int, "a click on a finding selects its exchange")
        #expect(result["highlighted"] as? Int == 1)
    }
}
