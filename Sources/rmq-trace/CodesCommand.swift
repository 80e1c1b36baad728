import ArgumentParser
import RocketMQRemoting

struct CodesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "codes",
        abstract: "Look up request and response codes by name or number, or list them.",
        discussion: """
            Request and response codes are separate number spaces: 10 is SEND_MESSAGE as a request and \
            FLUSH_DISK_TIMEOUT as a response. Without an argument every code is listed. Names match case-insensitively \
            and by substring (e.g. `codes offset`).
            """
    )

    @Argument(help: "A code number or (part of) a name.")
    var query: String?

    @Flag(name: .long, help: "Only request codes.") var requests = false
    @Flag(name: .long, help: "Only response codes.") var responses = false

    func row(_ kind: String, _ c: CodeInfo) -> String {
        let avail = "4.9.x: \(c.in4_9 ? "yes" : "no")  5.x: \(c.in5.text)"
        let pad = String(repeating: " ", count: max(1, 44 - c.name.count))
        let num = String(c.code)
        return "\(kind) \(String(repeating: " ", count: max(0, 7 - num.count)))\(num)  \(c.name)\(pad)\(avail)\(c.note.isEmpty ? "" : "  (\(c.note))")"
    }

    func run() throws {
        let showReq = !responses || requests
        let showResp = !requests || responses
        var lines: [String] = []
        let q = query?.uppercased()
        let number = query.flatMap { Int32($0) }
        func matches(_ c: CodeInfo) -> Bool {
            guard let q else { return true }
            if let number { return c.code == number }
            return c.name.contains(q)
        }
        if showReq { lines += RequestCode.all.filter(matches).map { row("request ", $0) } }
        if showResp { lines += ResponseCode.all.filter(matches).map { row("response", $0) } }
        if lines.isEmpty {
            throw ToolError("no request or response code matches \"\(query ?? "")\"")
        }
        if let number, showReq, showResp, RequestCode.info(number) != nil, !ResponseCode.infos(number).isEmpty {
            lines.append("note: \(number) means different things as a request and as a response code")
        }
        print(lines.joined(separator: "\n"))
    }
}
