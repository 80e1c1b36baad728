// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "rmq-trace",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "RocketMQRemoting", targets: ["RocketMQRemoting"]),
        .library(name: "RMQTraceModel", targets: ["RMQTraceModel"]),
        .library(name: "RMQCapture", targets: ["RMQCapture"]),
        .library(name: "RMQTraceCore", targets: ["RMQTraceCore"]),
        .library(name: "RMQTraceRender", targets: ["RMQTraceRender"]),
        .library(name: "RMQTrace", targets: ["RMQTrace"]),
        .library(name: "RMQConsumer", targets: ["RMQConsumer"]),
        .library(name: "RocketMQRemotingNIO", targets: ["RocketMQRemotingNIO"]),
        .library(name: "RMQBroker", targets: ["RMQBroker"]),
        .library(name: "RMQLiveConsumer", targets: ["RMQLiveConsumer"]),
        .executable(name: "rmq-trace", targets: ["rmq-trace"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
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
        .target(name: "RMQTraceModel", dependencies: ["RocketMQRemoting", .product(name: "NIOCore", package: "swift-nio")]),
        // libpcap, Debian's libpcap-dev.
        .systemLibrary(name: "CPcap", pkgConfig: "libpcap", providers: [.apt(["libpcap-dev"])]),
        // Capture edge: libpcap reader, link layers, TCP reassembly state machines, a pcap writer for tests.
        .target(name: "RMQCapture", dependencies: ["CPcap", "RocketMQRemoting", "RMQTraceModel", .product(name: "NIOCore", package: "swift-nio")]),
        // The exchange tracker (pairing, roles, latency, statistics) and the consume-flow analyzer: observed
        // frames from any source in, trace events out.
        .target(name: "RMQTraceCore", dependencies: ["RocketMQRemoting", "RMQTraceModel", .product(name: "NIOCore", package: "swift-nio")]),
        // Renderers of trace events: text, NDJSON (and the pictures to come).
        .target(name: "RMQTraceRender", dependencies: ["RocketMQRemoting", "RMQTraceModel", "RMQTraceCore", .product(name: "NIOCore", package: "swift-nio")]),
        // A capture's pipeline and the decode session: pcap packets → capture edge → tracker → renderer.
        .target(
            name: "RMQTrace",
            dependencies: [
                "RocketMQRemoting", "RMQTraceModel", "RMQCapture", "RMQTraceCore", "RMQTraceRender",
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // A push consumer as plain-value state machines (inputs and clock ticks in, actions out; no I/O) and
        // the ACL request signer.
        .target(
            name: "RMQConsumer",
            dependencies: [
                "RocketMQRemoting",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
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
        // The live push consumer: PushConsumerStateMachine carried out on SwiftNIO sockets, and a small producer.
        .target(
            name: "RMQLiveConsumer",
            dependencies: [
                "RMQConsumer", "RocketMQRemotingNIO", "RMQTrace", "RMQTraceModel", "RocketMQRemoting",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "rmq-trace",
            dependencies: [
                "RocketMQRemoting", "RMQTrace", "RMQCapture", "RMQBroker", "RMQTraceModel", "RMQLiveConsumer", "RMQConsumer",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
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
        .testTarget(name: "RMQCaptureTests", dependencies: ["RMQCapture", "RocketMQRemoting", .product(name: "NIOCore", package: "swift-nio")]),
        // Builders for tests (synthetic captures and conversations): not a product, not production API.
        .target(name: "RMQTestSupport", dependencies: ["RocketMQRemoting", "RMQTraceModel", "RMQCapture", .product(name: "NIOCore", package: "swift-nio")]),
        .testTarget(
            name: "RMQConsumerTests",
            dependencies: ["RMQConsumer", "RocketMQRemoting", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .testTarget(
            name: "RMQBrokerTests",
            dependencies: [
                "RMQBroker", "RMQTrace", "RocketMQRemotingNIO", "RocketMQRemoting", "RMQTraceModel", "RMQCapture",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "RMQLiveConsumerTests",
            dependencies: [
                "RMQLiveConsumer", "RMQBroker", "RMQConsumer", "RMQTrace", "RMQCapture", "RocketMQRemotingNIO", "RocketMQRemoting",
                "RMQTraceModel",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "RMQTraceTests",
            dependencies: ["RMQTrace", "RMQCapture", "RMQTraceRender", "RMQTraceModel", "RocketMQRemoting", "RMQTestSupport", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .testTarget(
            name: "RMQTraceCoreTests",
            dependencies: ["RMQTraceCore", "RMQTraceModel", "RocketMQRemoting", "RMQTestSupport", .product(name: "NIOCore", package: "swift-nio")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
