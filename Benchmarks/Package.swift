// swift-tools-version: 6.1
// The codec benchmarks: a separate package so that the root `swift build` / `swift test` never compiles
// package-benchmark. Run with `scripts/bench-codec.sh` from the repository root.
import Foundation
import PackageDescription

// package-benchmark's malloc interposer counts allocations (the allocs/frame column), but every malloc and free
// then goes through it and carries its size header. scripts/bench-codec.sh measures throughput in a build without
// it (BENCHMARK_DISABLE_MALLOC_INTERPOSER set, a scratch path of its own), as the Java reference runs with no
// allocation profiling, and counts allocations in the default build with it.
let mallocInterposer = ProcessInfo.processInfo.environment["BENCHMARK_DISABLE_MALLOC_INTERPOSER"] == nil

let package = Package(
    name: "rmq-trace-benchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "rmq-trace", path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/ordo-one/package-benchmark", from: "1.38.1",
                 traits: mallocInterposer ? ["MallocInterposer"] : []),
    ],
    targets: [
        // The frames every benchmark decodes, and the decode steps measured.
        .target(
            name: "CodecBenchFixtures",
            dependencies: [
                .product(name: "RocketMQRemoting", package: "rmq-trace"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // package-benchmark: throughput, wall clock and mallocs per frame.
        .executableTarget(
            name: "CodecBenchmarks",
            dependencies: [
                "CodecBenchFixtures",
                .product(name: "RocketMQRemoting", package: "rmq-trace"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Benchmark", package: "package-benchmark"),
            ],
            path: "Benchmarks/CodecBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        // Plain ContinuousClock runner (no interposer): for profiling and as a cross-check.
        .executableTarget(
            name: "codec-speed",
            dependencies: [
                "CodecBenchFixtures",
                .product(name: "RocketMQRemoting", package: "rmq-trace"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
