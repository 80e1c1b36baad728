import ArgumentParser

struct DecodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "decode", abstract: "Decode captured RocketMQ traffic.")
    func run() throws { throw ToolError("decode: not built yet") }
}
