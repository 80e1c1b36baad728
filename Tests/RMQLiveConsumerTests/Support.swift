import Foundation
import NIOCore
import NIOPosix
import RMQBroker
import RMQConsumer
import RMQLiveConsumer
import RMQTraceModel
import RocketMQRemoting
import RocketMQRemotingNIO
import Synchronization
import Testing

/// One event loop group for every test of this target (2 threads: the machine has 2 cores).
let testGroup = MultiThreadedEventLoopGroup(numberOfThreads: 2)

/// What a listener saw: every delivery, in order.
final class Deliveries: Sendable {
    struct Item: Hashable, Sendable {
        var queue: MessageQueue
        var offset: Int64
        var msgId: String
        var topic: String
        var reconsumeTimes: Int32
    }
    let items = Mutex<[Item]>([])
    let consumerOf = Mutex<[String: String]>([:])

    func listener(_ name: String, delay: Duration = .zero, fail: @escaping @Sendable (DeliveredMessage) -> Bool = { _ in false }) -> ConsumeListener {
        { [self] ms in
            if delay > .zero { Thread.sleep(forTimeInterval: Double(delay.components.attoseconds) / 1e18 + Double(delay.components.seconds)) }
            var status = ConsumeStatus.success
            for m in ms where fail(m) { status = .reconsumeLater }
            items.withLock { list in
                for m in ms { list.append(Item(queue: m.queue, offset: m.queueOffset, msgId: m.msgId, topic: m.topic, reconsumeTimes: m.reconsumeTimes)) }
            }
            if status == .success { consumerOf.withLock { d in for m in ms { d[m.msgId] = name } } }
            return status
        }
    }

    var count: Int { items.withLock { $0.count } }
    var all: [Item] { items.withLock { $0 } }
    /// Distinct message ids consumed.
    var distinct: Set<String> { Set(all.map(\.msgId)) }
}

func consumerConfiguration(nameServer: String, topic: String, group: String, instance: String,
                           from: ConsumeFrom = .firstOffset, allocation: Allocation = .average) -> ConsumerConfiguration {
    var c = ConsumerConfiguration(nameServers: [Address(nameServer)], topic: topic, group: group, consumeFrom: from,
                                  allocation: allocation, clientIP: "127.0.0.1", instanceName: instance,
                                  processID: Int64(getpid()), nanoTime: Int64(CaptureTime.now().nanoseconds))
    c.persistInterval = .seconds(1)
    c.firstPersistDelay = .seconds(1)
    c.shutdownAwaitConsumption = .seconds(5)
    return c
}

/// An embedded broker on ephemeral loopback ports with `topic` (4 queues).
func startBroker(topics: [String] = ["T"], queues: Int32 = 4, observer: (any FrameObserver)? = nil,
                 store: String? = nil) async throws -> EmbeddedBroker {
    var c = EmbeddedBrokerConfiguration()
    c.nameServerPort = 0
    c.brokerPort = 0
    c.topics = topics.map { TopicConfig(topicName: $0, readQueueNums: queues, writeQueueNums: queues) }
    c.broker.delayScale = 0
    c.storeDirectory = store
    c.fsync = .interval(millis: 200)
    c.observer = observer
    return try await EmbeddedBroker.start(configuration: c, group: testGroup)
}

func produce(_ broker: EmbeddedBroker, topic: String = "T", count: Int, batch: Int = 1) async throws -> [MessageQueue: Int] {
    let p = try await SimpleProducer.connect(nameServer: broker.nameServerAddress, topic: topic, on: testGroup.next())
    defer { Task { await p.close() } }
    return try await p.produce(count: count, batchSize: batch)
}

/// Waits until `condition` holds (polling every 20 ms), at most `seconds`.
func eventually(_ seconds: Double = 10, _ condition: @Sendable () async -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return await condition()
}

/// The broker's committed offsets of a group for a topic, by queue id.
func committed(_ broker: EmbeddedBroker, group: String, topic: String = "T") -> [Int32: Int64] {
    var out: [Int32: Int64] = [:]
    for (k, v) in broker.state.offsets where k.group == group && k.topic == topic { out[k.queueId] = v }
    return out
}

func maxOffsets(_ broker: EmbeddedBroker, topic: String = "T") -> [Int32: Int64] {
    var out: [Int32: Int64] = [:]
    for (k, q) in broker.state.queues where k.topic == topic { out[k.queueId] = q.maxOffset }
    return out
}
