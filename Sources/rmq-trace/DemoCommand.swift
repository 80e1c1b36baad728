import ArgumentParser
import Dispatch
import Foundation
import Logging
import NIOCore
import NIOPosix
import RMQBroker
import RMQConsumer
import RMQLiveConsumer
import RMQTrace
import RMQTraceModel
import RocketMQRemoting
import RocketMQRemotingNIO
import Synchronization

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "A push consumer's life on the wire, in a few seconds: embedded broker, producer, two consumers of one group.",
        discussion: """
            Starts the embedded name server and broker in this process on ephemeral loopback ports, produces messages \
            (SEND_BATCH_MESSAGE, tags TagA/TagB/TagC, keys key-N) to a 4-queue topic, starts consumer-1 (from the first \
            offset), starts consumer-2 in the same group 2 s later (the broker tells consumer-1, both rebalance: 2 queues \
            each), produces more (the held long polls wake up), lets the listener fail every 100th message once (it comes \
            back through %RETRY%demo_group), then shuts both consumers down (commits, UNREGISTER_CLIENT) and prints the \
            summary. Both consumers log into one timeline: the client column tells them apart, and the rebalance reads \
            in the order it happened.
            """
    )

    @Option(help: "Messages produced before consumer-1 starts.")
    var first = 200

    @Option(help: "Messages produced once both consumers run.")
    var second = 100

    @Option(help: "Output: text, ndjson or summary.")
    var format: OutputFormat = .text

    @Option(help: "Fail every Nth message once (0: never).")
    var failEvery = 100

    @Flag(help: "Also log the producer's SEND_BATCH_MESSAGE exchanges.")
    var logProducer = false

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var h = LineLogHandler(label: label, ndjson: false)
            h.logLevel = .warning
            return h
        }
        let out = Output()
        defer { out.flush() }  // whatever way the run ends, nothing buffered is lost
        let topic = "DemoTopic", groupName = "demo_group"
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let log = LiveTraceLog(format: format, source: "rmq-trace demo", writeBytes: { out.bytes($0) })
        let counter = ConnectionCounter()

        var bc = EmbeddedBrokerConfiguration()
        bc.nameServerPort = 0
        bc.brokerPort = 0
        bc.topics = [TopicConfig(topicName: topic, readQueueNums: 4, writeQueueNums: 4)]
        bc.broker.delayScale = 0
        let broker: EmbeddedBroker
        do { broker = try await EmbeddedBroker.start(configuration: bc, group: group) } catch {
            throw ToolError("rmq-trace demo: cannot start the embedded broker: \(error)")
        }
        out.err("demo: embedded name server \(broker.nameServerAddress), broker-a \(broker.brokerAddress), topic \(topic) (4 queues)")
        let started = ContinuousClock.now

        let producer = try await SimpleProducer.connect(nameServer: broker.nameServerAddress, topic: topic, on: group.next(),
                                                        observer: logProducer ? log : nil, counter: counter)
        try await producer.produce(count: first, batchSize: 25)
        out.err("demo: produced \(first) messages (SEND_BATCH_MESSAGE, 25 per batch, queues in turn)")

        let failEvery = self.failEvery
        let tally = DemoTally()
        func consumer(_ name: String) -> (LiveConsumer, ProblemTally) {
            var c = ConsumerConfiguration(nameServers: [Address(broker.nameServerAddress)], topic: topic, group: groupName,
                                          consumeFrom: .firstOffset, clientIP: "127.0.0.1", instanceName: name,
                                          processID: Int64(getpid()), nanoTime: Int64(DispatchTime.now().uptimeNanoseconds))
            // Shorter than Java's 30 s/10 s so that a few-second demo shows a route refresh (consumer-1 learns
            // the route of %RETRY%demo_group, created by its first heartbeat) and a periodic commit round.
            c.firstRouteRefreshDelay = .seconds(1)
            c.firstPersistDelay = .seconds(1)
            var o = LiveConsumerOptions()
            o.threads = 4
            o.observer = log
            o.counter = counter
            let problems = ProblemTally()
            o.onEvent = { e in
                switch e {
                case .problem(let p): problems.add(p); out.err("\(name): \(p)")
                case .driver(let s): out.err("\(name): \(s)")
                case .log: break
                }
            }
            let consumer = LiveConsumer(configuration: c, options: o, group: group) { ms in tally.consume(ms, failEvery: failEvery) }
            return (consumer, problems)
        }
        let (c1, p1) = consumer("consumer-1")
        try await c1.start()
        out.err("demo: consumer-1 started (\(c1.clientID))")
        _ = await Self.eventually(5) { tally.attempted >= first }
        // consumer-2 joins 2 s after consumer-1.
        try? await Task.sleep(until: started + .seconds(2))
        let (c2, p2) = consumer("consumer-2")
        try await c2.start()
        out.err("demo: consumer-2 started (\(c2.clientID)): the broker notifies consumer-1, both rebalance")
        _ = await Self.eventually(5) {
            let a = await c1.withMachine { m in m.assignedQueues.filter { $0.topic == topic }.count }
            let b = await c2.withMachine { m in m.assignedQueues.filter { $0.topic == topic }.count }
            return a == 2 && b == 2
        }
        try await producer.produce(count: second, batchSize: 25)
        out.err("demo: produced \(second) more messages")
        let expectedRetries = failEvery > 0 ? (first + second) / failEvery : 0
        _ = await Self.eventually(5) { tally.originals >= first + second && tally.retries >= expectedRetries }
        try? await Task.sleep(for: .milliseconds(300))
        out.err("demo: shutting both consumers down")
        async let r1 = c1.shutdown()
        async let r2 = c2.shutdown()
        let (report1, report2) = await (r1, r2)
        let s1 = await c1.statistics, s2 = await c2.statistics
        await producer.close()
        log.finish(closing: "demo over")
        let seconds = Double((ContinuousClock.now - started).components.seconds) + Double((ContinuousClock.now - started).components.attoseconds) / 1e18
        if format == .ndjson {
            out.lines([ConsumerSummaryJSON.line(clientID: c1.clientID, group: groupName, statistics: s1, report: report1, seconds: seconds),
                       ConsumerSummaryJSON.line(clientID: c2.clientID, group: groupName, statistics: s2, report: report2, seconds: seconds)])
        } else {
            var lines = ["== Consumers =="]
            lines += ConsumerSummary.lines(clientID: c1.clientID, group: groupName, statistics: s1, report: report1, problems: p1, seconds: seconds)
            lines += ConsumerSummary.lines(clientID: c2.clientID, group: groupName, statistics: s2, report: report2, problems: p2, seconds: seconds)
            let committed = broker.state.offsets.filter { $0.key.group == groupName && $0.key.topic == topic }.values.reduce(0, +)
            lines.append("demo: \(first + second) produced, \(tally.originals) distinct consumed, \(tally.retries) redelivered through %RETRY%\(groupName), \(tally.duplicates) duplicates; the broker holds \(committed) committed for \(topic)")
            if format == .mermaid || format == .html { out.errLines(lines) } else { out.lines(lines) }
        }
        await broker.shutdown()
        try? await group.shutdownGracefully()
    }

    static func eventually(_ seconds: Double, _ condition: @Sendable () async -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while ContinuousClock.now < deadline {
            if await condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }
}

/// The demo's listener state: distinct originals, redeliveries, duplicates; fails every Nth original once.
final class DemoTally: Sendable {
    private struct State { var seen: Set<String> = []; var n = 0; var failed: Set<String> = []; var retries = 0; var duplicates = 0 }
    private let state = Mutex(State())
    var originals: Int { state.withLock { $0.seen.count } }
    /// Distinct messages the listener saw, whether it succeeded or failed them.
    var attempted: Int { state.withLock { $0.seen.union($0.failed).count } }
    var retries: Int { state.withLock { $0.retries } }
    var duplicates: Int { state.withLock { $0.duplicates } }

    func consume(_ ms: [DeliveredMessage], failEvery: Int) -> ConsumeStatus {
        state.withLock { s in
            var status = ConsumeStatus.success
            for m in ms {
                if m.reconsumeTimes > 0 {
                    s.retries += 1
                    if !s.seen.insert(m.msgId).inserted { s.duplicates += 1 }
                    continue
                }
                s.n += 1
                if failEvery > 0, s.n % failEvery == 0, !s.failed.contains(m.msgId) {
                    s.failed.insert(m.msgId)
                    status = .reconsumeLater
                    continue
                }
                if !s.seen.insert(m.msgId).inserted { s.duplicates += 1 }
            }
            return status
        }
    }
}
