import Testing
import Foundation
import Synchronization
import RocketMQRemoting
import RMQTrace
import RMQTestSupport

// A live tool's log and its --capture file: the same observed events give the same timeline, whether rendered
// live or written as a pcap and decoded back.

private func conversation() -> Conversation {
    var c = Conversation()
    let ns = c.connect(client: "127.0.0.1:40001", server: "127.0.0.1:9876")
    c.route(ns, topic: "T", brokers: [("broker-a", "127.0.0.1:10911")], queues: 2)
    let b = c.connect(client: "127.0.0.1:40002", server: "127.0.0.1:10911")
    c.heartbeat(b, clientID: "127.0.0.1@7#1", group: "g", subscriptions: [("T", "*")])
    c.consumerList(b, group: "g", ids: ["127.0.0.1@7#1"])
    c.pull(b, group: "g", topic: "T", queueId: 0, offset: 0, count: 3, maxOffset: 3)
    c.pull(b, group: "g", topic: "T", queueId: 1, offset: 0, count: 0, maxOffset: 0)
    c.commit(b, group: "g", topic: "T", queueId: 0, offset: 3)
    // A big body spans several segments in the pcap.
    c.exchange(b, RequestCode.sendMessageV2, SendMessageRequestHeader(producerGroup: "p", topic: "T", queueId: 0, sysFlag: 0,
                                                                       bornTimestamp: 1, flag: 0, properties: nil).extFields,
               body: [UInt8](repeating: 0x41, count: 150_000))
    c.unregister(b, clientID: "127.0.0.1@7#1", group: "g")
    c.close(b)
    c.close(ns)
    return c
}

final class Lines: Sendable {
    let lines = Mutex<[String]>([])
    func add(_ l: [String]) { lines.withLock { $0 += l } }
}

@Test func liveLogAndCaptureFileGiveTheSameTimeline() throws {
    let c = conversation()
    let sink = Lines()
    let log = LiveTraceLog(format: .text, source: "live", write: { sink.add($0) })
    var recorder = PcapRecorder()
    var file = PcapRecorder.fileHeader
    for e in c.events {
        log.observe(e)
        file += recorder.observe(e)
    }
    log.finish(closing: "end of capture")
    let path = NSTemporaryDirectory() + "rmq-live-\(getpid()).pcap"
    try Data(file).write(to: URL(fileURLWithPath: path))
    defer { try? FileManager.default.removeItem(atPath: path) }
    let (decoded, error) = try DecodeSession.decodeFile(path, format: .text, sourceName: "live")
    #expect(error == nil)
    // The timeline (everything before the summary) is the same; the summaries differ only in packet counts.
    func timeline(_ l: [String]) -> [String] {
        Array(l.prefix { !$0.hasPrefix("== Summary") }).filter { !$0.hasPrefix("rmq-trace decode:") }
    }
    let live = sink.lines.withLock { $0 }
    #expect(timeline(live) == timeline(decoded))
    #expect(timeline(live).count > 10)
    #expect(live.contains { $0.contains("SEND_MESSAGE_V2") })
}

final class Bytes: Sendable {
    let bytes = Mutex<[UInt8]>([])
    let calls = Mutex(0)
    func add(_ b: [UInt8]) {
        bytes.withLock { $0 += b }
        calls.withLock { $0 += 1 }
    }
}

// The byte sink (what `consume` and `demo` write through) gives exactly the lines of the line sink, each
// ending in a newline, in every format, the summary included; a call that renders nothing writes nothing.
@Test(arguments: OutputFormat.allCases)
func byteSinkWritesTheLinesOfTheLineSink(format: OutputFormat) {
    let c = conversation()
    let lineSink = Lines(), byteSink = Bytes()
    let byLines = LiveTraceLog(format: format, source: "live", write: { lineSink.add($0) })
    let byBytes = LiveTraceLog(format: format, source: "live", writeBytes: { byteSink.add($0) })
    for e in c.events {
        byLines.observe(e)
        byBytes.observe(e)
    }
    byLines.finish(closing: "end")
    byBytes.finish(closing: "end")
    let expected = lineSink.lines.withLock { $0 }.map { $0 + "\n" }.joined()
    let got = String(decoding: byteSink.bytes.withLock { $0 }, as: UTF8.self)
    #expect(got == expected)
    #expect(got.utf8.count > 100)
    // Summary format prints no per-event lines: only the ending is written, in one call.
    if format == .summary { #expect(byteSink.calls.withLock { $0 } == 1) }
    #expect(byLines.findings.count == byBytes.findings.count)
}
