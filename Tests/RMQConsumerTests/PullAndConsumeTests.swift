import NIOCore
import RMQConsumer
import RocketMQRemoting
import Testing

/// Pull answers, consumption, offsets, send-back (PROTOCOL.md 5.6, 7.3 steps 7–9, 7.5).
struct PullAndConsumeTests {
    typealias F = Fixture

    /// Running with every queue ours; Orders queues start at 10, the retry queue at 0.
    static func running(_ config: ConsumerConfiguration = F.config()) -> Harness {
        var h = Harness(config)
        h.run(offsets: [F.a0: 10, F.a1: 10, F.b0: 10, F.b1: 10, F.r0: 0])
        for p in h.pending(code: RequestCode.heartBeat) { _ = h.answer(p.id) }
        return h
    }

    // MARK: Each pull answer code

    struct PullCase: Sendable, CustomTestStringConvertible {
        var name: String
        var code: Int32
        var header: Bool
        /// Expected: the next pull goes out at once with this offset…
        var nextOffset: Int64?
        /// …or after this delay.
        var delay: Duration?
        var problem: Problem?
        var testDescription: String { name }
    }

    static let pullCases: [PullCase] = [
        PullCase(name: "PULL_NOT_FOUND", code: ResponseCode.pullNotFound, header: true, nextOffset: 12, delay: nil, problem: nil),
        PullCase(name: "PULL_RETRY_IMMEDIATELY", code: ResponseCode.pullRetryImmediately, header: true, nextOffset: 12, delay: nil, problem: nil),
        PullCase(name: "SUBSCRIPTION_NOT_LATEST", code: ResponseCode.subscriptionNotLatest, header: false, nextOffset: nil, delay: .milliseconds(1000),
                 problem: .pullFailed(F.a0, "SUBSCRIPTION_NOT_LATEST the consumer's subscription not latest", retryAfter: .milliseconds(1000))),
        PullCase(name: "SYSTEM_BUSY", code: ResponseCode.systemBusy, header: false, nextOffset: nil, delay: .milliseconds(1000),
                 problem: .pullFailed(F.a0, "SYSTEM_BUSY the consumer's subscription not latest", retryAfter: .milliseconds(1000))),
        PullCase(name: "FLOW_CONTROL", code: ResponseCode.flowControl, header: false, nextOffset: nil, delay: .milliseconds(20),
                 problem: .pullFailed(F.a0, "FLOW_CONTROL the consumer's subscription not latest", retryAfter: .milliseconds(20))),
        PullCase(name: "NO_PERMISSION", code: ResponseCode.noPermission, header: false, nextOffset: nil, delay: .milliseconds(1000),
                 problem: .pullFailed(F.a0, "NO_PERMISSION the consumer's subscription not latest", retryAfter: .milliseconds(1000))),
        PullCase(name: "SUCCESS without a header", code: ResponseCode.success, header: false, nextOffset: nil, delay: .milliseconds(1000),
                 problem: .pullFailed(F.a0, "SUCCESS without a valid PullMessageResponseHeader", retryAfter: .milliseconds(1000))),
    ]

    @Test(arguments: pullCases)
    func pullAnswer(_ c: PullCase) {
        var h = Self.running()
        let p = h.pendingPull(F.a0)!
        #expect(p.header.queueOffset == 10)
        let a = h.answer(p.id, code: c.code, remark: "the consumer's subscription not latest",
                         extFields: c.header ? F.pullHeader(next: 12, max: 12) : nil)
        #expect(a.problems == (c.problem.map { [$0] } ?? []))
        if let next = c.nextOffset {
            let again = a.sends(code: RequestCode.pullMessage)
            #expect(again.count == 1)
            #expect(try! PullMessageRequestHeader(extFields: again[0].command.extFields!).queueOffset == next)
            // Nothing in flight: the committable offset follows the pull offset (correctTagsOffset).
            #expect(h.m.committedOffset(of: F.a0) == next)
        } else {
            #expect(a.sends(code: RequestCode.pullMessage).isEmpty)
            #expect(a.schedules.map(\.0) == [.pullDelay(F.a0)])
            #expect(a.schedules.map(\.1) == [c.delay!])
            // The delayed pull asks for the same offset again.
            let later = h.tick(.pullDelay(F.a0)).sends(code: RequestCode.pullMessage)
            #expect(later.count == 1)
            #expect(try! PullMessageRequestHeader(extFields: later[0].command.extFields!).queueOffset == 10)
            // A second tick is stale.
            #expect(h.tick(.pullDelay(F.a0)).isEmpty)
        }
    }

    @Test func pullTimeoutRetriesAfterTheExceptionDelay() {
        var h = Self.running()
        let p = h.pendingPull(F.b0)!
        let a = h.fail(p.id, .timeout)
        #expect(a == [.report(.pullFailed(F.b0, "timeout", retryAfter: .milliseconds(1000))), .schedule(.pullDelay(F.b0), after: .milliseconds(1000))])
    }

    @Test func connectionClosedFailsEveryPendingRequestOnIt() {
        var h = Self.running()
        let a = h.record(h.m.connectionClosed(F.brokerB, now: h.now))
        #expect(Set(a.problems) == [.pullFailed(F.b0, "connection lost", retryAfter: .milliseconds(1000)),
                                    .pullFailed(F.b1, "connection lost", retryAfter: .milliseconds(1000))])
        #expect(h.pendingPull(F.a0) != nil)
        // The driver's late failure report for the same request is ignored.
        #expect(h.m.requestFailed(RequestID(1), reason: .timeout, now: h.now).isEmpty)
    }

    // MARK: FOUND

    @Test func foundDeliversThenPullsAgain() {
        var h = Self.running()
        let p = h.pendingPull(F.a0)!
        let a = h.answer(p.id, extFields: F.pullHeader(next: 13, max: 13, suggest: 1), body: F.pullBody(F.a0, offsets: [10, 11, 12]))
        let d = a.deliveries
        #expect(d.map { $0.messages.map(\.queueOffset) } == [[10], [11], [12]])
        let m = d[0].messages[0]
        #expect(m.topic == "Orders" && m.tags == "TagA" && m.msgId == "ID0-10" && m.queue == F.a0)
        // The answer's offsets are added to the properties the listener reads, as Java does; the record stays as pulled.
        #expect(m.properties.suffix(2).map { "\($0.key)=\($0.value)" } == ["MIN_OFFSET=0", "MAX_OFFSET=13"])
        #expect(m.properties.dropLast(2).map(\.key) == m.message.properties.map(\.key) && m.message.property["MIN_OFFSET"] == nil)
        // Deliveries come before the next pull, which goes to the suggested broker (the slave) without the commit bit.
        #expect(a.withoutLogs.count == 4)
        let next = a.sends(code: RequestCode.pullMessage)[0]
        #expect(next.to == F.brokerASlave)
        let nh = try! PullMessageRequestHeader(extFields: next.command.extFields!)
        #expect(nh.queueOffset == 13 && nh.sysFlag == [.suspend] && nh.commitOffset == 10)
        #expect(h.m.inFlightOffsets(of: F.a0) == [10, 11, 12])
        #expect(h.m.committedOffset(of: F.a0) == 10)
    }

    @Test func consumeBatchSize() {
        var c = F.config()
        c.consumeMessageBatchMaxSize = 2
        var h = Self.running(c)
        let p = h.pendingPull(F.a0)!
        let a = h.answer(p.id, extFields: F.pullHeader(next: 13, max: 13), body: F.pullBody(F.a0, offsets: [10, 11, 12]))
        #expect(a.deliveries.map { $0.messages.map(\.queueOffset) } == [[10, 11], [12]])
    }

    @Test func tagsAreFilteredLocally() {
        var h = Self.running(F.config(expression: "TagA || TagC"))
        let p = h.pendingPull(F.a0)!
        let a = h.answer(p.id, extFields: F.pullHeader(next: 14, max: 14),
                         body: F.pullBody(F.a0, offsets: [10, 11, 12, 13], tags: ["TagA", "TagB", nil, "TagC"]))
        #expect(a.deliveries.flatMap { $0.messages.map(\.queueOffset) } == [10, 13])
        #expect(h.m.inFlightOffsets(of: F.a0) == [10, 13])
        // Everything filtered out: nothing delivered, the next pull starts at nextBeginOffset; the committable
        // offset stays until a PULL_NOT_FOUND corrects it (4.9 corrects it only for NO_NEW_MSG/NO_MATCHED_MSG).
        let p2 = h.pendingPull(F.a1)!
        let b = h.answer(p2.id, extFields: F.pullHeader(next: 12, max: 12), body: F.pullBody(F.a1, offsets: [10, 11], tags: ["TagB", "TagB"]))
        #expect(b.deliveries.isEmpty)
        #expect(h.m.committedOffset(of: F.a1) == 10)
        let p3 = b.sends(code: 11)[0]
        #expect(try! PullMessageRequestHeader(extFields: p3.command.extFields!).queueOffset == 12)
        _ = h.answer(p3.id, code: ResponseCode.pullNotFound, extFields: F.pullHeader(next: 12, max: 12))
        #expect(h.m.committedOffset(of: F.a1) == 12)
        // With messages in flight, PULL_NOT_FOUND does not move the committable offset.
        let p4 = h.pendingPull(F.a0)!
        _ = h.answer(p4.id, code: ResponseCode.pullNotFound, extFields: F.pullHeader(next: 14, max: 14))
        #expect(h.m.committedOffset(of: F.a0) == 10)
        #expect(h.pendingPull(F.a0)?.header.queueOffset == 14)
    }

    @Test func retryMessagesGetTheirOriginalTopic() {
        var h = Self.running()
        let p = h.pendingPull(F.r0)!
        let a = h.answer(p.id, extFields: F.pullHeader(next: 1, max: 1),
                         body: F.pullBody(F.r0, offsets: [0], extraProperties: [(key: "RETRY_TOPIC", value: "Orders")]))
        let m = a.deliveries[0].messages[0]
        #expect(m.topic == "Orders" && m.queue == F.r0 && m.message.topic == F.retry)
    }

    /// Records are delivered as views of the answer's bytes; a zlib body is inflated at the pull, and a bad one is
    /// reported there, with the records before it delivered and the ones after it not.
    @Test func recordsAreViewsAndZlibBodiesInflateAtThePull() {
        var h = Self.running()
        let p = h.pendingPull(F.a0)!
        var body = F.pullBody(F.a0, offsets: [10])
        let host = MessageHost(address: [10, 0, 0, 2], port: 10911)
        let zlib: [UInt8] = [120, 156, 203, 72, 205, 201, 201, 87, 168, 202, 201, 76, 2, 0, 21, 149, 3, 230]  // "hello zlib"
        for (o, stored) in [(Int64(11), zlib), (12, [1, 2, 3, 4])] {
            StoredMessageDecoder.encode(queueId: 0, queueOffset: o, physicalOffset: 1000 + o, sysFlag: .compressed, bornTimestamp: 1, bornHost: host,
                                        storeTimestamp: 2, storeHost: host, body: stored, topic: "Orders",
                                        propertiesText: MessageProperties.encode([(key: "UNIQ_KEY", value: "Z\(o)")]), into: &body)
        }
        body.writeImmutableBuffer(F.pullBody(F.a0, offsets: [13]))
        let a = h.answer(p.id, extFields: F.pullHeader(next: 14, max: 14), body: body)
        let m = a.deliveries.flatMap(\.messages)
        #expect(m.map(\.queueOffset) == [10, 11])
        guard m.count == 2, case .view(let v) = m[0].record, case .decoded(let z) = m[1].record else {
            Issue.record("records: \(m.map(\.record))")
            return
        }
        #expect(v.queueOffset == 10 && m[0].message.body == .bytes(Array("m10".utf8)) && m[0].msgId == "ID0-10" && m[0].tags == "TagA")
        #expect(m[0].message == StoredMessageDecoder.decodeAll(F.pullBody(F.a0, offsets: [10])).messages[0])
        #expect(z.body == .bytes(Array("hello zlib".utf8)) && m[1].msgId == "Z11" && m[1].record.storedBodyLength == zlib.count)
        #expect(a.problems.contains { if case .pullBodyDecodingFailed(F.a0, let why) = $0 { return why.contains("record 2") } else { return false } })
    }

    @Test func cacheFlowControlDelaysThePull() {
        var c = F.config()
        c.pullThresholdForQueue = 2
        var h = Self.running(c)
        let p = h.pendingPull(F.a0)!
        let a = h.answer(p.id, extFields: F.pullHeader(next: 13, max: 13), body: F.pullBody(F.a0, offsets: [10, 11, 12]))
        #expect(a.sends(code: 11).isEmpty)
        #expect(a.schedules.map(\.0) == [.pullDelay(F.a0)] && a.schedules.map(\.1) == [.milliseconds(50)])
        // Still full at the tick: another 50 ms.
        #expect(h.tick(.pullDelay(F.a0)) == [.schedule(.pullDelay(F.a0), after: .milliseconds(50))])
        _ = h.record(h.m.consumed(a.deliveries.flatMap(\.messages), status: .success, now: h.now))
        let resumed = h.tick(.pullDelay(F.a0)).sends(code: 11)
        #expect(resumed.count == 1)
        let rh = try! PullMessageRequestHeader(extFields: resumed[0].command.extFields!)
        #expect(rh.queueOffset == 13 && rh.commitOffset == 13 && rh.sysFlag == [.commitOffset, .suspend])
    }

    // MARK: Offsets

    @Test func outOfOrderCompletionNeverCommitsPastWhatIsInFlight() {
        var h = Self.running()
        let p = h.pendingPull(F.a0)!
        let a = h.answer(p.id, extFields: F.pullHeader(next: 15, max: 15), body: F.pullBody(F.a0, offsets: [10, 11, 12, 13, 14]))
        let msgs = a.deliveries.flatMap(\.messages)
        let steps: [(done: [Int], committed: Int64)] = [([3], 10), ([1, 2], 10), ([0], 14), ([4], 15)]
        for s in steps {
            _ = h.record(h.m.consumed(s.done.map { msgs[$0] }, status: .success, now: h.now))
            #expect(h.m.committedOffset(of: F.a0) == s.committed)
        }
        // Consumed twice: nothing changes.
        _ = h.record(h.m.consumed([msgs[0]], status: .success, now: h.now))
        #expect(h.m.committedOffset(of: F.a0) == 15)
    }

    /// One `consumed` input holding the messages of several queues, interleaved (the live consumer merges a
    /// group's outcomes): each queue's offset advances by its own messages, and failed ones go back queue by
    /// queue in queue order.
    @Test func consumptionOfInterleavedQueuesIsCountedPerQueue() {
        var h = Self.running()
        let pa = h.pendingPull(F.a0)!, pb = h.pendingPull(F.b1)!
        let a = h.answer(pa.id, extFields: F.pullHeader(next: 13, max: 13), body: F.pullBody(F.a0, offsets: [10, 11, 12]))
        let b = h.answer(pb.id, extFields: F.pullHeader(next: 12, max: 12), body: F.pullBody(F.b1, offsets: [10, 11]))
        let ma = a.deliveries.flatMap(\.messages), mb = b.deliveries.flatMap(\.messages)
        _ = h.record(h.m.consumed([mb[0], ma[0], ma[1], mb[1], ma[2]], status: .success, now: h.now))
        #expect(h.m.committedOffset(of: F.a0) == 13 && h.m.committedOffset(of: F.b1) == 12)
        #expect(h.m.inFlightOffsets(of: F.a0).isEmpty && h.m.inFlightOffsets(of: F.b1).isEmpty)
        // Failed, interleaved: sent back by queue, broker-a's queue first.
        let pa2 = h.pendingPull(F.a0)!, pb2 = h.pendingPull(F.b1)!
        let a2 = h.answer(pa2.id, extFields: F.pullHeader(next: 15, max: 15), body: F.pullBody(F.a0, offsets: [13, 14]))
        let b2 = h.answer(pb2.id, extFields: F.pullHeader(next: 13, max: 13), body: F.pullBody(F.b1, offsets: [12]))
        let back = h.record(h.m.consumed([b2.deliveries[0].messages[0]] + a2.deliveries.flatMap(\.messages),
                                         status: .reconsumeLater, now: h.now)).sentCommands
        #expect(back.map(\.command.code) == [RequestCode.consumerSendMsgBack, RequestCode.consumerSendMsgBack, RequestCode.consumerSendMsgBack])
        #expect(back.map(\.to) == [F.brokerA, F.brokerA, F.brokerB])
        #expect(h.m.inFlightOffsets(of: F.a0) == [13, 14] && h.m.inFlightOffsets(of: F.b1) == [12])
    }

    @Test func persistTickCommitsEveryQueueOneway() {
        var h = Self.running()
        let p = h.pendingPull(F.a0)!
        let a = h.answer(p.id, extFields: F.pullHeader(next: 13, max: 13), body: F.pullBody(F.a0, offsets: [10, 11, 12]))
        let msgs = a.deliveries.flatMap(\.messages)
        _ = h.record(h.m.consumed([msgs[0], msgs[2]], status: .success, now: h.now))
        let persist = h.tick(.persist)
        #expect(persist.sentCommands.isEmpty)
        let commits = persist.oneways
        // Queues in MessageQueue order: "%RETRY%…" sorts before "Orders".
        #expect(commits.map(\.to) == [F.brokerA, F.brokerA, F.brokerA, F.brokerB, F.brokerB])
        #expect(commits.allSatisfy { $0.command.isOneway && $0.command.code == RequestCode.updateConsumerOffset })
        #expect(commits[1].command.extFields == UpdateConsumerOffsetRequestHeader(consumerGroup: F.group, topic: "Orders", queueId: 0,
                                                                                    commitOffset: 11).extFields)
        #expect(commits.map { $0.command.extFields!["commitOffset"]! } == ["0", "11", "10", "10", "10"])
        #expect(persist.schedules.map(\.0) == [.persist] && persist.schedules.map(\.1) == [.seconds(5)])
    }

    // MARK: Send-back

    @Test func reconsumeLaterSendsBackThenCommits() {
        var h = Self.running()
        let p = h.pendingPull(F.a0)!
        let a = h.answer(p.id, extFields: F.pullHeader(next: 12, max: 12), body: F.pullBody(F.a0, offsets: [10, 11]))
        let msgs = a.deliveries.flatMap(\.messages)
        let back = h.record(h.m.consumed([msgs[0]], status: .reconsumeLater, now: h.now)).sentCommands
        #expect(back.count == 1)
        #expect(back[0].to == F.brokerA)
        #expect(back[0].command.code == RequestCode.consumerSendMsgBack)
        #expect(back[0].command.extFields == ConsumerSendMsgBackRequestHeader(offset: 1010, group: F.group, delayLevel: 0, originMsgId: "ID0-10",
                                                                                originTopic: "Orders", unitMode: false,
                                                                                maxReconsumeTimes: 16).extFields)
        _ = h.record(h.m.consumed([msgs[1]], status: .success, now: h.now))
        // Still waiting for the send-back: 10 is not committed.
        #expect(h.m.committedOffset(of: F.a0) == 10)
        _ = h.answer(back[0].id)
        #expect(h.m.committedOffset(of: F.a0) == 12)
    }

    @Test func failedSendBackRedeliversLocally() {
        var h = Self.running()
        let p = h.pendingPull(F.a0)!
        let a = h.answer(p.id, extFields: F.pullHeader(next: 11, max: 11), body: F.pullBody(F.a0, offsets: [10]))
        let msg = a.deliveries[0].messages[0]
        let back = h.record(h.m.consumed([msg], status: .reconsumeLater, now: h.now)).sentCommands
        let f = h.answer(back[0].id, code: ResponseCode.systemError, remark: "look message by offset failed")
        #expect(f == [.report(.sendBackFailed(F.a0, offset: 10, "SYSTEM_ERROR look message by offset failed")),
                      .schedule(.redeliver(F.a0), after: .seconds(5))])
        #expect(h.m.committedOffset(of: F.a0) == 10)
        let again = h.tick(.redeliver(F.a0)).deliveries
        #expect(again.count == 1 && again[0].messages[0].queueOffset == 10 && again[0].messages[0].reconsumeTimes == 1)
        _ = h.record(h.m.consumed(again[0].messages, status: .success, now: h.now))
        #expect(h.m.committedOffset(of: F.a0) == 11)
    }

    @Test func broadcastingDropsFailuresAndPersistsLocally() {
        var h = Harness(F.config(.broadcasting))
        h.run(maxOffset: 20)
        #expect(h.log.sends(code: RequestCode.getConsumerListByGroup).isEmpty)
        #expect(h.log.sends(code: RequestCode.queryConsumerOffset).isEmpty)
        #expect(h.m.assignedQueues == [F.a0, F.a1, F.b0, F.b1])
        let p = h.pendingPull(F.a0)!
        #expect(p.header.queueOffset == 20 && p.header.sysFlag == [.suspend] && p.header.commitOffset == 0)
        let a = h.answer(p.id, extFields: F.pullHeader(next: 22, max: 22), body: F.pullBody(F.a0, offsets: [20, 21]))
        let msgs = a.deliveries.flatMap(\.messages)
        let c = h.record(h.m.consumed(msgs, status: .reconsumeLater, now: h.now))
        #expect(c.sentCommands.isEmpty)
        #expect(h.m.committedOffset(of: F.a0) == 22)
        let persist = h.tick(.persist)
        #expect(persist.oneways.isEmpty)
        #expect(persist.contains(.persistLocalOffsets([F.a0: 22])))
    }

    @Test func broadcastingStartsFromTheLocalStore() {
        var c = F.config(.broadcasting)
        c.initialLocalOffsets = [F.b1: 7]
        var h = Harness(c)
        h.run(maxOffset: 20)
        #expect(h.m.nextPullOffset(of: F.b1) == 7)
        #expect(h.m.nextPullOffset(of: F.b0) == 20)
    }

    // MARK: PULL_OFFSET_MOVED (7.5)

    @Test func offsetMovedStoresPersistsAndDropsAfterTheDelay() {
        var h = Self.running()
        let p = h.pendingPull(F.b0)!
        let a = h.answer(p.id, code: ResponseCode.pullOffsetMoved, remark: "OFFSET_TOO_SMALL", extFields: F.pullHeader(next: 40, min: 40, max: 50))
        #expect(a == [.report(.offsetMoved(F.b0, from: 10, to: 40)), .schedule(.offsetMoved(F.b0), after: .seconds(10))])
        // No pull meanwhile.
        #expect(h.tick(.pullDelay(F.b0)).isEmpty)
        let fix = h.tick(.offsetMoved(F.b0))
        #expect(fix.oneways.count == 1)
        #expect(fix.oneways[0].to == F.brokerB)
        #expect(fix.oneways[0].command.extFields == UpdateConsumerOffsetRequestHeader(consumerGroup: F.group, topic: "Orders", queueId: 0,
                                                                                       commitOffset: 40).extFields)
        #expect(!h.m.assignedQueues.contains(F.b0))
        // The next rebalance adds it again and reads the offset back from the broker.
        let lists = h.tick(.rebalance).sends(code: RequestCode.getConsumerListByGroup)
        let q = h.answer(lists[0].id, body: F.consumerListBody([F.me])).sends(code: RequestCode.queryConsumerOffset)
        #expect(q.count == 1 && q[0].to == F.brokerB && q[0].command.extFields?["queueId"] == "0")
        let added = h.answer(q[0].id, extFields: OffsetResponseHeader(offset: 40).extFields)
        // A new subVersion and heartbeats first; the pull follows their answers.
        #expect(added.sends(code: 11).isEmpty)
        var pull = [(to: Address, command: RemotingCommand, id: RequestID)]()
        for hb in added.sends(code: RequestCode.heartBeat) { pull += h.answer(hb.id).sends(code: 11) }
        #expect(pull.count == 1 && (try! PullMessageRequestHeader(extFields: pull[0].command.extFields!)).queueOffset == 40)
    }
}

extension PullAndConsumeTests {
    /// ProcessQueue.cleanExpiredMsg: overdue messages go back to the broker (delay level 3, store host) and stop
    /// holding the offset back.
    @Test func consumeTimeoutSendsStuckMessagesBack() {
        var h = Self.running()
        let p = h.pendingPull(F.a0)!
        let a = h.answer(p.id, extFields: F.pullHeader(next: 13, max: 13), body: F.pullBody(F.a0, offsets: [10, 11, 12]))
        let msgs = a.deliveries.flatMap(\.messages)
        _ = h.record(h.m.consumed([msgs[1]], status: .success, now: h.now))
        // Before the timeout: nothing.
        h.now = F.t0 + .seconds(900)
        #expect(h.tick(.cleanExpired) == [.schedule(.cleanExpired, after: .seconds(900))])
        h.now = F.t0 + .seconds(901)
        let c = h.tick(.cleanExpired)
        #expect(c.problems == [.consumeTimeout(F.a0, offset: 10), .consumeTimeout(F.a0, offset: 12)])
        let backs = c.sends(code: RequestCode.consumerSendMsgBack)
        #expect(backs.map(\.to) == ["10.0.0.2:10911", "10.0.0.2:10911"])
        #expect(backs.map { $0.command.extFields!["delayLevel"]! } == ["3", "3"])
        #expect(backs.map { $0.command.extFields!["offset"]! } == ["1010", "1012"])
        // The stuck listener's late answer while the send-back is pending is ignored; the send-back decides.
        _ = h.record(h.m.consumed([msgs[0]], status: .reconsumeLater, now: h.now))
        #expect(h.log.sends(code: RequestCode.consumerSendMsgBack).count == 2)
        _ = h.answer(backs[0].id)
        #expect(h.m.committedOffset(of: F.a0) == 12)
        // A failed expiry send-back leaves the message with the listener (no local redelivery).
        let f = h.answer(backs[1].id, code: ResponseCode.systemError, remark: "x")
        #expect(f == [.report(.sendBackFailed(F.a0, offset: 12, "SYSTEM_ERROR x"))])
        #expect(h.m.inFlightOffsets(of: F.a0) == [12])
        _ = h.record(h.m.consumed([msgs[2]], status: .success, now: h.now))
        #expect(h.m.committedOffset(of: F.a0) == 13)
    }
}
