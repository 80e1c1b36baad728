import Testing
import NIOCore
import RocketMQRemoting
import RMQTraceModel
import RMQTraceCore
import RMQTestSupport

// The exchange tracker on its own: pairing by (connection, requester, opaque), oneways, broker-to-client
// requests, orphans, the pending bound, roles and latency.

private func frames(_ events: [TraceEvent]) -> [FrameRecord] {
    events.compactMap { if case .frame(let f) = $0 { return f } else { return nil } }
}
private func unanswered(_ events: [TraceEvent]) -> [(FrameRecord, String)] {
    events.compactMap { if case .unanswered(let f, let why, _) = $0 { return (f, why) } else { return nil } }
}

@Test func pairsAnswersWithTheirRequestsAndMeasuresLatency() {
    var c = Conversation()
    let b = c.connect(client: "10.0.0.50:40000", server: brokerAddr)
    let r1 = c.request(b, RequestCode.heartBeat, body: ScenarioBuilder.heartbeat(clientID: client1, group: "g", subscriptions: [("T", "*")]))
    let r2 = c.request(b, RequestCode.getConsumerListByGroup, ConsumerGroupHeader(consumerGroup: "g").extFields)
    c.answer(b, r2, after: 3)   // answers out of order
    c.answer(b, r1, after: 2)
    let (events, _, tracker) = track(c)
    let f = frames(events)
    #expect(f.count == 4)
    #expect(f[2].request?.code == RequestCode.getConsumerListByGroup && f[2].request?.frameIndex == 1)
    #expect(f[3].request?.code == RequestCode.heartBeat && f[3].request?.frameIndex == 0)
    #expect(f[2].latencyNanos == 3_050_000)
    #expect(f[0].sourceRole == .client && f[0].destinationRole == .broker)
    #expect(f[0].client == client1 && f[3].client == client1)
    #expect(tracker.statistics.byRequestCode[RequestCode.heartBeat]?.answered == 1)
    #expect(tracker.statistics.orphanResponses == 0)
    #expect(unanswered(events).isEmpty)
}

@Test func sameOpaqueFromBothSidesDoesNotCrossPair() {
    // The broker's own request (NOTIFY_CONSUMER_IDS_CHANGED as a two-way call here) may reuse an opaque the
    // client uses: the requester is part of the key.
    var c = Conversation()
    let b = c.connect(client: "10.0.0.50:40000", server: brokerAddr)
    let clientRequest = RemotingCommand.request(code: RequestCode.queryConsumerOffset, opaque: 7,
                                                extFields: QueryConsumerOffsetRequestHeader(consumerGroup: "g", topic: "T", queueId: 0).extFields)
    let brokerRequest = RemotingCommand.request(code: RequestCode.getConsumerRunningInfo, opaque: 7,
                                                extFields: GetConsumerRunningInfoRequestHeader(consumerGroup: "g", clientId: client1).extFields)
    c.send(b, .toServer, clientRequest)
    c.send(b, .toClient, brokerRequest)
    c.send(b, .toServer, .response(to: brokerRequest, code: ResponseCode.success))
    c.send(b, .toClient, .response(to: clientRequest, code: ResponseCode.queryNotFound))
    let f = frames(track(c).events)
    #expect(f[2].request?.code == RequestCode.getConsumerRunningInfo)
    #expect(f[3].request?.code == RequestCode.queryConsumerOffset)
}

@Test func onewaysWaitForNothingAndOrphansAreCounted() {
    var c = Conversation()
    let b = c.connect(client: "10.0.0.50:40000", server: brokerAddr)
    c.commit(b, group: "g", topic: "T", queueId: 0, offset: 3)
    c.send(b, .toClient, RemotingCommand(code: 0, opaque: 999, flag: RemotingCommand.responseFlag))
    let (events, _, tracker) = track(c)
    #expect(unanswered(events).isEmpty)
    #expect(tracker.statistics.byRequestCode[RequestCode.updateConsumerOffset]?.oneways == 1)
    #expect(tracker.statistics.orphanResponses == 1)
    #expect(frames(events)[1].request == nil)
}

@Test func requestsLeftOpenAreReportedWhenTheirConnectionEnds() {
    var c = Conversation()
    let b = c.connect(client: "10.0.0.50:40000", server: brokerAddr)
    c.request(b, RequestCode.pullMessage, ScenarioBuilder.pull(group: "g", topic: "T", queueId: 1, offset: 0))
    c.close(b, reason: "reset")
    let events = track(c).events
    let u = unanswered(events)
    #expect(u.count == 1)
    #expect(u.first?.1 == "connection ended (reset) before the answer")
    // The unanswered request comes before its connection's end.
    let closeIndex = events.firstIndex { if case .connectionClosed = $0 { return true } else { return false } }!
    let unansweredIndex = events.firstIndex { if case .unanswered = $0 { return true } else { return false } }!
    #expect(unansweredIndex < closeIndex)
}

@Test func pendingRequestsAreBoundedPerConnection() {
    var config = TrackerConfiguration()
    config.maxPendingPerConnection = 4
    var c = Conversation()
    let b = c.connect(client: "10.0.0.50:40000", server: brokerAddr)
    for q in 0..<6 { c.request(b, RequestCode.pullMessage, ScenarioBuilder.pull(group: "g", topic: "T", queueId: Int32(q), offset: 0)) }
    let u = unanswered(track(c, configuration: config).events)
    #expect(u.count == 6)
    #expect(u.prefix(2).allSatisfy { $0.1.hasPrefix("too many requests waiting") })
}

@Test func rolesFromRequestCodesOnUnusualPorts() {
    var c = Conversation()
    let ns = c.connect(client: "10.0.0.50:40000", server: "10.0.0.9:7000")
    c.exchange(ns, RequestCode.getRouteInfoByTopic, GetRouteInfoRequestHeader(topic: "T").extFields,
               answerBody: ScenarioBuilder.route(brokers: [("broker-a", "10.0.0.9:7001")], queues: 4))
    let f = frames(track(c).events)
    #expect(f[0].destinationRole == .nameServer)
    #expect(f[1].sourceRole == .nameServer)
}

@Test func aKnownServerRoleWinsOverPorts() {
    var c = Conversation()
    let conn = c.connect(client: "127.0.0.1:50000", server: "127.0.0.1:9876", role: .broker)
    c.exchange(conn, RequestCode.getMaxOffset, QueueOffsetRequestHeader(topic: "T", queueId: 0).extFields)
    let f = frames(track(c).events)
    #expect(f[0].destinationRole == .broker)
}

@Test func credentialsNeverLeaveTheTracker() {
    var c = Conversation()
    let b = c.connect(client: "10.0.0.50:40000", server: brokerAddr)
    var ext = ScenarioBuilder.pull(group: "g", topic: "T", queueId: 0, offset: 0)
    ext["AccessKey"] = "RocketMQ-AK-7"
    ext["Signature"] = "c2lnbmF0dXJlLWJ5dGVz"
    let r = c.request(b, RequestCode.pullMessage, ext)
    // 4.9.4 answers an ACL failure as SYSTEM_ERROR with the exception text, which quotes the AccessKey.
    c.answer(b, r, ResponseCode.systemError, remark: "org.apache.rocketmq.acl.common.AclException: No acl config for RocketMQ-AK-7, user RocketMQ-AK-7")
    let f = frames(track(c).events)
    #expect(f[0].command.extFields?["AccessKey"] == "<redacted 13 bytes>")
    #expect(f[0].command.extFields?["Signature"] == "<redacted 20 bytes>")
    #expect(f[1].command.remark == "org.apache.rocketmq.acl.common.AclException: No acl config for <redacted>, user <redacted>")
    #expect(!"\(f)".contains("RocketMQ-AK-7"))
}

@Test func unansweredRequestsCarryWhenTheyAreListed() {
    // A request left unanswered is listed when its connection ends, after frames of later times: the event
    // says when, so renderers can mark the line as late.
    var c = Conversation()
    let b = c.connect(client: "10.0.0.50:40000", server: brokerAddr)
    _ = c.request(b, RequestCode.pullMessage, ScenarioBuilder.pull(group: "g", topic: "T", queueId: 0, offset: 0))
    let sent = c.now
    c.wait(seconds: 4)
    c.close(b)
    let (events, _, _) = track(c)
    let listed = events.compactMap { if case .unanswered(let f, _, let at) = $0 { return (f.time.nanoseconds, at.nanoseconds) } else { return nil } }
    #expect(listed.count == 1)
    #expect((listed.first?.0 ?? .max) <= sent && (listed.first?.1 ?? 0) >= sent + 4_000_000_000)
}
