import ArgumentParser

@main
struct RMQTraceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rmq-trace",
        abstract: "Shows what Apache RocketMQ clients, name servers and brokers say to each other on the wire.",
        version: "0.1.0",
        subcommands: [DecodeCommand.self, FrameCommand.self, CodesCommand.self, BrokerCommand.self, ConsumeCommand.self, DemoCommand.self, ProduceCommand.self]
    )
}

/// A one-line error and a non-zero exit, for runs that cannot go on.
struct ToolError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
