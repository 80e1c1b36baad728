import Foundation
import NIOCore
import RMQBroker
import RMQConsumer
import RMQLiveConsumer
import RMQTraceModel
import RocketMQRemoting
import Testing

// The live consumer against the embedded broker, in this process, on ephemeral loopback ports.

@Suite(.serialized) struct LiveConsumerTests {
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
