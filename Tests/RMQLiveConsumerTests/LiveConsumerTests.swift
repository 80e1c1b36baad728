import Foundation
import NIOCore
import RMQBroker
import RMQConsumer
@testable import RMQLiveConsumer
import RMQTraceModel
import RocketMQRemoting
import Synchronization
import Testing

// The live consumer against the embedded broker, in this process, on ephemeral loopback ports.

@Suite(.serialized) struct LiveConsumerTests {
    /// The producer's UNIQ_KEY, as the Java client's MessageClientIDSetter makes it: 32 upper-case hex digits, the
    /// 20 of the producer's prefix (IP, pid, start time) then a 12-digit counter, one more for each message.
    @Test func uniqueKeysAreThirtyTwoHexDigitsCountingUp() async throws {
        let broker = try await startBroker(topics: ["T"])
        let p = try await SimpleProducer.connect(nameServer: broker.nameServerAddress, topic: "T", on: testGroup.next())
        let keys = (0..<300).map { _ in p.makeUniqueKey() }
        await p.close()
        await broker.shutdown()
        for k in keys {
            #expect(k.utf8.count == 32 && k.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 70) }, "\(k)")
            #expect(k.hasPrefix("7F000001") && k.prefix(20) == keys[0].prefix(20))
        }
        let counters = keys.map { UInt64($0.suffix(12), radix: 16) ?? 0 }
        #expect(zip(counters, counters.dropFirst()).allSatisfy { $1 == $0 + 1 })
        #expect(keys[0].hasSuffix("000000000001") && keys[299].hasSuffix("00000000012C"))
    }

    /// The producer's bodies: "message N", cut or padded with dots to the size asked for.
    @Test func producedBodiesAreTheMessageNumberCutOrPadded() {
        func text(_ n: Int, _ size: Int?) -> String { String(decoding: SimpleProducer.body(number: String(n), size: size), as: UTF8.self) }
        #expect(text(12, nil) == "message 12")
        #expect(text(12, 14) == "message 12....")
        #expect(text(12, 10) == "message 12")
        #expect(text(12345, 5) == "messa")
        #expect(text(7, 9) == "message 7")
        #expect(text(7, 0) == "")
        #expect(SimpleProducer.body(number: "0", size: 64).count == 64)
    }

    /// A batch request's body, written record by record into memory reserved for each: the same bytes as
    /// `BatchMessageRecord.write` with the properties text KEYS, UNIQ_KEY, WAIT, TAGS joined as
    /// `MessageProperties` joins them (every combination of keys and tags, an empty and a non-ASCII body), and
    /// a single send's properties the same text.
    @Test func batchRecordsAreWrittenAsBatchMessageRecordWritesThem() async throws {
        let broker = try await startBroker(topics: ["T"])
        let p = try await SimpleProducer.connect(nameServer: broker.nameServerAddress, topic: "T", on: testGroup.next())
        let ms = [OutgoingMessage(body: Array("body-0".utf8), tags: "TagA", keys: "key-0"),
                  OutgoingMessage(body: [], tags: nil, keys: "k"),
                  OutgoingMessage(body: Array("é ü".utf8) + [0, 1, 2], tags: "T\u{e9}", keys: nil),
                  OutgoingMessage(body: [UInt8](repeating: 7, count: 5000))]
        let uniques = (0..<ms.count).map { _ in p.makeUniqueKey() }
        let request = p.batchRequest(ms, to: p.queues[0])
        let single = (0..<ms.count).map { i -> String in
            var text = ByteBuffer()
            p.writeProperties(ms[i], unique: Int(UInt64(uniques[i].suffix(12), radix: 16)! + UInt64(ms.count)), into: &text)
            return String(buffer: text)
        }
        await p.close()
        await broker.shutdown()
        var expected = ByteBuffer()
        var texts: [String] = []
        for (i, m) in ms.enumerated() {
            // The batch's keys come right after the ones made above.
            let unique = uniques[i].prefix(20) + SimpleProducer.hex(UInt64(uniques[i].suffix(12), radix: 16)! + UInt64(ms.count), width: 12)
            var pairs: [String] = []
            if let k = m.keys { pairs.append("KEYS\u{1}" + k) }
            pairs.append("UNIQ_KEY\u{1}" + unique)
            pairs.append("WAIT\u{1}true")
            if let t = m.tags { pairs.append("TAGS\u{1}" + t) }
            let text = pairs.joined(separator: "\u{2}")
            texts.append(text)
            BatchMessageRecord.write(flag: 0, body: m.body, into: &expected) { $0.writeString(text) }
        }
        #expect(request.body == expected)
        #expect(single == texts)
        let decoded = try request.body!.withUnsafeReadableBytes { try BatchMessageRecord.decodeAll($0) }
        #expect(decoded.map(\.body) == ms.map(\.body) && decoded.map(\.propertiesText) == texts)
    }

    /// Batched sends, chained on the event loop: batch i goes to queue i modulo the queues, the last one holds
    /// what is left, and the counts returned are what the broker stored.
    @Test func batchesGoToTheQueuesInTurnAndTheLastHoldsTheRest() async throws {
        let broker = try await startBroker(topics: ["T"])
        let counts = try await produce(broker, count: 103, batch: 10)
        #expect(counts.count == 4)
        #expect(Dictionary(uniqueKeysWithValues: counts.map { ($0.key.queueId, $0.value) }) == [0: 30, 1: 30, 2: 23, 3: 20])
        #expect(maxOffsets(broker) == [0: 30, 1: 30, 2: 23, 3: 20])
        // Each record as the producer wrote it in place: body, KEYS, UNIQ_KEY, WAIT, TAGS in that order (then the
        // batch's own CLUSTER, which the broker appends).
        let seen = Mutex<[DeliveredMessage]>([])
        let c = LiveConsumer(configuration: consumerConfiguration(nameServer: broker.nameServerAddress, topic: "T", group: "gb", instance: "c1"),
                             group: testGroup, listener: { ms in seen.withLock { $0 += ms }; return .success })
        try await c.start()
        #expect(await eventually { seen.withLock { $0.count } >= 103 })
        #expect(await c.shutdown().isClean)
        let messages = seen.withLock { $0 }
        #expect(Set(messages.map(\.msgId)).count == 103)
        for m in messages {
            let body = String(decoding: m.message.body.bytes ?? [], as: UTF8.self)
            let n = try #require(Int(body.dropFirst("message ".count)), "\(body)")
            let stored = m.message.properties
            #expect(stored.map(\.key) == ["KEYS", "UNIQ_KEY", "WAIT", "TAGS", "CLUSTER"] && m.message.keys == "key-\(n)", "\(stored)")
            #expect(m.tags == ["TagA", "TagB", "TagC"][n % 3] && stored[2].value == "true")
            #expect(m.msgId.utf8.count == 32 && m.msgId == stored[1].value && m.message.propertiesText == MessageProperties.encode(stored))
        }
        await broker.shutdown()
    }

    @Test func everyProducedMessageIsConsumedOnceAndEveryOffsetCommitted() async throws {
        let broker = try await startBroker()
        let produced = try await produce(broker, count: 300)
        #expect(produced.values.reduce(0, +) == 300)
        let seen = Deliveries()
        let c = LiveConsumer(configuration: consumerConfiguration(nameServer: broker.nameServerAddress, topic: "T", group: "g1", instance: "c1"),
                             group: testGroup, listener: seen.listener("c1"))
        try await c.start()
        #expect(await eventually { seen.count >= 300 })
        let report = await c.shutdown()
        #expect(report.isClean)
        #expect(seen.count == 300)
        #expect(seen.distinct.count == 300)
        // Every queue committed to its end, at the broker.
        let max = maxOffsets(broker)
        #expect(committed(broker, group: "g1") == max)
        #expect(max.values.reduce(0, +) == 300)
        await broker.shutdown()
    }
}

@Suite(.serialized) struct LiveConsumerGroupTests {
    /// Two consumers of one group: each gets the queues the strategy gives it, and together they consume every
    /// message once.
    @Test(arguments: [Allocation.average, .circle])
    func twoConsumersSplitTheQueuesAsTheStrategySays(_ allocation: Allocation) async throws {
        let broker = try await startBroker()
        let seen = Deliveries()
        let ns = broker.nameServerAddress
        let c1 = LiveConsumer(configuration: consumerConfiguration(nameServer: ns, topic: "T", group: "g2", instance: "c1", allocation: allocation),
                              group: testGroup, listener: seen.listener("c1"))
        let c2 = LiveConsumer(configuration: consumerConfiguration(nameServer: ns, topic: "T", group: "g2", instance: "c2", allocation: allocation),
                              group: testGroup, listener: seen.listener("c2"))
        try await c1.start()
        try await c2.start()
        let mine: @Sendable (LiveConsumer) async -> [Int32] = { c in await c.withMachine { m in m.assignedQueues.filter { $0.topic == "T" }.map(\.queueId) } }
        #expect(await eventually {
            let a = await mine(c1), b = await mine(c2)
            return a.count == 2 && b.count == 2
        })
        // 127.0.0.1@c1 < 127.0.0.1@c2: AVG gives c1 the first half, AVG_BY_CIRCLE every other queue.
        let q1 = await mine(c1), q2 = await mine(c2)
        #expect(q1 == (allocation == .average ? [0, 1] : [0, 2]))
        #expect(q2 == (allocation == .average ? [2, 3] : [1, 3]))
        _ = try await produce(broker, count: 200)
        #expect(await eventually { seen.count >= 200 })
        async let r1 = c1.shutdown()
        async let r2 = c2.shutdown()
        let (a, b) = await (r1, r2)
        #expect(a.isClean && b.isClean)
        #expect(seen.count == 200 && seen.distinct.count == 200)
        // Each consumer consumed only from its own queues.
        let owners = seen.consumerOf.withLock { $0 }
        for item in seen.all {
            let expected: String
            switch allocation {
            case .average: expected = item.queue.queueId < 2 ? "c1" : "c2"
            case .circle: expected = item.queue.queueId % 2 == 0 ? "c1" : "c2"
            }
            #expect(owners[item.msgId] == expected, "\(item.queue)@\(item.offset)")
        }
        #expect(committed(broker, group: "g2") == maxOffsets(broker))
        await broker.shutdown()
    }

    /// A consumer started after another one of its group shut down starts where the first committed.
    @Test func aRestartedConsumerResumesWhereTheFirstCommitted() async throws {
        let broker = try await startBroker()
        let ns = broker.nameServerAddress
        _ = try await produce(broker, count: 100)
        let first = Deliveries()
        let c1 = LiveConsumer(configuration: consumerConfiguration(nameServer: ns, topic: "T", group: "g3", instance: "c1"),
                              group: testGroup, listener: first.listener("c1"))
        try await c1.start()
        #expect(await eventually { first.count >= 100 })
        #expect(await c1.shutdown().isClean)
        let afterFirst = committed(broker, group: "g3")
        #expect(afterFirst.values.reduce(0, +) == 100)
        _ = try await produce(broker, count: 60)
        let second = Deliveries()
        let c2 = LiveConsumer(configuration: consumerConfiguration(nameServer: ns, topic: "T", group: "g3", instance: "c2"),
                              group: testGroup, listener: second.listener("c2"))
        try await c2.start()
        #expect(await eventually { second.count >= 60 })
        try? await Task.sleep(for: .milliseconds(200))
        #expect(await c2.shutdown().isClean)
        #expect(second.count == 60)
        #expect(first.distinct.isDisjoint(with: second.distinct))
        // The second consumer's first offset in each queue is what the first committed.
        for q in Set(second.all.map(\.queue)) {
            let offsets = second.all.filter { $0.queue == q }.map(\.offset)
            #expect(offsets.min() == afterFirst[q.queueId])
        }
        #expect(committed(broker, group: "g3") == maxOffsets(broker))
        await broker.shutdown()
    }

    /// Shutdown in the middle of a backlog (the path of Ctrl-C): every offset committed is one past messages the
    /// listener finished, nothing finished is left uncommitted, and a second consumer (without a consume pool)
    /// gets exactly the rest.
    @Test func aShutdownInTheMiddleLosesNothing() async throws {
        let broker = try await startBroker()
        let ns = broker.nameServerAddress
        _ = try await produce(broker, count: 1000, batch: 50)
        let first = Deliveries()
        var config = consumerConfiguration(nameServer: ns, topic: "T", group: "g4", instance: "c1")
        config.pullThresholdForQueue = 40
        var options = LiveConsumerOptions()
        options.threads = 4
        let c1 = LiveConsumer(configuration: config, options: options, group: testGroup,
                              listener: first.listener("c1", delay: .milliseconds(2)))
        try await c1.start()
        #expect(await eventually { first.count >= 200 })
        let report = await c1.shutdown()
        #expect(report.isClean)
        let consumedFirst = first.count
        #expect(consumedFirst < 1000)
        let commits = committed(broker, group: "g4")
        // Per queue: what the listener finished is exactly [0, committed).
        for qid in Int32(0)..<4 {
            let offsets = first.all.filter { $0.queue.queueId == qid }.map(\.offset).sorted()
            #expect(offsets == Array(0..<(commits[qid] ?? 0)), "queue \(qid)")
        }
        let second = Deliveries()
        // The second consumer runs its listener on its event loop (threads 0, no pool).
        var inline = LiveConsumerOptions()
        inline.threads = 0
        let c2 = LiveConsumer(configuration: consumerConfiguration(nameServer: ns, topic: "T", group: "g4", instance: "c2"),
                              options: inline, group: testGroup, listener: second.listener("c2"))
        try await c2.start()
        #expect(await eventually { first.count + second.count >= 1000 })
        try? await Task.sleep(for: .milliseconds(200))
        #expect(await c2.shutdown().isClean)
        #expect(first.distinct.isDisjoint(with: second.distinct))
        #expect(first.distinct.union(second.distinct).count == 1000)
        #expect(committed(broker, group: "g4") == maxOffsets(broker))
        await broker.shutdown()
    }

    /// The consumer cannot start without a name server: it says so.
    @Test func anUnreachableNameServerFailsTheStart() async throws {
        let c = LiveConsumer(configuration: consumerConfiguration(nameServer: "127.0.0.1:1", topic: "T", group: "g5", instance: "c1"),
                             group: testGroup, listener: { _ in .success })
        await #expect(throws: LiveConsumerError.self) { try await c.start() }
        _ = await c.shutdown()
    }
}
