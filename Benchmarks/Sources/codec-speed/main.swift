// A plain ContinuousClock runner for the codec benchmarks, without package-benchmark or the malloc
// interposer: handy under `perf record` / valgrind, and a cross-check of the package-benchmark figures.
//
//   swift run -c release codec-speed [seconds-per-benchmark] [filter]
//
// With 0 seconds it decodes 21,000 frames per benchmark (warm-up and one batch): use that under
// `valgrind --tool=callgrind` for instruction counts, which other builds on the machine do not disturb.
//
// Prints one line per benchmark: frames/s (best of the 1000-frame batches and median), ns/frame.

import CodecBenchFixtures
import NIOCore
import RocketMQRemoting

@inline(never) func consume<T>(_ x: T) { withExtendedLifetime(x) {} }

func measure(_ name: String, seconds: Double, _ body: () throws -> Void) rethrows {
    let clock = ContinuousClock()
    for _ in 0..<(20 * framesPerIteration) { try body() }  // warm-up
    var batches: [Double] = []  // seconds per batch
    let deadline = clock.now.advanced(by: .milliseconds(Int(seconds * 1000)))
    repeat {
        let t0 = clock.now
        for _ in 0..<framesPerIteration { try body() }
        let d = clock.now - t0
        batches.append(Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
    } while clock.now < deadline
    batches.sort()
    let best = Double(framesPerIteration) / batches[0]
    let median = Double(framesPerIteration) / batches[batches.count / 2]
    func fmt(_ v: Double) -> String { String(Int(v.rounded())) }
    print("\(name)\tbest \(fmt(best)) frames/s\tmedian \(fmt(median)) frames/s\t\(fmt(1e9 / median)) ns/frame\t\(batches.count) batches")
}

let args = CommandLine.arguments
let seconds = args.count > 1 ? Double(args[1]) ?? 2 : 2
let filter = args.count > 2 ? args[2] : ""

checkFixtures()
for (type, label) in [(SerializeType.json, "JSON"), (.rocketmq, "binary")] {
    let request = Fixtures.pullRequest(type)
    let requestName = "PULL_MESSAGE request, \(label) header"
    if filter.isEmpty || requestName.contains(filter) {
        let frame = request.frame
        try measure(requestName, seconds: seconds) { consume(try decodeRequest(frame)) }
    }
    let allName = "PULL_MESSAGE request with every String read, \(label) header"
    if filter.isEmpty || allName.contains(filter) {
        let frame = request.frame
        try measure(allName, seconds: seconds) { consume(try decodeRequestReadingAll(frame)) }
    }
    let responseName = "PULL_MESSAGE FOUND response, \(label) header, \(recordsPerResponse) records"
    if filter.isEmpty || responseName.contains(filter) {
        let frame = Fixtures.foundResponse(to: request.command)
        try measure(responseName, seconds: seconds) { consume(try decodeResponse(frame)) }
    }
    let eagerName = "PULL_MESSAGE FOUND response eager records, \(label) header, \(recordsPerResponse) records"
    if filter.isEmpty || eagerName.contains(filter) {
        let frame = Fixtures.foundResponse(to: request.command)
        try measure(eagerName, seconds: seconds) { consume(try decodeResponseEager(frame)) }
    }
    let fullRequestName = "PULL_MESSAGE request via ExtFields, \(label) header"
    if filter.isEmpty || fullRequestName.contains(filter) {
        let frame = request.frame
        try measure(fullRequestName, seconds: seconds) { consume(try decodeRequestViaExtFields(frame)) }
    }
}
