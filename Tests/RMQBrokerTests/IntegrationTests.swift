import Foundation
import NIOCore
import NIOPosix
@testable import RMQBroker
import RMQTraceModel
import RocketMQRemoting
import RocketMQRemotingNIO
import Testing

final class Box<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T
    init(_ v: T) { value = v }
    func with<R>(_ f: (inout T) -> R) -> R { lock.lock(); defer { lock.unlock() }; return f(&value) }
    var get: T { with { $0 } }
}

final class CollectingObserver: FrameObserver {
    let events = Box<[ObservedEvent]>([])
    func observe(_ event: ObservedEvent) { events.with { $0.append(event) } }
}

func waitUntil(_ seconds: Double = 5, _ cond: () -> Bool) async -> Bool {
    let end = Date().addingTimeInterval(seconds)
    while Date() < end {
        if cond() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return cond()
}

let sharedGroup = MultiThreadedEventLoopGroup(numberOfThreads: 2)

func startBroker(store: String? = nil, observer: (any FrameObserver)? = nil, configure: (inout EmbeddedBrokerConfiguration) -> Void = { _ in })
    async throws -> EmbeddedBroker {
    var c = EmbeddedBrokerConfiguration()
    c.nameServerPort = 0
    c.brokerPort = 0
    c.storeDirectory = store
    c.observer = observer
    c.broker.holdCheckIntervalMillis = 100
    c.broker.delayScale = 0
    c.tickMillis = 20
    configure(&c)
    return try await EmbeddedBroker.start(configuration: c, group: sharedGroup)
}

func connect(_ port: Int, notify: Box<[RemotingCommand]>? = nil) async throws -> RemotingClient {
    var cfg = RemotingClientConfiguration()
    if let notify {
        cfg.onServerRequest = { cmd in notify.with { $0.append(cmd) }; return nil }
    }
    return try await RemotingClient.connect(host: "127.0.0.1", port: port, group: sharedGroup, configuration: cfg)
}

@Suite(.serialized) struct IntegrationTests {
    @Test func createSendPullOverLoopback() async throws {
        let obs = CollectingObserver()
        let broker = try await startBroker(observer: obs)
        let ns = try await connect(broker.nameServerPort)
        let r0 = try await ns.request(req(RequestCode.getRouteInfoByTopic, ["topic": "Loop"]))
        #expect(r0.code == ResponseCode.topicNotExist)
        let bc = try await connect(broker.brokerPort)
        #expect(try await bc.request(createTopic("Loop", queues: 2)).code == 0)
        let r1 = try await ns.request(req(RequestCode.getRouteInfoByTopic, ["topic": "Loop"]))
        #expect(r1.code == 0)
        let route = try r1.body!.withUnsafeReadableBytes { try TopicRouteData.decode($0) }
        #expect(route.queueDatas.first?.readQueueNums == 2)
        #expect(route.brokerDatas.first?.masterAddress == "127.0.0.1:\(broker.brokerPort)")
        var ids: [String] = []
        for i in 0..<3 {
            let s = try await bc.request(sendV2(topic: "Loop", queueId: 1, body: "body \(i)", tags: "A"))
            #expect(s.code == 0 && s.fields["queueOffset"] == String(i))
            ids.append(s.fields["msgId"]!)
        }
        let p = try await bc.request(pullReq(group: "any", topic: "Loop", queueId: 1, offset: 0, flags: [.subscription], subscription: "*"))
        #expect(p.code == 0 && p.remark == "FOUND")
        #expect(p.messages.map { String(decoding: $0.body.bytes ?? [], as: UTF8.self) } == ["body 0", "body 1", "body 2"])
        #expect(p.messages.map(\.offsetMsgId) == ids)
        #expect(p.messages.allSatisfy { $0.storeHost.port == Int32(broker.brokerPort) && $0.bornHost.address == [127, 0, 0, 1] })
        let cluster = try await ns.request(req(RequestCode.getBrokerClusterInfo))
        #expect(cluster.code == 0)
        // The observer saw both connections open with their roles, and every frame both ways.
        let ev = obs.events.get
        let roles = ev.compactMap { if case .opened(let c) = $0 { return c.serverRole } else { return nil } }
        #expect(roles.contains(.nameServer) && roles.contains(.broker))
        let frames = ev.compactMap { if case .frame(let f) = $0 { return f } else { return nil } }
        #expect(frames.filter { $0.direction == .toServer }.count == frames.filter { $0.direction == .toClient }.count)
        #expect(frames.count >= 2 * 8)
        #expect(frames.allSatisfy { $0.size == RemotingFrame.encode($0.command).readableBytes })
        await ns.close()
        await bc.close()
        #expect(await waitUntil { obs.events.get.filter { if case .closed = $0 { return true } else { return false } }.count >= 2 })
        await broker.shutdown()
    }

    @Test func longPollWokenBySendAndOffsets() async throws {
        let broker = try await startBroker()
        let consumer = try await connect(broker.brokerPort)
        let producer = try await connect(broker.brokerPort)
        #expect(try await consumer.request(createTopic("LP", queues: 1)).code == 0)
        #expect(try await consumer.request(heartbeat(client: "c1", group: "lpg", topic: "LP")).code == 0)
        let started = Date()
        async let pulled = consumer.request(pullReq(group: "lpg", topic: "LP", offset: 0, suspend: 10_000), timeout: .seconds(15))
        try await Task.sleep(for: .milliseconds(300))
        #expect(broker.state.heldPullCount == 1)
        #expect(try await producer.request(sendV2(topic: "LP", body: "wake up")).code == 0)
        let r = try await pulled
        let waited = Date().timeIntervalSince(started)
        #expect(r.code == 0 && r.messages.count == 1)
        #expect(waited < 3, "answered as soon as the message arrived (\(waited) s)")
        // A hold that expires answers PULL_NOT_FOUND after its suspend time.
        let t = Date()
        let nf = try await consumer.request(pullReq(group: "lpg", topic: "LP", offset: 1, suspend: 500), timeout: .seconds(10))
        #expect(nf.code == ResponseCode.pullNotFound && nf.remark == "OFFSET_OVERFLOW_ONE")
        #expect(Date().timeIntervalSince(t) >= 0.45)
        // Offsets: committed (oneway and sync), queried back.
        try await consumer.oneway(req(RequestCode.updateConsumerOffset, ["consumerGroup": "lpg", "topic": "LP", "queueId": "0", "commitOffset": "1"]))
        #expect(await waitUntil { broker.state.offsets[OffsetKey(group: "lpg", topic: "LP", queueId: 0)] == 1 })
        let q = try await consumer.request(req(RequestCode.queryConsumerOffset, ["consumerGroup": "lpg", "topic": "LP", "queueId": "0"]))
        #expect(q.code == 0 && q.fields["offset"] == "1")
        await consumer.close()
        await producer.close()
        await broker.shutdown()
    }

    @Test func consumerListAndNotifyOnJoinAndLeave() async throws {
        let broker = try await startBroker()
        let n1 = Box<[RemotingCommand]>([])
        let c1 = try await connect(broker.brokerPort, notify: n1)
        let c2 = try await connect(broker.brokerPort)
        #expect(try await c1.request(heartbeat(client: "c1", group: "ng", topic: "T")).code == 0)
        #expect(await waitUntil { n1.get.count == 1 })
        #expect(try await c2.request(heartbeat(client: "c2", group: "ng", topic: "T")).code == 0)
        #expect(await waitUntil { n1.get.count == 2 })
        let n = n1.get.last!
        #expect(n.code == RequestCode.notifyConsumerIdsChanged && n.isOneway && n.extFields?["consumerGroup"] == "ng")
        let list = try await c1.request(req(RequestCode.getConsumerListByGroup, ["consumerGroup": "ng"]))
        #expect(try list.body!.withUnsafeReadableBytes { try ConsumerIdList.decode($0) } == ["c1", "c2"])
        await c2.close()
        #expect(await waitUntil { n1.get.count == 3 })
        let after = try await c1.request(req(RequestCode.getConsumerListByGroup, ["consumerGroup": "ng"]))
        #expect(try after.body!.withUnsafeReadableBytes { try ConsumerIdList.decode($0) } == ["c1"])
        await c1.close()
        await broker.shutdown()
    }

    @Test func garbageClosesOnlyThatConnection() async throws {
        let broker = try await startBroker()
        let good = try await connect(broker.brokerPort)
        // Garbage: a length word of 0x7FFFFFFF (beyond the 16 MiB maximum).
        let bad = try await connect(broker.brokerPort)
        try await bad.writeRaw([0x7F, 0xFF, 0xFF, 0xFF, 0, 0, 0, 10, 1, 2, 3])
        #expect(await waitUntil { !bad.isActive })
        // A header that does not parse.
        let bad2 = try await connect(broker.brokerPort)
        let junk = Array("{not json".utf8)
        var frame: [UInt8] = []
        let len = UInt32(4 + junk.count)
        frame += [UInt8(len >> 24), UInt8((len >> 16) & 0xff), UInt8((len >> 8) & 0xff), UInt8(len & 0xff)]
        frame += [0, 0, 0, UInt8(junk.count)] + junk
        try await bad2.writeRaw(frame)
        #expect(await waitUntil { !bad2.isActive })
        // The other connection is unaffected.
        #expect(try await good.request(req(RequestCode.getMaxOffset, ["topic": "x", "queueId": "0"])).code == 0)
        await good.close()
        await broker.shutdown()
    }

    @Test func maxConnections() async throws {
        let broker = try await startBroker { $0.maxConnections = 1 }
        let a = try await connect(broker.brokerPort)
        // Answered: the server has counted it before the second one arrives.
        #expect(try await a.request(req(RequestCode.getMinOffset, ["topic": "x", "queueId": "0"])).code == 0)
        let b = try await connect(broker.brokerPort)
        #expect(await waitUntil { !b.isActive })
        #expect(try await a.request(req(RequestCode.getMaxOffset, ["topic": "x", "queueId": "0"])).code == 0)
        await a.close()
        await broker.shutdown()
    }

    @Test func clientTimeout() async throws {
        let broker = try await startBroker()
        let c = try await connect(broker.brokerPort)
        _ = try await c.request(createTopic("TO", queues: 1))
        _ = try await c.request(heartbeat(client: "c", group: "tg", topic: "TO"))
        await #expect(throws: RemotingClientError.self) {
            _ = try await c.request(pullReq(group: "tg", topic: "TO", offset: 0, suspend: 5000), timeout: .milliseconds(200))
        }
        await c.close()
        await broker.shutdown()
    }

    @Test func durableAcrossRestart() async throws {
        let dir = tempDir("it-restart")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let broker = try await startBroker(store: dir)
            let c = try await connect(broker.brokerPort)
            for i in 0..<4 { #expect(try await c.request(sendV2(topic: "D", queueId: 0, body: "d\(i)")).code == 0) }
            _ = try await c.request(req(RequestCode.updateConsumerOffset, ["consumerGroup": "dg", "topic": "D", "queueId": "0", "commitOffset": "3"]))
            await c.close()
            await broker.shutdown()
        }
        let broker = try await startBroker(store: dir)
        let c = try await connect(broker.brokerPort)
        let q = try await c.request(req(RequestCode.queryConsumerOffset, ["consumerGroup": "dg", "topic": "D", "queueId": "0"]))
        #expect(q.fields["offset"] == "3")
        let p = try await c.request(pullReq(group: "x", topic: "D", offset: 0, flags: [.subscription], subscription: "*"))
        #expect(p.messages.map { String(decoding: $0.body.bytes ?? [], as: UTF8.self) } == ["d0", "d1", "d2", "d3"])
        #expect(try await c.request(sendV2(topic: "D", queueId: 0, body: "d4")).fields["queueOffset"] == "4")
        await c.close()
        await broker.shutdown()
    }

    /// A crash: the first broker is never shut down (no final flush); a second one opened on the same store
    /// sees every acknowledged send and every committed offset (fsync always).
    @Test func acknowledgedSendsSurviveACrash() async throws {
        let dir = tempDir("it-crash")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try await startBroker(store: dir)
        let c = try await connect(first.brokerPort)
        var acked = 0
        for i in 0..<20 where try await c.request(sendV2(topic: "C", queueId: Int32(i % 2), body: "c\(i)")).code == 0 { acked += 1 }
        _ = try await c.request(req(RequestCode.updateConsumerOffset, ["consumerGroup": "cg", "topic": "C", "queueId": "1", "commitOffset": "7"]))
        let second = try await startBroker(store: dir)
        let s0 = second.state
        #expect(acked == 20)
        #expect((s0.queues[QueueKey(topic: "C", queueId: 0)]?.maxOffset ?? 0) + (s0.queues[QueueKey(topic: "C", queueId: 1)]?.maxOffset ?? 0) == 20)
        #expect(s0.offsets[OffsetKey(group: "cg", topic: "C", queueId: 1)] == 7)
        await c.close()
        await second.shutdown()
        await first.shutdown()
    }

    /// Shutdown answers the pulls it holds before closing.
    @Test func shutdownAnswersHeldPulls() async throws {
        let broker = try await startBroker()
        let c = try await connect(broker.brokerPort)
        _ = try await c.request(createTopic("SD", queues: 1))
        _ = try await c.request(heartbeat(client: "c", group: "sg", topic: "SD"))
        let pending = Task { try await c.request(pullReq(group: "sg", topic: "SD", offset: 0, suspend: 30_000), timeout: .seconds(30)) }
        #expect(await waitUntil { broker.state.heldPullCount == 1 })
        await broker.shutdown()
        let r = try await pending.value
        #expect(r.code == ResponseCode.pullNotFound && r.remark == "NO_MESSAGE_IN_QUEUE")
        await c.close()
    }

    /// A client that stops heartbeating is dropped and its connection closed, saying why.
    @Test func silentClientExpires() async throws {
        let obs = CollectingObserver()
        let broker = try await startBroker(observer: obs) { $0.broker.clientExpiryMillis = 300 }
        let c = try await connect(broker.brokerPort)
        #expect(try await c.request(heartbeat(client: "quiet", group: "eg", topic: "T")).code == 0)
        #expect(await waitUntil { !c.isActive })
        #expect(broker.state.groups["eg"] == nil)
        let reasons = obs.events.get.compactMap { if case .closed(_, let r, _) = $0 { return r } else { return nil } }
        #expect(reasons.contains("client quiet sent no heartbeat for 0 s") || reasons.contains { $0.hasPrefix("client quiet sent no heartbeat") })
        await broker.shutdown()
    }

    /// The VIP channel is the same broker on a second port.
    @Test func vipChannel() async throws {
        let broker = try await startBroker { $0.vipPort = 0 }
        let vipPort = try #require(broker.vip?.localPort)
        let v = try await connect(vipPort)
        let n = try await connect(broker.brokerPort)
        #expect(try await v.request(sendV2(topic: "V", queueId: 0, body: "via vip")).code == 0)
        let p = try await n.request(pullReq(group: "x", topic: "V", offset: 0, flags: [.subscription], subscription: "*"))
        #expect(p.messages.count == 1)
        await v.close()
        await n.close()
        await broker.shutdown()
    }
}
