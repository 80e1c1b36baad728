// `rmq-trace decode` without the command line around it, synchronously on the main thread: the same
// PcapReader and DecodeSession, output kept in memory and dropped. For `valgrind --tool=callgrind` (the
// rmq-trace binary's async entry point runs on Dispatch, which valgrind does not follow here) and `perf`.
//
//   decode-speed FILE [summary|text|ndjson]
//
// Prints the frames decoded and the time taken.
import Foundation
import RMQCapture
import RMQTrace

let args = CommandLine.arguments
guard args.count > 1 else {
    FileHandle.standardError.write("usage: decode-speed FILE [summary|text|ndjson]\n".data(using: .utf8)!)
    exit(2)
}
let format = OutputFormat(rawValue: args.count > 2 ? args[2] : "summary") ?? .summary
let start = ContinuousClock.now
do {
    let reader = try PcapReader(path: args[1])
    try reader.checkLinkType()
    var session = DecodeSession(format: format, source: args[1])
    var out: [UInt8] = []
    var written = 0
    try reader.forEachDecoded { packet in
        session.packet(packet, into: &out)
        if out.count > 1 << 16 { written += out.count; out.removeAll(keepingCapacity: true) }
        return true
    }
    session.finish(inputError: nil, into: &out)
    written += out.count
    let d = ContinuousClock.now - start
    let s = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    print("\(session.decoder.statistics.frames) frames in \(String(format: "%.3f", s)) s (\(Int(Double(session.decoder.statistics.frames) / s)) frames/s), \(written) bytes of \(format.rawValue)")
} catch {
    FileHandle.standardError.write("decode-speed: \(error)\n".data(using: .utf8)!)
    exit(1)
}
