// swift-tools-version: 6.1
// The codec benchmarks: a separate package so that the root `swift build` / `swift test` never compiles
// package-benchmark. Run with `scripts/bench-codec.sh` from the repository root.
import PackageDescription

let package = Package(
    name: "rmq-trace-benchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "rmq-trace", path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/ordo-one/package-benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
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
