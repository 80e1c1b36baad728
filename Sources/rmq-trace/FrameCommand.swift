import ArgumentParser
import Foundation
import NIOCore
import RMQTrace
import RocketMQRemoting

struct FrameCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "frame",
        abstract: "Decode RemotingCommand frames given as hex (as copied from Wireshark) and print them.",
        discussion: """
            The hex may contain spaces, newlines, colons and a leading 0x; it must start at a frame's 4-byte length \
            field. Several frames back to back are decoded one after the other. Without an argument the hex is read \
            from standard input. A lone response does not say which request it answers: the request code is inferred \
            from what the response carries, or given with --request-code.
            """
    )

    @Argument(help: "The frame bytes in hex, in one or several words. Read from standard input when absent.")
    var hex: [String] = []

    @Option(name: .long, help: "Code (number or name) of the request that a response answers.")
    var requestCode: String?

    @Option(name: .long, help: "Largest frame accepted, in bytes.")
    var maxFrameLength: Int = RemotingFrame.defaultMaxFrameLength

    func run() throws {
        var text = hex.joined()
        if hex.isEmpty {
            var all = ""
            while let line = readLine(strippingNewline: false) { all += line }
            text = all
        }
        var cleaned = text.replacingOccurrences(of: "0x", with: "")
        cleaned = String(cleaned.filter { !$0.isWhitespace && $0 != ":" && $0 != "," })
        guard !cleaned.isEmpty else { throw ToolError("frame: no hex given") }
        guard let bytes = MessageId.bytesFromHex(cleaned) else {
            throw ToolError("frame: input is not hex (\(cleaned.count) characters; an odd count or a non-hex character)")
        }
        var reqCode: Int32? = nil
        if let r = requestCode {
            guard let c = Int32(r) ?? RequestCode.info(named: r)?.code else { throw ToolError("frame: unknown request code \(r)") }
            reqCode = c
        }
        var buffer = ByteBuffer(bytes: bytes)
        var decoder = RemotingFrameDecoder(maxFrameLength: maxFrameLength)
        var index = 0
        while buffer.readableBytes > 0 {
            let start = buffer.readerIndex
            let cmd: RemotingCommand
            do {
                guard let c = try decoder.decodeLast(buffer: &buffer, seenEOF: true) else { break }
                cmd = c
            } catch {
                throw ToolError("\(error)")
            }
            if index > 0 { print("") }
            for line in FrameDescription.lines(cmd, frameSize: buffer.readerIndex - start, requestCode: reqCode) { print(line) }
            index += 1
        }
    }
}
