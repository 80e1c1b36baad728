import ArgumentParser
import Dispatch
import Logging
import NIOCore
import NIOPosix
import RMQBroker
import RMQTraceModel
import RMQTrace
#if canImport(Glibc)
import Glibc
#endif

struct BrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "Run an embedded name server and broker (broker-a, cluster DefaultCluster) that real clients accept.",
        discussion: """
            One process, two listeners: the name server (default 9876) and the broker (default 10911), on loopback \
            unless --host says otherwise. Topics are auto-created with 4 queues on first send (autoCreateTopicEnable). \
            Without --store everything is in memory. Ctrl-C or SIGTERM stops it cleanly: held pulls are answered and \
            the store is flushed.
            """
    )

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Name server port (0: any free port).")
    var namesrvPort = 9876

    @Option(help: "Broker port (0: any free port).")
    var brokerPort = 10911

    @Option(help: "VIP channel port (Java's fastListenPort; default broker port - 2; 0: none).")
    var vipPort: Int?

    @Option(name: .customLong("topic"), help: "Create this topic at start-up: NAME or NAME:QUEUES (repeatable).")
    var topics: [String] = []

    @Option(help: "Keep messages and committed offsets in this directory (commit log + offsets file).")
    var store: String?

    @Option(help: "With --store: fsync every write before answering (always), or every --fsync-interval ms (interval).")
    var fsync: FsyncMode = .always

    @Option(help: "With --fsync interval: milliseconds between fsyncs.")
    var fsyncInterval: Int64 = 500

    @Option(help: "With --store: megabytes of the newest messages kept in memory (older ones are read back from the store).")
    var cacheMb = 64

    @Option(help: "Without --store: megabytes of messages kept; beyond it the oldest are dropped, as the real broker deletes old commit-log files.")
    var memoryLimitMb = 256

    @Option(help: "Megabytes of the message cache allocated and touched at start-up, as the real broker's JVM pre-touches its heap (at most --cache-mb with --store, --memory-limit-mb without; 0: none).")
    var pretouchMb = 64

    @Option(help: "Request log and log format: text or ndjson.")
    var format: LogFormat = .text

    @Flag(help: "Log every request and answer (one line per frame).")
    var logRequests = false

    @Option(help: "Drop clients that sent no heartbeat for this many seconds.")
    var clientExpiry: Int64 = 120

    @Option(help: "Multiply message delays (retries, DELAY property) by this; 0 delivers them at once.")
    var delayScale: Double = 1

    @Option(help: "Largest connection count per listener.")
    var maxConnections = 1024

    @Option(help: "Largest frame accepted, in bytes, length word included (Java: 16 MiB).")
    var maxFrameLength = 16 * 1024 * 1024

    @Option(help: "Event-loop threads serving connections (the name server listens on the first).")
    var loopThreads = 2

    @Flag(help: "Debug logging (held pulls and more).")
    var verbose = false

    enum FsyncMode: String, ExpressibleByArgument { case always, interval }
    enum LogFormat: String, ExpressibleByArgument { case text, ndjson }

    func parseTopics() throws -> [TopicConfig] {
        try topics.map { spec in
            let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
            guard let name = parts.first, !name.isEmpty else { throw ValidationError("--topic \(spec): no name") }
            var n: Int32 = 4
            if parts.count == 2 {
                guard let q = Int32(parts[1]), q > 0, q <= 1024 else { throw ValidationError("--topic \(spec): queues must be 1...1024") }
                n = q
            }
            return TopicConfig(topicName: name, readQueueNums: n, writeQueueNums: n)
        }
    }

    func run() async throws {
        let fmt = format
        let level: Logger.Level = verbose ? .debug : .info
        LoggingSystem.bootstrap { label in
            var h = LineLogHandler(label: label, ndjson: fmt == .ndjson)
            h.logLevel = level
            return h
        }
        let logger = Logger(label: "rmq-trace.broker")
        var config = EmbeddedBrokerConfiguration()
        config.host = host
        config.nameServerPort = namesrvPort
        config.brokerPort = brokerPort
        let vip = vipPort ?? (brokerPort > 2 ? brokerPort - 2 : 0)
        config.vipPort = vip > 0 ? vip : nil
        config.topics = try parseTopics()
        config.storeDirectory = store
        config.fsync = fsync == .always ? .always : .interval(millis: max(1, fsyncInterval))
        config.broker.clientExpiryMillis = clientExpiry * 1000
        config.broker.delayScale = delayScale
        config.broker.recordCacheBytes = max(1, cacheMb) << 20
        config.broker.memoryRetentionBytes = max(1, memoryLimitMb) << 20
        config.broker.pretouchBytes = max(0, pretouchMb) << 20
        config.maxConnections = maxConnections
        config.maxFrameLength = max(1024, maxFrameLength)
        // --log-requests: every frame in and out through the same tracker, analyzer and renderer as `decode`,
        // so the broker's log reads like a capture's timeline (and ends with its summary).
        var requestLog: LiveTraceLog? = nil
        if logRequests {
            var tracker = TrackerConfiguration()
            tracker.nameServerPorts.insert(UInt16(clamping: namesrvPort))
            tracker.brokerPorts.insert(UInt16(clamping: brokerPort))
            let log = LiveTraceLog(format: fmt == .ndjson ? .ndjson : .text, configuration: tracker, source: "rmq-trace broker",
                                   write: { lines in for l in lines { StdoutLine.write(l) } })
            requestLog = log
            config.observer = log
        }
        if !Self.isLoopback(host) {
            logger.warning("WARNING: listening on \(host), NOT loopback: anyone who can reach this address can send and read messages; this broker has no access control")
        }
        if store == nil {
            logger.info("no --store: messages and committed offsets are kept in memory only (the newest \(max(1, memoryLimitMb)) MiB of messages) and are lost when this process ends")
        }
        guard loopThreads >= 1 else { throw ValidationError("--loop-threads must be 1 or more") }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: loopThreads)
        let broker: EmbeddedBroker
        do {
            broker = try await EmbeddedBroker.start(configuration: config, group: group, logger: logger)
        } catch {
            try? await group.shutdownGracefully()
            throw ToolError("rmq-trace broker: cannot start: \(error)")
        }
        logger.info("name server listening on \(host):\(broker.nameServerPort)")
        logger.info("broker broker-a (cluster DefaultCluster, id 0) listening on \(host):\(broker.brokerPort), registered as \(broker.brokerAddress)")
        if let v = broker.vip { logger.info("broker VIP channel listening on \(host):\(v.localPort)") }
        for t in config.topics { logger.info("topic \(t.topicName): \(t.writeQueueNums) queues") }

        let signal = await Self.waitForSignal()
        logger.info("\(signal): stopping (answering held pulls, flushing the store)")
        await broker.shutdown()
        try? await group.shutdownGracefully()
        requestLog?.finish(closing: "broker stopped")
        logger.info("stopped")
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// Waits for SIGINT or SIGTERM; returns its name.
    static func waitForSignal() async -> String {
        Glibc.signal(SIGINT, SIG_IGN)
        Glibc.signal(SIGTERM, SIG_IGN)
        return await withCheckedContinuation { (cont: CheckedContinuation<String, Never>) in
            let queue = DispatchQueue(label: "rmq-trace.signals")
            let once = SignalOnce(cont)
            for (sig, name) in [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")] {
                let src = DispatchSource.makeSignalSource(signal: sig, queue: queue)
                src.setEventHandler { once.fire(name) }
                src.resume()
                SignalSources.keep(src)
            }
        }
    }
}

final class SignalOnce: @unchecked Sendable {
    var cont: CheckedContinuation<String, Never>?
    init(_ c: CheckedContinuation<String, Never>) { cont = c }
    func fire(_ name: String) {
        // Called on one serial queue.
        cont?.resume(returning: name)
        cont = nil
    }
}

enum SignalSources {
    nonisolated(unsafe) static var sources: [any DispatchSourceSignal] = []
    static func keep(_ s: any DispatchSourceSignal) { sources.append(s) }
}

enum StdoutLine {
    static func write(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { Glibc.write(1, $0.baseAddress, $0.count) }
    }
}

/// swift-log handler: one line per message on stderr (text or NDJSON).
struct LineLogHandler: LogHandler {
    let label: String
    let ndjson: Bool
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    init(label: String, ndjson: Bool) {
        self.label = label
        self.ndjson = ndjson
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        write(level: event.level, message: event.message)
    }

    func write(level: Logger.Level, message: Logger.Message) {
        let now = CaptureTime.now()
        let text: String
        if ndjson {
            text = "{\"event\":\"log\",\"ts\":\(RequestLogObserverTime.seconds(now)),\"level\":\"\(level)\",\"message\":\(RequestLogObserverTime.quote(message.description))}"
        } else {
            text = "\(RequestLogObserverTime.clock(now)) [\(level)] \(message)"
        }
        let bytes = Array((text + "\n").utf8)
        _ = bytes.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}
