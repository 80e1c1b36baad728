import Foundation
import RMQCapture
import RMQConsumer
import RMQLiveConsumer
import RMQTrace
import RMQTraceModel
import Synchronization
import Testing

final class Lines: Sendable {
    let lines = Mutex<[String]>([])
    func add(_ l: [String]) { lines.withLock { $0 += l } }
}

/// `--capture`: the pcap of a live run decodes back to the timeline the live log printed.
@Test func theCaptureOfALiveRunDecodesToTheSameTimeline() async throws {
    let broker = try await startBroker()
    _ = try await produce(broker, count: 50)
    let sink = Lines()
    let log = LiveTraceLog(format: .text, source: "live", write: { sink.add($0) })
    let path = NSTemporaryDirectory() + "rmq-live-consume-\(getpid()).pcap"
    defer { try? FileManager.default.removeItem(atPath: path) }
    let recorder = try PcapFileRecorder(path: path)
    var options = LiveConsumerOptions()
    options.observer = FanOutObserver([log, recorder])
    let seen = Deliveries()
    let c = LiveConsumer(configuration: consumerConfiguration(nameServer: broker.nameServerAddress, topic: "T", group: "gcap", instance: "c1"),
                         options: options, group: testGroup, listener: seen.listener("c1"))
    try await c.start()
    #expect(await eventually { seen.count >= 50 })
    #expect(await c.shutdown().isClean)
    log.finish(closing: "end of capture")
    #expect(recorder.close() == nil)
    var config = DecodeConfiguration()
    config.nameServerPorts.insert(UInt16(broker.nameServerPort))
    config.brokerPorts.insert(UInt16(broker.brokerPort))
    let (decoded, error) = try DecodeSession.decodeFile(path, format: .text, configuration: config, sourceName: "live")
    #expect(error == nil)
    func timeline(_ l: [String]) -> [String] {
        Array(l.prefix { !$0.hasPrefix("== Summary") }).filter { !$0.hasPrefix("rmq-trace decode:") }
    }
    let live = sink.lines.withLock { $0 }
    #expect(timeline(live).count > 10)
    #expect(timeline(live) == timeline(decoded))
    if timeline(live) != timeline(decoded) {
        let a = timeline(live), b = timeline(decoded)
        for i in 0..<min(a.count, b.count) where a[i] != b[i] {
            Issue.record("first difference at line \(i):\n live:    \(a[i])\n decoded: \(b[i])")
            break
        }
    }
    for code in ["GET_ROUTEINFO_BY_TOPIC", "HEART_BEAT", "GET_CONSUMER_LIST_BY_GROUP", "QUERY_CONSUMER_OFFSET", "PULL_MESSAGE",
                 "UPDATE_CONSUMER_OFFSET", "UNREGISTER_CLIENT"] {
        #expect(live.contains { $0.contains(code) }, "\(code)")
    }
    await broker.shutdown()
}

/// ACL credentials: every request is signed, and neither key appears in the text or NDJSON log.
@Test(arguments: [OutputFormat.text, .ndjson])
func credentialsNeverReachTheLog(_ format: OutputFormat) async throws {
    let broker = try await startBroker()
    _ = try await produce(broker, count: 20)
    let sink = Lines()
    let log = LiveTraceLog(format: format, source: "live", write: { sink.add($0) })
    var options = LiveConsumerOptions()
    options.observer = log
    var config = consumerConfiguration(nameServer: broker.nameServerAddress, topic: "T", group: "gacl", instance: "c1")
    config.credentials = SessionCredentials(accessKey: "AK-visible-nowhere-4711", secretKey: "SK-never-printed-0815")
    let seen = Deliveries()
    let c = LiveConsumer(configuration: config, options: options, group: testGroup, listener: seen.listener("c1"))
    try await c.start()
    #expect(await eventually { seen.count >= 20 })
    #expect(await c.shutdown().isClean)
    log.finish()
    let text = sink.lines.withLock { $0 }.joined(separator: "\n")
    #expect(text.contains("PULL_MESSAGE"))
    #expect(!text.contains("AK-visible-nowhere-4711"))
    #expect(!text.contains("SK-never-printed-0815"))
    await broker.shutdown()
}
