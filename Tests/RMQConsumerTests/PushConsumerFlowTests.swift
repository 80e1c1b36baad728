import NIOCore
import RMQConsumer
import RocketMQRemoting
import Testing

/// Start-up, route, heartbeat, rebalance and start offsets (PROTOCOL.md 7.3 steps 1–6).
struct PushConsumerStartTests {
    typealias F = Fixture

    @Test func startAsksBothRoutesAndSchedulesTheTimers() {
        var m = PushConsumerStateMachine(configuration: F.config())
        let actions = m.start(now: F.t0)
        #expect(actions == [
            .send(to: F.ns1, command: .request(code: 105, opaque: 1, extFields: ["topic": "Orders"]), id: RequestID(1), timeout: .seconds(3)),
            .send(to: F.ns1, command: .request(code: 105, opaque: 2, extFields: ["topic": F.retry]), id: RequestID(2), timeout: .seconds(3)),
            .schedule(.routeRefresh, after: .seconds(30)),
            .schedule(.heartbeat, after: .seconds(30)),
            .schedule(.rebalance, after: .seconds(20)),
            .schedule(.persist, after: .seconds(10)),
            .schedule(.cleanExpired, after: .seconds(900)),
        ])
        #expect(m.phase == .starting)
        #expect(m.start(now: F.t0).withoutLogs.isEmpty)
    }

    @Test func broadcastingAsksOnlyTheTopicRoute() {
        var m = PushConsumerStateMachine(configuration: F.config(.broadcasting))
        #expect(m.start(now: F.t0).sentCommands.map { $0.command.extFields?["topic"] } == ["Orders"])
    }

    @Test func routeFailureMovesToTheNextNameServer() {
        var h = Harness()
        let first = h.start().sentCommands
        let a = h.fail(first[0].id, .connectionLost)
        #expect(a.problems == [.nameServerFailed(F.ns1, topic: "Orders", .connectionLost)])
        let retry = a.sentCommands
        #expect(retry.count == 1 && retry[0].to == F.ns2 && retry[0].command.extFields?["topic"] == "Orders")
        // The other request was already on its way to ns1; after it fails too it goes to ns2 as well, and
        // the next refresh starts at ns2.
        let b = h.fail(first[1].id)
        #expect(b.sentCommands.map(\.to) == [F.ns2])
        #expect(h.tick(.routeRefresh).sentCommands.map(\.to) == [F.ns2, F.ns2])
    }

    @Test func routesThenHeartbeatToEveryBrokerThenRebalance() {
        var h = Harness()
        let routes = h.start().sentCommands
        let afterFirst = h.answer(routes[0].id, body: F.routeBody(topic: "Orders"))
        #expect(afterFirst.withoutLogs.isEmpty)
        let afterSecond = h.answer(routes[1].id, code: ResponseCode.topicNotExist, remark: "No topic route info")
        // A missing retry topic is normal: logged, not reported.
        #expect(afterSecond.problems.isEmpty)
        let hb = afterSecond.sends(code: RequestCode.heartBeat)
        #expect(hb.map(\.to) == [F.brokerA, F.brokerASlave, F.brokerB])
        let body = try! hb[0].command.body!.withUnsafeReadableBytes { try HeartbeatData.decode($0) }
        #expect(body == h.m.heartbeatData)
        #expect(body.clientID == F.me)
        #expect(body.producerGroups == ["CLIENT_INNER_PRODUCER"])
        let cd = body.consumerDataSet[0]
        #expect(cd.groupName == F.group && cd.consumeType == "CONSUME_PASSIVELY" && cd.messageModel == "CLUSTERING"
            && cd.consumeFromWhere == "CONSUME_FROM_LAST_OFFSET")
        #expect(cd.subscriptionDataSet.map(\.topic) == ["Orders", F.retry])
        #expect(hb[0].command.extFields == nil)
        // Rebalance waits for the heartbeats.
        #expect(h.answer(hb[0].id).withoutLogs.isEmpty)
        #expect(h.answer(hb[1].id).withoutLogs.isEmpty)
        let rb = h.fail(hb[2].id)
        #expect(rb.problems == [.heartbeatFailed(F.brokerB, "timeout")])
        let lists = rb.sends(code: RequestCode.getConsumerListByGroup)
        #expect(lists.count == 1)
        #expect(lists[0].to == F.brokerA)
        #expect(lists[0].command.extFields == ["consumerGroup": F.group])
        #expect(h.m.phase == .running)
    }

    /// Two consumers: AVG gives us (the lower id) broker-a's queues and the retry queue.
    @Test func allocationThenStartOffsetsThenHeartbeatThenPulls() {
        var h = Harness()
        _ = h.start()
        for p in h.pending(code: RequestCode.getRouteInfoByTopic) {
            _ = h.answer(p.id, body: F.routeBody(topic: p.command.extFields!["topic"]!))
        }
        for p in h.pending(code: RequestCode.heartBeat) { _ = h.answer(p.id) }
        let lists = h.pending(code: RequestCode.getConsumerListByGroup)
        #expect(lists.count == 2)
        let other = "10.0.0.11@77#1"
        var queries: [(to: Address, command: RemotingCommand, id: RequestID)] = []
        for l in lists { queries += h.answer(l.id, body: F.consumerListBody([other, F.me])).sends(code: RequestCode.queryConsumerOffset) }
        #expect(queries.map(\.to) == [F.brokerA, F.brokerA, F.brokerA])
        #expect(queries.map { $0.command.extFields! } == [
            QueryConsumerOffsetRequestHeader(consumerGroup: F.group, topic: "Orders", queueId: 0).extFields,
            QueryConsumerOffsetRequestHeader(consumerGroup: F.group, topic: "Orders", queueId: 1).extFields,
            QueryConsumerOffsetRequestHeader(consumerGroup: F.group, topic: F.retry, queueId: 0).extFields,
        ])
        // a0: stored offset 5; a1: none → GET_MAX_OFFSET; retry: none → 0.
        h.now = F.t0 + .seconds(1)
        #expect(h.answer(queries[0].id, extFields: OffsetResponseHeader(offset: 5).extFields).withoutLogs.isEmpty)
        let max = h.answer(queries[1].id, code: ResponseCode.queryNotFound, remark: "Not found").sentCommands
        #expect(max.count == 1 && max[0].command.code == RequestCode.getMaxOffset && max[0].to == F.brokerA)
        #expect(max[0].command.extFields == QueueOffsetRequestHeader(topic: "Orders", queueId: 1).extFields)
        let done = h.answer(max[0].id, extFields: OffsetResponseHeader(offset: 100).extFields)
        // Assignment changed: new subVersion and a heartbeat to every broker; the new queues' first pulls wait for
        // the heartbeats' answers (a pull must not overtake the heartbeat that carries its subVersion).
        #expect(done.wireCodes == [34, 34, 34])
        let sub = h.m.subscriptions[0]
        #expect(sub.subVersion == (F.t0 + .seconds(1)).millisecondsSinceEpoch)
        let heartbeats = done.sends(code: RequestCode.heartBeat)
        #expect(h.answer(heartbeats[0].id).sends(code: RequestCode.pullMessage).isEmpty)
        #expect(h.answer(heartbeats[1].id, code: ResponseCode.systemError).sends(code: RequestCode.pullMessage).isEmpty)
        let released = h.answer(heartbeats[2].id)
        #expect(released.wireCodes == [11, 11])
        let pulls = released.sends(code: RequestCode.pullMessage)
        let p0 = try! PullMessageRequestHeader(extFields: pulls[0].command.extFields!)
        #expect(p0 == PullMessageRequestHeader(consumerGroup: F.group, topic: "Orders", queueId: 0, queueOffset: 5, maxMsgNums: 32,
                                               sysFlag: [.commitOffset, .suspend], commitOffset: 5, suspendTimeoutMillis: 15000,
                                               subVersion: sub.subVersion, expressionType: "TAG"))
        let p1 = try! PullMessageRequestHeader(extFields: pulls[1].command.extFields!)
        #expect(p1.queueOffset == 100 && p1.sysFlag == [.suspend] && p1.commitOffset == 0)
        #expect(released.timeouts[pulls[0].id] == .seconds(30))
        let retry = h.answer(queries[2].id, code: ResponseCode.queryNotFound)
        #expect(retry.sends(code: RequestCode.pullMessage).isEmpty)
        var rp = [(to: Address, command: RemotingCommand, id: RequestID)]()
        for hb in retry.sends(code: RequestCode.heartBeat) { rp += h.answer(hb.id).sends(code: RequestCode.pullMessage) }
        #expect(rp.count == 1)
        #expect(try! PullMessageRequestHeader(extFields: rp[0].command.extFields!).queueOffset == 0)
        #expect(h.m.assignedQueues == [F.r0, F.a0, F.a1])
    }

    @Test(arguments: [
        (ConsumeFrom.firstOffset, [] as [Int32], Int64(0)),
        (.lastOffset, [RequestCode.getMaxOffset], 100),
        (.timestamp("20251124160000"), [RequestCode.searchOffsetByTimestamp], 100),
    ])
    func startOffsetOnTheWire(from: ConsumeFrom, lookups: [Int32], start: Int64) {
        var h = Harness(F.config(consumeFrom: from))
        h.run(offsets: [:], maxOffset: 100)
        // Answer the searches the harness does not know.
        for p in h.pending(code: RequestCode.searchOffsetByTimestamp) {
            #expect(p.command.extFields?["timestamp"] == "1764000000000")
            _ = h.answer(p.id, extFields: OffsetResponseHeader(offset: 100).extFields)
        }
        let codes = Set(h.log.wireCodes)
        for l in lookups { #expect(codes.contains(l)) }
        #expect(h.m.nextPullOffset(of: F.a0) == start)
        // The retry queue starts at 0 for LAST and FIRST, at the max offset for TIMESTAMP.
        #expect(h.m.nextPullOffset(of: F.r0) == (from == .timestamp("20251124160000") ? 100 : 0))
    }

    @Test func failedStartOffsetLeavesTheQueueOutUntilTheNextRound() {
        var h = Harness()
        _ = h.start()
        for p in h.pending(code: RequestCode.getRouteInfoByTopic) {
            _ = h.answer(p.id, body: F.routeBody(topic: p.command.extFields!["topic"]!))
        }
        for p in h.pending(code: RequestCode.heartBeat) { _ = h.answer(p.id) }
        for l in h.pending(code: RequestCode.getConsumerListByGroup) { _ = h.answer(l.id, body: F.consumerListBody([F.me])) }
        let queries = h.pending(code: RequestCode.queryConsumerOffset)
        #expect(queries.count == 5)
        var problems: [Problem] = []
        for (i, q) in queries.enumerated() {
            if i == 0 {
                problems += h.fail(q.id, .timeout).problems
            } else if i == 1 {
                problems += h.answer(q.id, code: ResponseCode.systemError, remark: "boom").problems
            } else {
                problems += h.answer(q.id, extFields: OffsetResponseHeader(offset: 3).extFields).problems
            }
        }
        #expect(problems == [.startOffsetFailed(F.a0, "QUERY_CONSUMER_OFFSET: timeout"),
                             .startOffsetFailed(F.a1, "QUERY_CONSUMER_OFFSET: SYSTEM_ERROR boom")])
        #expect(h.m.assignedQueues == [F.r0, F.b0, F.b1])
        // The next rebalance tries them again.
        let again = h.tick(.rebalance)
        #expect(again.sends(code: RequestCode.getConsumerListByGroup).count == 2)
    }

    @Test func notInTheConsumerListGetsNothing() {
        var h = Harness()
        h.run(ids: ["10.0.0.99@1#1"])
        #expect(h.m.assignedQueues.isEmpty)
        #expect(h.log.problems.contains(.notInConsumerList(topic: "Orders", clientID: F.me)))
    }

    @Test func consumerListErrorKeepsTheAssignment() {
        var h = Harness()
        h.run(offsets: [F.a0: 1, F.a1: 1, F.b0: 1, F.b1: 1, F.r0: 0])
        #expect(h.m.assignedQueues.count == 5)
        let lists = h.tick(.rebalance).sends(code: RequestCode.getConsumerListByGroup)
        let a = h.answer(lists[0].id, code: ResponseCode.systemError, remark: "no consumer for this group")
        #expect(a.problems == [.consumerListFailed(topic: "Orders", "SYSTEM_ERROR no consumer for this group")])
        let b = h.answer(lists[1].id, body: F.consumerListBody([]))
        #expect(b.problems == [.consumerListFailed(topic: F.retry, "empty consumer list")])
        #expect(h.m.assignedQueues.count == 5)
    }
}

/// The whole life of a healthy consumer as the wire sees it (PROTOCOL.md 7.3), one request code per line.
struct WireSequenceTests {
    typealias F = Fixture

    @Test func healthyLife() {
        var h = Harness()
        h.run(offsets: [F.a0: 10, F.a1: 10, F.b0: 10, F.b1: 10], maxOffset: 0)
        // One message on a0, consumed; an idle answer on b1.
        let p = h.pendingPull(F.a0)!
        let d = h.answer(p.id, extFields: F.pullHeader(next: 11, max: 11), body: F.pullBody(F.a0, offsets: [10])).deliveries
        _ = h.record(h.m.consumed(d[0].messages, status: .success, now: h.now))
        let idle = h.pendingPull(F.b1)!
        _ = h.answer(idle.id, code: ResponseCode.pullNotFound, extFields: F.pullHeader(next: 10, max: 10))
        _ = h.tick(.persist)
        _ = h.record(h.m.shutdown(now: h.now))
        for u in h.pending(code: RequestCode.unregisterClient) { _ = h.answer(u.id) }
        let names = h.log.compactMap { a -> String? in
            switch a {
            case .send(_, let c, _, _): return RequestCode.name(c.code)
            case .sendOneway(_, let c): return RequestCode.name(c.code) + " (oneway)"
            case .deliver(let q, let m): return "deliver \(q) \(m.map(\.queueOffset))"
            case .closeConnections: return "close"
            case .finished(let r): return "finished clean=\(r.isClean)"
            default: return nil
            }
        }
        var expected = ["GET_ROUTEINFO_BY_TOPIC", "GET_ROUTEINFO_BY_TOPIC"]
        expected += Array(repeating: "HEART_BEAT", count: 3)
        // Rebalance: both consumer lists, then the start offsets (4 Orders queues, then the retry queue).
        expected += Array(repeating: "GET_CONSUMER_LIST_BY_GROUP", count: 2) + Array(repeating: "QUERY_CONSUMER_OFFSET", count: 5)
        // Each topic's assignment changed: heartbeat (new subVersion), then its first pulls.
        expected += Array(repeating: "HEART_BEAT", count: 3) + Array(repeating: "PULL_MESSAGE", count: 4)
        expected += Array(repeating: "HEART_BEAT", count: 3) + ["PULL_MESSAGE"]
        expected += ["deliver Orders@broker-a#0 [10]", "PULL_MESSAGE", "PULL_MESSAGE"]
        // Persist tick, then shutdown's persist: the 4 Orders queues (the retry queue has no offset yet: its
        // QUERY_CONSUMER_OFFSET said QUERY_NOT_FOUND and no pull has answered).
        expected += Array(repeating: "UPDATE_CONSUMER_OFFSET (oneway)", count: 4)
        expected += Array(repeating: "UPDATE_CONSUMER_OFFSET (oneway)", count: 4)
        expected += Array(repeating: "UNREGISTER_CLIENT", count: 6)
        expected += ["close", "finished clean=true"]
        #expect(names == expected)
    }
}

/// Timer ticks of a running consumer, compared action for action.
struct TickTests {
    typealias F = Fixture

    @Test func heartbeatTick() {
        var h = PullAndConsumeTests.running()
        let body = ByteBuffer(bytes: { var b: [UInt8] = []; JSONWriter.write(h.m.heartbeatData.json, into: &b); return b }())
        let next = h.outstanding.keys.max()!.rawValue + 1
        let hb = { (n: UInt64) in RemotingCommand.request(code: RequestCode.heartBeat, opaque: Int32(n), body: body) }
        #expect(h.m.tick(.heartbeat, now: h.now) == [
            .send(to: F.brokerA, command: hb(next), id: RequestID(next), timeout: .seconds(3)),
            .send(to: F.brokerASlave, command: hb(next + 1), id: RequestID(next + 1), timeout: .seconds(3)),
            .send(to: F.brokerB, command: hb(next + 2), id: RequestID(next + 2), timeout: .seconds(3)),
            .schedule(.heartbeat, after: .seconds(30)),
        ])
    }

    @Test func routeRefreshTick() {
        var h = PullAndConsumeTests.running()
        let next = h.outstanding.keys.max()!.rawValue + 1
        #expect(h.m.tick(.routeRefresh, now: h.now) == [
            .send(to: F.ns1, command: .request(code: 105, opaque: Int32(next), extFields: ["topic": "Orders"]), id: RequestID(next),
                  timeout: .seconds(3)),
            .send(to: F.ns1, command: .request(code: 105, opaque: Int32(next + 1), extFields: ["topic": F.retry]), id: RequestID(next + 1),
                  timeout: .seconds(3)),
            .schedule(.routeRefresh, after: .seconds(30)),
        ])
    }

    @Test func persistTickBroadcastingAndIdle() {
        var m = PushConsumerStateMachine(configuration: F.config(.broadcasting))
        // Not started: nothing.
        #expect(m.tick(.persist, now: F.t0).isEmpty)
        _ = m.start(now: F.t0)
        // Started, no offsets yet: only the next tick.
        #expect(m.tick(.persist, now: F.t0) == [.schedule(.persist, after: .seconds(5))])
    }
}
