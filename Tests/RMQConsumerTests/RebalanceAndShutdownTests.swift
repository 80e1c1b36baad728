import NIOCore
import RMQConsumer
import RocketMQRemoting
import Testing

/// Rebalance changes, broker-initiated requests, shutdown.
struct RebalanceAndShutdownTests {
    typealias F = Fixture

    static func running(_ config: ConsumerConfiguration = F.config()) -> Harness { PullAndConsumeTests.running(config) }

    static let other = "10.0.0.11@77#1"

    // MARK: Rebalance

    @Test func newMemberTakesQueues_removedOnesArePersistedThenDropped() {
        var h = Self.running()
        // a0 has delivered messages: 10 done, 11 still being consumed.
        let p = h.pendingPull(F.a0)!
        let a = h.answer(p.id, extFields: F.pullHeader(next: 12, max: 12), body: F.pullBody(F.a0, offsets: [10, 11]))
        let msgs = a.deliveries.flatMap(\.messages)
        _ = h.record(h.m.consumed([msgs[0]], status: .success, now: h.now))
        let b1Pull = h.pendingPull(F.b1)!
        // NOTIFY_CONSUMER_IDS_CHANGED: rebalance at once.
        let notify = RemotingCommand(code: RequestCode.notifyConsumerIdsChanged, opaque: 900, flag: RemotingCommand.onewayFlag,
                                     extFields: ["consumerGroup": F.group])
        let n = h.record(h.m.receivedRequest(notify, from: F.brokerB, now: h.now))
        let lists = n.sends(code: RequestCode.getConsumerListByGroup)
        #expect(lists.count == 2)
        #expect(n.sentCommands.count == 2 && n.oneways.isEmpty)
        // A newcomer whose id sorts before ours ("10.0.0.0@…" < "10.0.0.10@…").
        let first = "10.0.0.0@1#1"
        h.now = F.t0 + .seconds(5)
        let r = h.answer(lists[0].id, body: F.consumerListBody([F.me, first]))
        // AVG over 4 queues, we are index 1: b0, b1. a0 and a1 are persisted (oneway) then dropped; nothing
        // is looked up; the change means a new subVersion and a heartbeat.
        #expect(r.withoutLogs.map { action -> String in
            switch action {
            case .sendOneway(let to, let c): return "oneway \(c.code) \(to) \(c.extFields!["queueId"]!)=\(c.extFields!["commitOffset"]!)"
            case .send(let to, let c, _, _): return "send \(c.code) \(to)"
            default: return "\(action)"
            }
        } == ["oneway 15 10.0.0.2:10911 0=11", "oneway 15 10.0.0.2:10911 1=10",
              "send 34 10.0.0.2:10911", "send 34 10.0.0.3:10911", "send 34 10.0.0.4:10911"])
        #expect(h.m.assignedQueues == [F.r0, F.b0, F.b1])
        #expect(h.m.subVersions["Orders"] == (F.t0 + .seconds(5)).millisecondsSinceEpoch)
        // The pull in flight for a removed queue: its answer is discarded.
        let a1Pull = h.pendingPull(F.a1)!
        #expect(h.answer(a1Pull.id, extFields: F.pullHeader(next: 13, max: 13), body: F.pullBody(F.a1, offsets: [10, 11, 12])).isEmpty)
        // Consumption results of a removed queue are ignored.
        #expect(h.record(h.m.consumed([msgs[1]], status: .success, now: h.now)).withoutLogs.isEmpty)
        // Kept queues continue with their pulls.
        #expect(h.answer(b1Pull.id, code: ResponseCode.pullNotFound, extFields: F.pullHeader(next: 10, max: 10)).sends(code: 11).count == 1)
    }

    @Test func unchangedAssignmentSendsNothing() {
        var h = Self.running()
        let lists = h.tick(.rebalance).sends(code: RequestCode.getConsumerListByGroup)
        #expect(h.answer(lists[0].id, body: F.consumerListBody([F.me])).withoutLogs.isEmpty)
        #expect(h.answer(lists[1].id, body: F.consumerListBody([F.me])).withoutLogs.isEmpty)
    }

    @Test func aSecondRebalanceWaitsForTheFirst() {
        var h = Self.running()
        let first = h.tick(.rebalance).sends(code: RequestCode.getConsumerListByGroup)
        #expect(first.count == 2)
        let notify = RemotingCommand(code: RequestCode.notifyConsumerIdsChanged, opaque: 1, flag: 2, extFields: ["consumerGroup": F.group])
        // Both topics have a list in flight: nothing sent now.
        #expect(h.record(h.m.receivedRequest(notify, from: F.brokerA, now: h.now)).sentCommands.isEmpty)
        // When the first answer comes, the deferred round runs.
        let again = h.answer(first[0].id, body: F.consumerListBody([F.me]))
        #expect(again.sends(code: RequestCode.getConsumerListByGroup).count == 1)
    }

    @Test func gainingQueuesLooksThemUp() {
        var h = Harness()
        h.run(ids: [F.me, Self.other], offsets: [F.a0: 3, F.a1: 4, F.b0: 5, F.b1: 6])
        #expect(h.m.assignedQueues == [F.r0, F.a0, F.a1])
        for p in h.pending(code: RequestCode.heartBeat) { _ = h.answer(p.id) }
        let lists = h.tick(.rebalance).sends(code: RequestCode.getConsumerListByGroup)
        let q = h.answer(lists[0].id, body: F.consumerListBody([F.me])).sends(code: RequestCode.queryConsumerOffset)
        #expect(q.map { $0.command.extFields!["queueId"]! } == ["0", "1"])
        #expect(q.map(\.to) == [F.brokerB, F.brokerB])
        h.settle(offsets: [F.b0: 5, F.b1: 6])
        #expect(h.m.assignedQueues == [F.r0, F.a0, F.a1, F.b0, F.b1])
        #expect(h.pendingPull(F.b1)?.header.queueOffset == 6)
    }

    // MARK: Broker requests

    @Test func runningInfo() throws {
        var h = Self.running()
        let req = RemotingCommand.request(code: RequestCode.getConsumerRunningInfo, opaque: 77,
                                          extFields: GetConsumerRunningInfoRequestHeader(consumerGroup: F.group, clientId: F.me).extFields)
        let a = h.m.receivedRequest(req, from: F.brokerA, now: h.now)
        guard case .respond(let to, let resp) = a.first, a.count == 1 else { Issue.record("no response: \(a)"); return }
        #expect(to == F.brokerA && resp.opaque == 77 && resp.isResponse && resp.code == 0)
        let info = try resp.body!.withUnsafeReadableBytes { try JSONParser.parse($0, context: "ConsumerRunningInfo") }
        #expect(info.objectMembers?.map(\.key.text) == ["mqTable", "properties", "statusTable", "subscriptionSet"])
        let mq = info["mqTable"]!.objectMembers!
        #expect(mq.count == 5)
        guard case .object(let key) = mq[1].key else { Issue.record("mqTable keys are MessageQueue objects"); return }
        #expect(key["topic"]?.stringValue == "Orders" && key["brokerName"]?.stringValue == "broker-a" && key["queueId"]?.int64Value == 0)
        #expect(mq[1].value["commitOffset"]?.int64Value == 10)
        #expect(info["properties"]?["consumerGroup"]?.stringValue == F.group)
        #expect(info["properties"]?["PROP_CONSUME_TYPE"]?.stringValue == "CONSUME_PASSIVELY")
        #expect(info["subscriptionSet"]?.arrayValue?.compactMap { $0["topic"]?.stringValue } == ["Orders", F.retry])
        #expect(info["statusTable"]?["Orders"]?["consumeFailedMsgs"]?.int64Value == 0)
        // Another group: SYSTEM_ERROR.
        let other = RemotingCommand.request(code: RequestCode.getConsumerRunningInfo, opaque: 78,
                                            extFields: ["consumerGroup": "nope", "clientId": F.me, "jstackEnable": "false"])
        #expect(h.m.receivedRequest(other, from: F.brokerA, now: h.now) == [
            .respond(to: F.brokerA, command: .response(to: other, code: ResponseCode.systemError,
                                                       remark: "The Consumer Group <nope> not exist in this consumer"))])
    }

    @Test func consumeMessageDirectly() throws {
        var h = Self.running()
        let req = RemotingCommand.request(code: RequestCode.consumeMessageDirectly, opaque: 5,
                                          extFields: ["consumerGroup": F.group, "clientId": F.me, "msgId": "ID0-3", "brokerName": "broker-a"],
                                          body: F.pullBody(F.a0, offsets: [3]))
        let a = h.m.receivedRequest(req, from: F.brokerA, now: h.now)
        guard case .consumeDirectly(let id, let m) = a.first else { Issue.record("\(a)"); return }
        #expect(m.queueOffset == 3 && m.queue == F.a0 && m.msgId == "ID0-3")
        let r = h.m.consumedDirectly(id, status: .success, spentMilliseconds: 12, now: h.now)
        let body = #"{"autoCommit":true,"consumeResult":"CR_SUCCESS","order":false,"spentTimeMills":12}"#
        #expect(r == [.respond(to: F.brokerA, command: .response(to: req, code: 0, body: ByteBuffer(string: body)))])
        #expect(h.m.consumedDirectly(id, status: .success, spentMilliseconds: 1, now: h.now).isEmpty)
    }

    @Test func resetOffsetDropsPersistsAndRebalances() {
        var h = Self.running()
        let body = ResetOffsetBody.encode([F.a0: 3, F.b1: 8])
        #expect(String(decoding: body, as: UTF8.self).hasPrefix(#"{"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"Orders"}:3"#))
        let req = RemotingCommand(code: RequestCode.resetConsumerClientOffset, opaque: 9, flag: 2,
                                  extFields: ["topic": "Orders", "group": F.group, "timestamp": "0", "isForce": "true"],
                                  body: ByteBuffer(bytes: body))
        let a = h.record(h.m.receivedRequest(req, from: F.brokerA, now: h.now))
        #expect(a.oneways.map { "\($0.to) \($0.command.extFields!["queueId"]!)=\($0.command.extFields!["commitOffset"]!)" }
            == ["10.0.0.2:10911 0=3", "10.0.0.4:10911 1=8"])
        #expect(a.sends(code: RequestCode.getConsumerListByGroup).count == 1)
        #expect(h.m.assignedQueues == [F.r0, F.a1, F.b0])
        h.settle(offsets: [F.a0: 3, F.b1: 8])
        #expect(h.pendingPull(F.a0)?.header.queueOffset == 3)
        #expect(h.pendingPull(F.b1)?.header.queueOffset == 8)
    }

    @Test func unknownBrokerRequests() {
        var h = Self.running()
        let req = RemotingCommand.request(code: RequestCode.getConsumerStatusFromClient, opaque: 4, extFields: ["topic": "Orders", "group": F.group])
        let a = h.m.receivedRequest(req, from: F.brokerA, now: h.now)
        #expect(a == [.report(.unsupportedRequest(code: 221, from: F.brokerA, "not supported by this consumer")),
                      .respond(to: F.brokerA, command: .response(to: req, code: ResponseCode.requestCodeNotSupported,
                                                                 remark: " request type 221 not supported"))])
    }

    // MARK: Shutdown

    @Test func shutdownWaitsForConsumptionThenPersistsThenUnregisters() {
        var h = Self.running()
        let p = h.pendingPull(F.a0)!
        let a = h.answer(p.id, extFields: F.pullHeader(next: 13, max: 13), body: F.pullBody(F.a0, offsets: [10, 11, 12]))
        let msgs = a.deliveries.flatMap(\.messages)
        _ = h.record(h.m.consumed([msgs[1]], status: .success, now: h.now))
        let s = h.record(h.m.shutdown(now: h.now))
        #expect(s == [.schedule(.shutdownDeadline, after: .seconds(30))])
        #expect(h.m.phase == .drainingConsumption)
        // Late pull answers deliver nothing and pull no more.
        let b0 = h.pendingPull(F.b0)!
        #expect(h.answer(b0.id, extFields: F.pullHeader(next: 11, max: 11), body: F.pullBody(F.b0, offsets: [10])).isEmpty)
        // Ticks of the running consumer do nothing now.
        for t in [Timer.heartbeat, .rebalance, .persist, .routeRefresh, .pullDelay(F.a0)] { #expect(h.tick(t).isEmpty) }
        #expect(h.record(h.m.consumed([msgs[0]], status: .success, now: h.now)).isEmpty)
        let end = h.record(h.m.consumed([msgs[2]], status: .success, now: h.now))
        // Every offset (oneway), then UNREGISTER_CLIENT for the group and the inner producer at every broker.
        #expect(end.wireCodes == [15, 15, 15, 15, 15, 35, 35, 35, 35, 35, 35])
        #expect(end.oneways.map { $0.command.extFields!["commitOffset"]! } == ["0", "13", "10", "10", "10"])
        let unreg = end.sends(code: RequestCode.unregisterClient)
        #expect(unreg.map(\.to) == [F.brokerA, F.brokerA, F.brokerASlave, F.brokerASlave, F.brokerB, F.brokerB])
        #expect(unreg[0].command.extFields == UnregisterClientRequestHeader(clientID: F.me, consumerGroup: F.group).extFields)
        #expect(unreg[1].command.extFields == UnregisterClientRequestHeader(clientID: F.me, producerGroup: "CLIENT_INNER_PRODUCER").extFields)
        #expect(h.m.phase == .unregistering)
        for u in unreg.dropLast() { #expect(h.answer(u.id).isEmpty) }
        let fin = h.answer(unreg.last!.id)
        var expected = ShutdownReport()
        expected.persistedOffsets = [F.r0: 0, F.a0: 13, F.a1: 10, F.b0: 10, F.b1: 10]
        #expect(fin == [.closeConnections, .finished(expected)])
        #expect(expected.isClean)
        #expect(h.m.phase == .finished)
        #expect(h.m.shutdown(now: h.now).isEmpty)
    }

    @Test func shutdownDeadlineLeavesUnconsumedUncommitted() {
        var h = Self.running()
        let p = h.pendingPull(F.a0)!
        let a = h.answer(p.id, extFields: F.pullHeader(next: 13, max: 13), body: F.pullBody(F.a0, offsets: [10, 11, 12]))
        let msgs = a.deliveries.flatMap(\.messages)
        _ = h.record(h.m.consumed([msgs[0], msgs[2]], status: .success, now: h.now))
        // 11 sent back, and the send-back is never answered.
        _ = h.record(h.m.shutdown(now: h.now))
        let back = h.record(h.m.consumed([msgs[1]], status: .reconsumeLater, now: h.now)).sends(code: RequestCode.consumerSendMsgBack)
        #expect(back.count == 1)
        let end = h.tick(.shutdownDeadline)
        #expect(end.oneways.first { $0.command.extFields!["queueId"] == "0" && $0.command.extFields!["topic"] == "Orders" }?
            .command.extFields!["commitOffset"] == "11")
        // Unregister fails at the slave, times out at broker-b.
        let unreg = end.sends(code: RequestCode.unregisterClient)
        var fin: [ConsumerAction] = []
        for u in unreg {
            if u.to == F.brokerASlave {
                fin += h.answer(u.id, code: ResponseCode.systemError, remark: "x")
            } else if u.to == F.brokerB {
                fin += h.fail(u.id, .timeout)
            } else {
                fin += h.answer(u.id)
            }
        }
        guard case .finished(let report) = fin.last else { Issue.record("not finished: \(fin)"); return }
        #expect(fin.dropLast().last == .closeConnections)
        #expect(report.pendingSendBacks == [F.a0: [11]])
        #expect(report.unconsumed.isEmpty)
        #expect(report.persistedOffsets[F.a0] == 11)
        #expect(report.unregisterFailed == [F.brokerASlave: "SYSTEM_ERROR x", F.brokerB: "timeout"])
        #expect(!report.isClean)
        // The late send-back answer changes nothing.
        #expect(h.answer(back[0].id).isEmpty)
    }

    @Test func shutdownDeadlineWithMessagesStillInTheListener() {
        var h = Self.running()
        let p = h.pendingPull(F.b0)!
        _ = h.answer(p.id, extFields: F.pullHeader(next: 12, max: 12), body: F.pullBody(F.b0, offsets: [10, 11]))
        _ = h.record(h.m.shutdown(now: h.now))
        let end = h.tick(.shutdownDeadline)
        #expect(end.oneways.first { $0.to == F.brokerB && $0.command.extFields!["queueId"] == "0" }?.command.extFields!["commitOffset"] == "10")
        for u in end.sends(code: RequestCode.unregisterClient) { _ = h.answer(u.id) }
        guard case .finished(let report) = h.log.last else { Issue.record("not finished"); return }
        #expect(report.unconsumed == [F.b0: [10, 11]])
        #expect(report.persistedOffsets[F.b0] == 10)
    }

    @Test func shutdownBeforeStartAndBeforeAnyRoute() {
        var m = PushConsumerStateMachine(configuration: F.config())
        #expect(m.shutdown(now: F.t0) == [.finished(ShutdownReport())])
        var h = Harness()
        _ = h.start()
        // No route yet: no broker to tell, nothing to persist.
        #expect(h.record(h.m.shutdown(now: h.now)) == [.closeConnections, .finished(ShutdownReport())])
    }
}

/// Configuration switches and safety nets.
struct ConsumerOptionTests {
    typealias F = Fixture

    @Test func heartbeatToMastersOnly() {
        var c = F.config()
        c.heartbeatToSlaves = false
        var h = Harness(c)
        _ = h.start()
        var hb: [Address] = []
        for p in h.pending(code: RequestCode.getRouteInfoByTopic) {
            hb += h.answer(p.id, body: F.routeBody(topic: p.command.extFields!["topic"]!)).sends(code: RequestCode.heartBeat).map(\.to)
        }
        #expect(hb == [F.brokerA, F.brokerB])
    }

    @Test func postSubscriptionWhenPull() {
        var c = F.config(expression: "TagA || TagB")
        c.postSubscriptionWhenPull = true
        var h = PullAndConsumeTests.running(c)
        let p = h.pendingPull(F.a0)!.header
        #expect(p.sysFlag == [.commitOffset, .suspend, .subscription])
        #expect(p.subscription == "TagA || TagB")
        _ = h.tick(.rebalance)
    }

    @Test func onePullInFlightPerQueue() {
        var h = PullAndConsumeTests.running()
        #expect(h.pending(code: RequestCode.pullMessage).count == 5)
        // Stale delay ticks, a redelivery tick and a rebalance do not start a second pull.
        #expect(h.tick(.pullDelay(F.a0)).isEmpty)
        #expect(h.tick(.redeliver(F.a0)).isEmpty)
        let lists = h.tick(.rebalance).sends(code: RequestCode.getConsumerListByGroup)
        for l in lists { _ = h.answer(l.id, body: F.consumerListBody([F.me])) }
        #expect(h.pending(code: RequestCode.pullMessage).count == 5)
    }

    @Test func idleQueueIsDroppedAndAddedAgain() {
        var h = PullAndConsumeTests.running()
        // b0's pull is lost: the driver never reports it. Other queues keep pulling.
        h.now = F.t0 + .seconds(121)
        for q in [F.a0, F.a1, F.b1, F.r0] {
            let p = h.pendingPull(q)!
            _ = h.answer(p.id, code: ResponseCode.pullNotFound, extFields: F.pullHeader(next: p.header.queueOffset, max: p.header.queueOffset))
        }
        let lists = h.tick(.rebalance).sends(code: RequestCode.getConsumerListByGroup)
        let r = h.answer(lists[0].id, body: F.consumerListBody([F.me]))
        #expect(r.problems == [.pullExpired(F.b0, idle: .seconds(121))])
        #expect(r.oneways.map { $0.command.extFields!["queueId"]! } == ["0"])
        #expect(r.oneways.map(\.to) == [F.brokerB])
        #expect(!h.m.assignedQueues.contains(F.b0))
        // The next round adds it back with its stored offset.
        let again = h.tick(.rebalance).sends(code: RequestCode.getConsumerListByGroup)
        let q = h.answer(again[0].id, body: F.consumerListBody([F.me])).sends(code: RequestCode.queryConsumerOffset)
        #expect(q.count == 1 && q[0].to == F.brokerB)
    }
}

extension ConsumerOptionTests {
    @Test func lookupsThatResolveAtOnce() {
        // Broadcasting with every offset in the local store: the whole round resolves synchronously.
        var c = F.config(.broadcasting)
        c.initialLocalOffsets = [F.a0: 1, F.a1: 2, F.b0: 3, F.b1: 4]
        var h = Harness(c)
        h.run()
        #expect(h.m.assignedQueues == [F.a0, F.a1, F.b0, F.b1])
        #expect([F.a0, F.a1, F.b0, F.b1].map { h.m.nextPullOffset(of: $0) } == [1, 2, 3, 4])
        #expect(h.log.sends(code: RequestCode.getMaxOffset).isEmpty)
    }

    @Test func offsetMovedDuringShutdownIsPersistedOnce() {
        var h = PullAndConsumeTests.running()
        let p = h.pendingPull(F.b0)!
        _ = h.answer(p.id, code: ResponseCode.pullOffsetMoved, extFields: F.pullHeader(next: 40, min: 40, max: 50))
        let s = h.record(h.m.shutdown(now: h.now))
        #expect(h.tick(.offsetMoved(F.b0)).isEmpty)
        let b0 = s.oneways.filter { $0.to == F.brokerB && $0.command.extFields!["queueId"] == "0" }
        #expect(b0.map { $0.command.extFields!["commitOffset"]! } == ["40"])
    }
}

extension ConsumerOptionTests {
    @Test func masterGoneBeforeShutdown() {
        var h = PullAndConsumeTests.running()
        // A route refresh where broker-b lost its master (only a slave at 10.0.0.5).
        let refresh = h.tick(.routeRefresh).sends(code: RequestCode.getRouteInfoByTopic)
        let route = TopicRouteData(
            brokerDatas: [F.brokerDatas[0], BrokerData(cluster: "c", brokerName: "broker-b", brokerAddrs: [(1, "10.0.0.5:10911")])],
            queueDatas: [QueueData(brokerName: "broker-a", readQueueNums: 2, writeQueueNums: 2),
                         QueueData(brokerName: "broker-b", readQueueNums: 2, writeQueueNums: 2)])
        var bytes: [UInt8] = []
        JSONWriter.write(route.json(standardJSON: true), into: &bytes)
        _ = h.answer(refresh[0].id, body: ByteBuffer(bytes: bytes))
        _ = h.answer(refresh[1].id, body: F.routeBody(topic: F.retry))
        #expect(h.m.masterAddress(of: "broker-b") == nil)
        let s = h.record(h.m.shutdown(now: h.now))
        #expect(s.problems == [.noMasterAddress(brokerName: "broker-b"), .noMasterAddress(brokerName: "broker-b")])
        #expect(s.oneways.count == 3)
        // Unregister goes to every address now known, the new slave included.
        #expect(Set(s.sends(code: RequestCode.unregisterClient).map(\.to)) == [F.brokerA, F.brokerASlave, "10.0.0.5:10911"])
        for u in h.pending(code: RequestCode.unregisterClient) { _ = h.answer(u.id) }
        guard case .finished(let report) = h.log.last else { Issue.record("not finished"); return }
        #expect(report.offsetsNotPersisted == [F.b0: 10, F.b1: 10])
        #expect(report.persistedOffsets == [F.r0: 0, F.a0: 10, F.a1: 10])
        #expect(!report.isClean)
    }

    @Test func maxOffsetFailureLeavesTheQueueOut() {
        var g = Harness()
        _ = g.start()
        for p in g.pending(code: RequestCode.getRouteInfoByTopic) {
            _ = g.answer(p.id, body: F.routeBody(topic: p.command.extFields!["topic"]!))
        }
        for p in g.pending(code: RequestCode.heartBeat) { _ = g.answer(p.id) }
        for l in g.pending(code: RequestCode.getConsumerListByGroup) { _ = g.answer(l.id, body: F.consumerListBody([F.me])) }
        for q in g.pending(code: RequestCode.queryConsumerOffset) {
            _ = g.answer(q.id, code: ResponseCode.queryNotFound)
        }
        let max = g.pending(code: RequestCode.getMaxOffset)
        #expect(max.count == 4)
        #expect(g.fail(max[0].id, .connectionLost).problems == [.startOffsetFailed(F.a0, "GET_MAX_OFFSET: connection lost")])
        #expect(g.answer(max[1].id, code: ResponseCode.systemError, remark: "x").problems
            == [.startOffsetFailed(F.a1, "GET_MAX_OFFSET: SYSTEM_ERROR x")])
        _ = g.answer(max[2].id, extFields: OffsetResponseHeader(offset: 5).extFields)
        _ = g.answer(max[3].id, extFields: OffsetResponseHeader(offset: 6).extFields)
        #expect(g.m.assignedQueues == [F.r0, F.b0, F.b1])
        #expect(g.m.nextPullOffset(of: F.b1) == 6)
        // Nothing stored at the broker yet: no commit offset for those queues.
        #expect(g.m.committedOffset(of: F.b1) == nil)
    }
}
