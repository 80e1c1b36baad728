// swift-tools-version: 6.0
// The decode speed and memory benchmark's capture generator (see scripts/bench-decode.sh). A package of its own
// so the root package carries no benchmark-only targets.
import PackageDescription

let package = Package(
    name: "DecodeBench",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "rmq-trace", path: "../.."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(
            name: "decode-speed",
            dependencies: [
                .product(name: "RMQCapture", package: "rmq-trace"),
                .product(name: "RMQTrace", package: "rmq-trace"),
            ]
        ),
        .executableTarget(
            name: "gen-capture",
            dependencies: [
                .product(name: "RocketMQRemoting", package: "rmq-trace"),
                .product(name: "RMQCapture", package: "rmq-trace"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
