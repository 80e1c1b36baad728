// Codec benchmarks for RocketMQRemoting (issue "RocketMQRemoting", speed section).
//
// "PULL_MESSAGE request/FOUND response" measure the zero-copy path (RemotingFrame.decodeTyped: frame bytes
// straight to the typed header); the "via ExtFields" variants measure RemotingFrame.decode +
// TypedHeader.decodeRequest/decodeResponse for comparison.
//
// Each benchmark iteration decodes `framesPerIteration` frames; the scaling factor tells package-benchmark
// so, which makes "throughput" read as frames per second and "Malloc (total)" as allocations per frame.
//
// Reference (measured on one core, JIT warm): Apache RocketMQ 4.9.4's Java codec decodes about 1.0 M JSON-header
// and 1.9 M binary-header PULL_MESSAGE request frames per second (RemotingCommand.decode plus the typed
// PullMessageRequestHeader). Goal: 1.5 M and 4 M. `scripts/bench-codec.sh` prints the side-by-side table.

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

        // The full path (RemotingCommand with its ExtFields, then the typed header), for comparison.
        Benchmark("PULL_MESSAGE request via ExtFields, \(label) header") { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(try decodeRequestViaExtFields(requestFrame))
            }
        }
        Benchmark("PULL_MESSAGE FOUND response via ExtFields, \(label) header, \(recordsPerResponse) records") { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(try decodeResponseViaExtFields(responseFrame))
            }
        }
    }
}
