import Foundation
import ArgumentParser
import NIOCore
import NIOPosix
import RMQLiveConsumer
import RocketMQRemoting

struct ProduceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "produce",
        abstract: "Send test messages (SEND_MESSAGE_V2, or SEND_BATCH_MESSAGE with --batch) to a topic's queues in turn.",
        discussion: "Tags TagA/TagB/TagC in turn, keys key-N, bodies `message N` (padded to --body-size). For demos, tests and benchmarks."
    )

    @Option(help: "Name server HOST:PORT.")
    var namesrv: String

    @Option(help: "Topic (it must exist, or the broker must auto-create it).")
    var topic: String

    @Option(help: "How many messages.")
    var count = 100

    @Option(help: "Messages per SEND_BATCH_MESSAGE (1: one SEND_MESSAGE_V2 each).")
    var batch = 1

    @Option(help: "Body size in bytes (default: just `message N`).")
    var bodySize: Int?

    @Option(help: "Concurrent senders (each takes its share of the messages).")
    var senders = 1

    @Option(help: "First create the topic with this many queues (UPDATE_AND_CREATE_TOPIC on every master of TBW102's route, as mqadmin updateTopic does) and wait until it is routed.")
    var createTopic: Int32?

    func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let producer: SimpleProducer
        do {
            if let n = createTopic {
                try await SimpleProducer.createTopic(nameServer: namesrv, topic: topic, queues: n, on: group.next())
            }
            producer = try await SimpleProducer.connect(nameServer: namesrv, topic: topic, on: group.next())
        } catch {
            try? await group.shutdownGracefully()
            throw ToolError("rmq-trace produce: \(error)")
        }
        let started = ContinuousClock.now
        let share = (count + senders - 1) / max(1, senders)
        let batch = self.batch, bodySize = self.bodySize, count = self.count
        try await withThrowingTaskGroup(of: Void.self) { g in
            for i in 0..<max(1, senders) {
                let n = min(share, count - i * share)
                if n <= 0 { continue }
                g.addTask { try await producer.produce(count: n, batchSize: batch, bodySize: bodySize) }
            }
            try await g.waitForAll()
        }
        let d = ContinuousClock.now - started
        let s = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        print("produced \(count) messages to \(topic) in \(String(format: "%.2f", s)) s (\(Int(Double(count) / max(s, 0.001))) msg/s)")
        await producer.close()
        try? await group.shutdownGracefully()
    }
}
