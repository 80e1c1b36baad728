// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "rmq-trace",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "RocketMQRemoting", targets: ["RocketMQRemoting"]),
        .library(name: "RMQTraceModel", targets: ["RMQTraceModel"]),
        .library(name: "RMQCapture", targets: ["RMQCapture"]),
        .library(name: "RMQTrace", targets: ["RMQTrace"]),
        .library(name: "RocketMQRemotingNIO", targets: ["RocketMQRemotingNIO"]),
        .library(name: "RMQBroker", targets: ["RMQBroker"]),
        .executable(name: "rmq-trace", targets: ["rmq-trace"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        // The codec: frames, headers, codes, bodies, stored messages. No I/O.
        .target(
            name: "RocketMQRemoting",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "CompressNIO", package: "compress-nio"),
            ]
        ),
        // The trace model every source and tool shares: time, endpoints, observed frames, events, findings.
        .target(name: "RMQTraceModel", dependencies: ["RocketMQRemoting"]),
        // libpcap, Debian's libpcap-dev.
        .systemLibrary(name: "CPcap", pkgConfig: "libpcap", providers: [.apt(["libpcap-dev"])]),
        // Capture edge: libpcap reader, link layers, TCP reassembly state machines, a pcap writer for tests.
        .target(name: "RMQCapture", dependencies: ["CPcap", "RMQTraceModel"]),
        // The shared pipeline: stream framing, pairing, trace events, consume-flow annotation, renderers.
        .target(
            name: "RMQTrace",
            dependencies: [
                "RocketMQRemoting", "RMQTraceModel", "RMQCapture",
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // SwiftNIO channel handlers, a client with request/response correlation, a server with a dispatcher.
        .target(
            name: "RocketMQRemotingNIO",
            dependencies: [
                "RocketMQRemoting", "RMQTraceModel",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        // The embedded name server and broker: state machines without I/O, the store, and the NIO driver.
        .target(
            name: "RMQBroker",
            dependencies: [
                "RocketMQRemoting", "RMQTraceModel", "RocketMQRemotingNIO",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "rmq-trace",
            dependencies: [
                "RocketMQRemoting", "RMQTrace", "RMQCapture", "RMQBroker", "RMQTraceModel",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "RocketMQRemotingTests",
            dependencies: [
                "RocketMQRemoting",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "RMQCaptureTests", dependencies: ["RMQCapture"]),
        .testTarget(
            name: "RMQBrokerTests",
            dependencies: [
                "RMQBroker", "RocketMQRemotingNIO", "RocketMQRemoting", "RMQTraceModel", "RMQCapture",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "RMQTraceTests",
            dependencies: ["RMQTrace", "RMQCapture", "RocketMQRemoting", .product(name: "NIOCore", package: "swift-nio")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
