import RMQConsumer
import RocketMQRemoting
import Testing

/// The pure pieces: client id, allocation, the start-offset table, the committable offset, timestamps.
struct PieceTests {
    // MARK: Client id (PROTOCOL.md 7.2)

    @Test(arguments: [
        (MessageModel.clustering, "DEFAULT", nil as String?, "10.0.0.10@4242#1764000000000"),
        (.broadcasting, "DEFAULT", nil, "10.0.0.10@DEFAULT"),
        (.clustering, "custom", nil, "10.0.0.10@custom"),
        (.clustering, "DEFAULT", "unitX", "10.0.0.10@4242#1764000000000@unitX"),
        (.broadcasting, "b1", "", "10.0.0.10@b1"),
    ])
    func clientID(model: MessageModel, instance: String, unit: String?, expected: String) {
        var c = Fixture.config(model)
        c.instanceName = instance
        c.unitName = unit
        #expect(c.clientID == expected)
        #expect(PushConsumerStateMachine(configuration: c).clientID == expected)
    }

    @Test func defaults() {
        let c = Fixture.config()
        #expect(c.routeRefreshInterval == .seconds(30))
        #expect(c.heartbeatInterval == .seconds(30))
        #expect(c.rebalanceInterval == .seconds(20))
        #expect(c.persistInterval == .seconds(5))
        #expect(c.pullBatchSize == 32)
        #expect(c.brokerSuspendTimeout == .seconds(15))
        #expect(c.pullTimeout == .seconds(30))
        #expect(c.pullThresholdForQueue == 1000)
        #expect(c.maxReconsumeTimes == 16)
        #expect(c.delayAfterException == .milliseconds(1000))
        #expect(c.delayAfterBrokerFlowControl == .milliseconds(20))
        #expect(c.delayAfterCacheFlowControl == .milliseconds(50))
        #expect(c.consumeFrom == .lastOffset && c.messageModel == .clustering && c.allocation == .average)
        #expect(c.subscribedTopics == ["Orders", "%RETRY%orders_group"])
        #expect(Fixture.config(.broadcasting).subscribedTopics == ["Orders"])
    }

    // MARK: Subscriptions

    @Test func tagSubscriptionCodeSet() {
        var h = Harness(Fixture.config(expression: "TagA || TagB"))
        _ = h.start()
        let subs = h.m.subscriptions
        #expect(subs.map(\.topic) == ["Orders", "%RETRY%orders_group"])
        #expect(subs[0].subString == "TagA || TagB")
        #expect(subs[0].tagsSet == ["TagA", "TagB"])
        // Java "TagA".hashCode() and "TagB".hashCode().
        #expect(subs[0].codeSet == [2_598_919, 2_598_920])
        #expect(subs[0].subVersion == Fixture.t0.millisecondsSinceEpoch)
        #expect(subs[1].subString == "*" && subs[1].tagsSet.isEmpty && subs[1].codeSet.isEmpty)
    }

    // MARK: Allocation (PROTOCOL.md 7.6 known answers)

    static let tenQueues = (0..<10).map { MessageQueue(topic: "topic", brokerName: "brokerName", queueId: Int32($0)) }
    static let fourConsumers = (0..<4).map { "CID_PREFIX\($0)" }

    @Test(arguments: [
        (Allocation.average, [[0, 1, 2], [3, 4, 5], [6, 7], [8, 9]] as [[Int32]]),
        (.circle, [[0, 4, 8], [1, 5, 9], [2, 6], [3, 7]]),
    ])
    func allocationKnownAnswers(_ a: Allocation, expected: [[Int32]]) {
        let strategy: AllocationStrategy = a == .average ? .averagely : .circle
        for (i, cid) in Self.fourConsumers.enumerated() {
            let got = strategy.allocate(queues: Self.tenQueues.shuffled(), consumers: Self.fourConsumers.shuffled(), current: cid)
            #expect(got.map(\.queueId) == expected[i], "consumer \(cid)")
        }
    }

    @Test func allocationMoreConsumersThanQueues() {
        let qs = Array(Self.tenQueues.prefix(2))
        let got = Self.fourConsumers.map { AllocationStrategy.averagely.allocate(queues: qs, consumers: Self.fourConsumers, current: $0).map(\.queueId) }
        #expect(got == [[0], [1], [], []])
        #expect(AllocationStrategy.averagely.allocate(queues: qs, consumers: Self.fourConsumers, current: "stranger").isEmpty)
    }

    // MARK: Start offset (PROTOCOL.md 7.4, every row and column)

    struct StartRow: Sendable, CustomTestStringConvertible {
        var from: ConsumeFrom
        var retry: Bool
        var stored: StartOffset.StoredOffset
        var step: StartOffset.Step
        var testDescription: String { "\(from) retry=\(retry) \(stored)" }
    }

    static let ts = "20251124160000"
    static let tsMillis: Int64 = 1_764_000_000_000 // 2025-11-24 16:00:00 UTC

    static let startRows: [StartRow] = [
        // CONSUME_FROM_LAST_OFFSET
        StartRow(from: .lastOffset, retry: false, stored: .found(42), step: .use(42)),
        StartRow(from: .lastOffset, retry: true, stored: .found(42), step: .use(42)),
        StartRow(from: .lastOffset, retry: false, stored: .found(0), step: .use(0)),
        StartRow(from: .lastOffset, retry: false, stored: .notFound, step: .getMaxOffset),
        StartRow(from: .lastOffset, retry: true, stored: .notFound, step: .use(0)),
        StartRow(from: .lastOffset, retry: false, stored: .failed("timeout"), step: .notAdded("timeout")),
        StartRow(from: .lastOffset, retry: true, stored: .failed("timeout"), step: .notAdded("timeout")),
        // CONSUME_FROM_FIRST_OFFSET
        StartRow(from: .firstOffset, retry: false, stored: .found(7), step: .use(7)),
        StartRow(from: .firstOffset, retry: false, stored: .notFound, step: .use(0)),
        StartRow(from: .firstOffset, retry: true, stored: .notFound, step: .use(0)),
        StartRow(from: .firstOffset, retry: false, stored: .failed("x"), step: .notAdded("x")),
        // CONSUME_FROM_TIMESTAMP
        StartRow(from: .timestamp(ts), retry: false, stored: .found(9), step: .use(9)),
        StartRow(from: .timestamp(ts), retry: false, stored: .notFound, step: .searchOffset(timestampMillis: tsMillis)),
        StartRow(from: .timestamp(ts), retry: true, stored: .notFound, step: .getMaxOffset),
        StartRow(from: .timestamp(ts), retry: false, stored: .failed("x"), step: .notAdded("x")),
        StartRow(from: .timestamp("2025-11-24"), retry: false, stored: .notFound,
                 step: .notAdded("consumeTimestamp \"2025-11-24\" is not yyyyMMddHHmmss")),
    ]

    @Test(arguments: startRows)
    func startOffsetTable(_ row: StartRow) {
        #expect(StartOffset.step(after: row.stored, consumeFrom: row.from, isRetryTopic: row.retry) == row.step)
    }

    @Test func consumeTimestamps() {
        #expect(ConsumeTimestamp.parse("19700101000000") == 0)
        #expect(ConsumeTimestamp.parse(Self.ts) == Self.tsMillis)
        #expect(ConsumeTimestamp.parse("20240229235959") == 1_709_251_199_000)
        #expect(ConsumeTimestamp.parse("20230229000000") == nil)
        #expect(ConsumeTimestamp.parse("2024022923595") == nil)
        // Read in UTC+8: eight hours earlier.
        #expect(ConsumeTimestamp.parse(Self.ts, utcOffsetSeconds: 8 * 3600) == Self.tsMillis - 8 * 3_600_000)
        #expect(ConsumeTimestamp.format(millisecondsSinceEpoch: Self.tsMillis + 999) == Self.ts)
        #expect(ConsumeFrom.defaultTimestamp(now: .milliseconds(Self.tsMillis)) == .timestamp("20251124153000"))
    }

    // MARK: Committable offset (ProcessQueue.removeMessage)

    struct OffsetStep: Sendable {
        var removed: [Int64]
        var committable: Int64?
    }

    @Test(arguments: [
        // In-order completion.
        [OffsetStep(removed: [10], committable: 11), OffsetStep(removed: [11], committable: 12), OffsetStep(removed: [12], committable: 13)],
        // Out of order: 12 and 11 finish before 10; the offset stays at 10 until 10 is done.
        [OffsetStep(removed: [12], committable: 10), OffsetStep(removed: [11], committable: 10), OffsetStep(removed: [10], committable: 13)],
        // The middle first, then the last: still 10; then everything.
        [OffsetStep(removed: [11], committable: 10), OffsetStep(removed: [12], committable: 10), OffsetStep(removed: [10], committable: 13)],
        // Batch removal, then a removal on an empty queue (Java −1: nothing to commit).
        [OffsetStep(removed: [10, 11, 12], committable: 13), OffsetStep(removed: [12], committable: nil)],
        // Unknown offsets change nothing.
        [OffsetStep(removed: [99], committable: 10), OffsetStep(removed: [10, 11], committable: 12)],
    ])
    func committableOffset(_ steps: [OffsetStep]) {
        var pq = ProcessQueue()
        pq.put([(10, 100), (11, 100), (12, 100)])
        for s in steps { #expect(pq.remove(s.removed) == s.committable) }
    }

    @Test func processQueueAccounting() {
        var pq = ProcessQueue()
        pq.put([(5, 10), (7, 20), (5, 10)])
        #expect(pq.count == 2 && pq.cachedBytes == 30 && pq.span == 2 && pq.maxOffset == 7)
        pq.put([(6, 1)])
        #expect(pq.remove([7]) == 5)
        #expect(pq.cachedBytes == 11)
        // maxOffset stays the highest ever put.
        #expect(pq.remove([5, 6]) == 8)
    }

    /// The queue is one array in offset order: messages that finish before the ones below them leave holes
    /// that the lowest offset skips once those finish, offsets put below the lowest or put again after they
    /// finished go in their place, and the finished slots dropped on the way change nothing it answers.
    @Test func processQueueKeepsItsOrderAcrossHolesAndReputs() {
        var pq = ProcessQueue()
        pq.put((0..<100).map { (offset: Int64($0), size: 1) })
        let odd = (0..<100).filter { $0 % 2 == 1 }.map(Int64.init)
        #expect(pq.remove(odd) == 0)
        #expect(pq.count == 50 && pq.minInFlight == 0 && pq.maxInFlight == 98 && pq.span == 98 && pq.cachedBytes == 50)
        #expect(pq.offsets == (0..<50).map { Int64($0 * 2) })
        #expect(!pq.contains(1) && pq.contains(2) && !pq.contains(99) && !pq.contains(-1) && !pq.contains(1_000))
        // The even offsets below 80 finish: the lowest moves over the holes.
        #expect(pq.remove((0..<40).map { Int64($0 * 2) }) == 80)
        #expect(pq.offsets == (40..<50).map { Int64($0 * 2) } && pq.count == 10)
        // Below the lowest, a finished offset again, and one still in flight (kept once, its size unchanged).
        pq.put([(offset: 10, size: 5), (offset: 81, size: 5), (offset: 82, size: 7)])
        #expect(pq.minInFlight == 10 && pq.count == 12 && pq.cachedBytes == 20 && pq.contains(81))
        var direct = ProcessQueue()
        direct.put([(offset: 10, size: 5), (offset: 81, size: 5)] + (40..<50).map { (offset: Int64($0 * 2), size: 1) })
        #expect(pq != direct && pq.maxOffset == 99 && direct.maxOffset == 98)  // the highest ever put counts
        direct.put([(offset: 99, size: 1)])
        direct.remove([99])
        #expect(pq == direct && pq.hashValue == direct.hashValue)
        #expect(pq.remove([98, 96]) == 10 && pq.maxInFlight == 94)
        #expect(pq.remove(pq.offsets) == 100 && pq.isEmpty && pq.minInFlight == nil && pq.cachedBytes == 0)
        #expect(pq.remove([5]) == nil)
        pq.put([(offset: 200, size: 3)])
        #expect(pq.offsets == [200] && pq.remove([200]) == 201)
    }
}

/// A problem quoting a broker's AclException remark is printed without the AccessKey (seen against the real
/// 4.9.4 broker with aclEnable=true and a wrong secret key).
@Test func problemsAreScrubbedOfCredentials() {
    let remark = "SYSTEM_ERROR org.apache.rocketmq.acl.common.AclException: Check signature failed for accessKey=rocketmq2, org.apache.rocketmq.acl.plain.PlainPermissionManager.validate(PlainPermissionManager.java:683)"
    let p = Problem.heartbeatFailed(Address("127.0.0.1:10911"), remark)
    #expect(!p.description.contains("rocketmq2"))
    #expect(p.description.hasPrefix("heartbeat to 127.0.0.1:10911: SYSTEM_ERROR org.apache.rocketmq.acl.common.AclException: Check signature failed for accessKey=<redacted"))
    #expect(Problem.unregisterFailed(Address("127.0.0.1:10911"), "No acl config for rocketmq2").description.contains("rocketmq2") == false)
}
