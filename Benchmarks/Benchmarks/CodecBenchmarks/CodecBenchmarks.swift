// Codec benchmarks for RocketMQRemoting (issue "The core, reworked", codec speed goal).
//
// "PULL_MESSAGE request": frame → RemotingCommand (fields kept as byte ranges) → typed header.
// "FOUND response": frame → command → typed header → every stored record as a view (validated, fixed fields
// read in place). "eager records": the same with StoredMessageDecoder.decodeAll (StoredMessage structs).
// "via ExtFields": the request with the ExtFields map built first, for comparison.
//
// Each benchmark iteration decodes `framesPerIteration` frames; the scaling factor tells package-benchmark
// so, which makes "throughput" read as frames per second and "Malloc (total)" as allocations per frame.
// The Java 4.9.4 reference is measured by /work/shared/javabench (scripts/bench-codec.sh runs both).

import Benchmark
import NIOCore
import CodecBenchFixtures
import RocketMQRemoting

let benchmarks: @Sendable () -> Void = {
    checkFixtures()

    Benchmark.defaultConfiguration = .init(
        metrics: [.throughput, .wallClock, .mallocCountTotal],
        warmupIterations: 20,
        scalingFactor: .kilo,
        maxDuration: .seconds(3),
        maxIterations: 100_000
    )
    precondition(Benchmark.defaultConfiguration.scalingFactor.rawValue == framesPerIteration)

    for (type, label) in [(SerializeType.json, "JSON"), (.rocketmq, "binary")] {
        let request = Fixtures.pullRequest(type)
        let requestFrame = request.frame
        Benchmark("PULL_MESSAGE request, \(label) header") { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(try decodeRequest(requestFrame))
            }
        }

        let responseFrame = Fixtures.foundResponse(to: request.command)
        Benchmark("PULL_MESSAGE FOUND response, \(label) header, \(recordsPerResponse) records") { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(try decodeResponse(responseFrame))
            }
        }
        Benchmark("PULL_MESSAGE FOUND response eager records, \(label) header, \(recordsPerResponse) records") { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(try decodeResponseEager(responseFrame))
            }
        }
        Benchmark("PULL_MESSAGE request via ExtFields, \(label) header") { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(try decodeRequestViaExtFields(requestFrame))
            }
        }
    }
}
