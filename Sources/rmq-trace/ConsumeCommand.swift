import ArgumentParser
import Dispatch
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RMQBroker
import RMQCapture
import RMQConsumer
import RMQLiveConsumer
import RMQTrace
import RMQTraceModel
import RocketMQRemoting
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

struct ConsumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consume",
        abstract: "Run a push consumer (the Java 4.9 client's protocol) and log every request it sends and every answer.",
        discussion: """
            The log is the same timeline `decode` prints for a capture (one line per exchange, with the consume-flow \
            phase), from the consumer's own sockets. It stops on --duration, --max-messages, Ctrl-C or SIGTERM: no \
            more pulls, in-flight messages finished, every offset committed, UNREGISTER_CLIENT to every broker, then \
            the summary (requests by code with latencies, consumer progress and lag, findings) and the consumer's \
            report (messages per queue, offsets committed, anything shutdown could not do).

            Exit status: 0 after a clean shutdown; 1 when it cannot start (name server unreachable, bad option); 2 when \
            shutdown could not do everything (the report says what).
            """
    )

    @Option(help: "Name server addresses, HOST:PORT[;HOST:PORT...].")
    var namesrv: String

    @Option(help: "Topic to subscribe.")
    var topic: String

    @Option(help: "Consumer group.")
    var group: String

    @Option(help: "TAG expression: * or TagA || TagB.")
    var tag = "*"

    @Option(help: "Where a queue without a committed offset starts: last, first or a yyyyMMddHHmmss time (UTC).")
    var from = "last"

    @Option(help: "clustering or broadcasting.")
    var model: ModelArg = .clustering

    @Option(help: "Queue allocation: average or circle.")
    var allocate: AllocateArg = .average

    @Option(help: "Instance name (the client id is IP@INSTANCE; default: IP@PID#NANOTIME, as Java's DEFAULT).")
    var instance: String?

    @Option(help: "Consume pool threads (Java's consumeThreadMin, 20); 0 runs the listener on the consumer's event loop, without a pool (the built-in listener never blocks: it counts, and prints with --print-messages).")
    var threads = 20

    @Option(help: "Stop after this many seconds.")
    var duration: Double?

    @Option(help: "Stop once this many messages were consumed (in-flight ones are finished too).")
    var maxMessages: Int?

    @Option(help: "Output: text (timeline and summary), ndjson (one JSON object per line), summary (summary only), mermaid (a sequence diagram) or html (a self-contained report; redirect it to a file).")
    var format: OutputFormat = .text

    @Flag(help: "Print every consumed message (topic, queue, offset, tags, keys, msgId, body).")
    var printMessages = false

    @Option(help: "Return RECONSUME_LATER for every Nth message, once per message (it comes back through %RETRY%group).")
    var failEvery: Int?

    @Option(help: "ACL access key (every request is signed).")
    var accessKey: String?

    @Option(help: "ACL secret key (never printed; visible to `ps` while the consumer runs: prefer --secret-key-file or the environment variable RMQ_SECRET_KEY).")
    var secretKey: String?

    @Option(help: "Read the ACL secret key from the first line of this file.")
    var secretKeyFile: String?

    /// The secret key from --secret-key, --secret-key-file or (with --access-key) RMQ_SECRET_KEY, in that order.
    func resolvedSecretKey() throws -> String? {
        if let secretKey { return secretKey }
        if let path = secretKeyFile {
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw ValidationError("--secret-key-file \(path): cannot read it")
            }
            let line = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            let key = line.hasSuffix("\r") ? String(line.dropLast()) : line
            if key.isEmpty { throw ValidationError("--secret-key-file \(path): the first line is empty") }
            return key
        }
        // The environment is read only for an --access-key: a variable left set does not turn signing on.
        if accessKey != nil, let env = ProcessInfo.processInfo.environment["RMQ_SECRET_KEY"], !env.isEmpty { return env }
        return nil
    }

    @Option(help: "Also write everything sent and received as a pcap that `rmq-trace decode` reads back.")
    var capture: String?

    @Option(help: "Broadcasting: where offsets are kept (read at start, written at every persist).")
    var offsetFile: String?

    @Option(help: "Client IP the consumer reports (default: the first non-loopback IPv4 address, else 127.0.0.1).")
    var clientIP: String?

    @Option(help: "Seconds between offset commits (Java persistConsumerOffsetInterval: 5; the first after 10).")
    var persistInterval: Double = 5

    @Option(help: "Cached messages per queue before pulling pauses (Java pullThresholdForQueue).")
    var pullThresholdForQueue = 1000

    @Option(help: "Simulate this many milliseconds of work per message in the listener.")
    var workMs = 0

    @Flag(help: "Also print the consumer's informational log lines (rebalance decisions) on stderr.")
    var verbose = false

    enum ModelArg: String, ExpressibleByArgument { case clustering, broadcasting }
    enum AllocateArg: String, ExpressibleByArgument { case average, circle }

    func validate() throws {
        if nameServers.isEmpty { throw ValidationError("--namesrv: no HOST:PORT") }
        for a in nameServers where !a.contains(":") { throw ValidationError("--namesrv \(a): expected HOST:PORT") }
        if threads < 0 || threads > 1000 { throw ValidationError("--threads must be 0...1000") }
        if threads == 0 && workMs > 0 { throw ValidationError("--threads 0 runs the listener on the event loop: --work-ms would block it (give threads)") }
        if let d = duration, d <= 0 { throw ValidationError("--duration must be positive") }
        if let m = maxMessages, m < 1 { throw ValidationError("--max-messages must be at least 1") }
        if let f = failEvery, f < 1 { throw ValidationError("--fail-every must be at least 1") }
        if persistInterval <= 0 { throw ValidationError("--persist-interval must be positive") }
        if pullThresholdForQueue < 1 { throw ValidationError("--pull-threshold-for-queue must be at least 1") }
        if secretKey != nil && secretKeyFile != nil { throw ValidationError("give --secret-key or --secret-key-file, not both") }
        if (accessKey == nil) != (try resolvedSecretKey() == nil) {
            throw ValidationError("give both --access-key and a secret key (--secret-key, --secret-key-file or RMQ_SECRET_KEY)")
        }
        if offsetFile != nil && model != .broadcasting { throw ValidationError("--offset-file is for --model broadcasting") }
        _ = try consumeFrom()
    }

    var nameServers: [String] { namesrv.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }

    func consumeFrom() throws -> ConsumeFrom {
        switch from {
        case "last": return .lastOffset
        case "first": return .firstOffset
        default:
            guard ConsumeTimestamp.parse(from) != nil else { throw ValidationError("--from: last, first or yyyyMMddHHmmss, not \(from)") }
            return .timestamp(from)
        }
    }

    func run() async throws {
        let out = Output()
        defer { out.flush() }  // whatever way the run ends, nothing buffered is lost
        var config = ConsumerConfiguration(
            nameServers: nameServers.map { Address($0) }, topic: topic, group: group, subscriptionExpression: tag,
            consumeFrom: try consumeFrom(), messageModel: model == .clustering ? .clustering : .broadcasting,
            allocation: allocate == .average ? .average : .circle, clientIP: clientIP ?? LocalAddress.firstIPv4(),
            instanceName: instance ?? "DEFAULT", processID: Int64(getpid()),
            nanoTime: Int64(DispatchTime.now().uptimeNanoseconds))
        config.persistInterval = .milliseconds(Int64(persistInterval * 1000))
        config.firstPersistDelay = .milliseconds(Int64(min(10, 2 * persistInterval) * 1000))
        config.pullThresholdForQueue = pullThresholdForQueue
        let secretKey = try resolvedSecretKey()
        if let accessKey, let secretKey { config.credentials = SessionCredentials(accessKey: accessKey, secretKey: secretKey) }
        if let offsetFile { config.initialLocalOffsets = try OffsetFile.read(offsetFile) }

        let log = LiveTraceLog(format: format, source: "rmq-trace consume", writeBytes: { out.bytes($0) })
        var observers: [any FrameObserver] = [log]
        var recorder: PcapFileRecorder?
        if let capture {
            do { recorder = try PcapFileRecorder(path: capture) } catch { throw ToolError("rmq-trace consume: \(error)") }
            observers.append(recorder!)
        }
        let problems = ProblemTally()
        // The credentials' own values, scrubbed wherever a line might quote them.
        let secrets = [accessKey, secretKey].compactMap { $0 }
        let verbose = self.verbose
        // Until the consumer runs, its lines are held back: a failed start prints one line, the error.
        let early = EarlyLines()
        var options = LiveConsumerOptions()
        options.threads = threads
        options.observer = observers.count == 1 ? log : FanOutObserver(observers)
        options.onEvent = { e in
            switch e {
            case .problem(let p):
                problems.add(p)
                early.emit("consumer: " + Redaction.scrub(p.description, knownSecrets: secrets), out)
            case .driver(let s): early.emit("consumer: " + Redaction.scrub(s, knownSecrets: secrets), out)
            case .log(let s): if verbose { early.emit("consumer: " + Redaction.scrub(s, knownSecrets: secrets), out) }
            }
        }
        if let offsetFile {
            options.onPersistLocalOffsets = { offsets in
                do { try OffsetFile.write(offsets, to: offsetFile) } catch { out.err("consumer: offset file \(offsetFile): \(error)") }
            }
        }
        let stop = StopSignal()
        let listener = MessageListener(printMessages: printMessages, ndjson: format == .ndjson, failEvery: failEvery,
                                       maxMessages: maxMessages, workMs: workMs, out: out, onMax: { stop.fire("--max-messages \($0) reached") })

        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let consumer = LiveConsumer(configuration: config, options: options, group: group, listener: listener.consume)
        let started = ContinuousClock.now
        let startedUptime = DispatchTime.now().uptimeNanoseconds
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let queue = DispatchQueue(label: "rmq-trace.consume.signals")
        var sources: [any DispatchSourceSignal] = []
        for (sig, name) in [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")] {
            let src = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            src.setEventHandler { stop.fire(name) }
            src.resume()
            sources.append(src)
        }
        do {
            try await consumer.start()
        } catch {
            await consumer.shutdown()
            recorder?.close()
            try? await group.shutdownGracefully()
            throw ToolError("rmq-trace consume: \(error)")
        }
        early.release(out)
        if let duration {
            Task {
                try? await Task.sleep(for: .milliseconds(Int64(duration * 1000)))
                stop.fire("--duration \(duration) s")
            }
        }
        let why = await stop.wait()
        out.err("consumer: \(why): shutting down (finishing in-flight messages, committing offsets, unregistering)")
        let report = await consumer.shutdown()
        let stats = await consumer.statistics
        let elapsed = ContinuousClock.now - started
        log.finish(closing: "consumer shut down")
        if let e = recorder?.close() { out.err("consumer: \(e)") }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let milestones = listener.milestones(since: startedUptime)
        let lines = ConsumerSummary.lines(clientID: consumer.clientID, group: self.group, statistics: stats, report: report,
                                          problems: problems, seconds: seconds) + milestones.lines
        if format == .ndjson {
            out.lines([ConsumerSummaryJSON.line(clientID: consumer.clientID, group: self.group, statistics: stats, report: report, seconds: seconds,
                                                milestones: milestones)])
        } else if format == .mermaid || format == .html {
            // The diagram or page alone on standard output (a file to open); the report goes to stderr.
            out.errLines(["== Consumer =="] + lines)
        } else {
            out.lines(["== Consumer =="] + lines)
        }
        _ = sources
        try? await group.shutdownGracefully()
        if !report.isClean { throw ExitCode(2) }
    }
}

/// Serialised writes to stdout and stderr (lines from the log, the listener threads and the driver). Standard
/// output is written at once on a terminal; into a pipe or a file it is buffered (64 KiB) and flushed within
/// `flushDelay` of the first line buffered (a write per frame cost a tenth of the consumer's CPU time). Standard
/// error is never buffered; what standard output holds is written before it, so that the two stay in order. The
/// printed messages are written at once (`flush`): they are the listener's work, done before it returns.
final class Output: Sendable {
    private struct Pending {
        var bytes: [UInt8] = []
        var flushScheduled = false
    }
    private let pending = Mutex(Pending())
    private let buffered: Bool
    private let flushDelay: DispatchTimeInterval
    private static let limit = 1 << 16

    init(buffered: Bool = isatty(STDOUT_FILENO) == 0, flushDelay: DispatchTimeInterval = .milliseconds(100)) {
        self.buffered = buffered
        self.flushDelay = flushDelay
    }

    deinit { flush() }

    /// - Parameter flush: written at once, with whatever is buffered before it.
    func lines(_ ls: [String], flush: Bool = false) {
        guard !ls.isEmpty else { return }
        append(flush: flush) { $0.appendLines(ls) }
    }

    /// Lines given as UTF-8, each ending in a newline (the log's byte path).
    func bytes(_ b: [UInt8], flush: Bool = false) {
        guard !b.isEmpty else { return }
        append(flush: flush) { $0.append(contentsOf: b) }
    }

    private func append(flush: Bool, _ add: (inout [UInt8]) -> Void) {
        let schedule: Bool = pending.withLock { p in
            add(&p.bytes)
            if flush || !buffered || p.bytes.count >= Self.limit {
                Self.drain(&p)
                return false
            }
            if p.flushScheduled { return false }
            p.flushScheduled = true
            return true
        }
        if schedule {
            DispatchQueue.global().asyncAfter(deadline: .now() + flushDelay) { [self] in self.flush() }
        }
    }

    /// Writes what standard output holds.
    func flush() {
        pending.withLock { p in
            Self.drain(&p)
            p.flushScheduled = false
        }
    }

    func errLines(_ ls: [String]) {
        guard !ls.isEmpty else { return }
        writeErr(Array((ls.joined(separator: "\n") + "\n").utf8))
    }
    func err(_ s: String) {
        writeErr(Array((RequestLogObserverTime.clock(.now()) + " " + s + "\n").utf8))
    }
    /// Standard error, after what standard output holds.
    private func writeErr(_ bytes: [UInt8]) {
        pending.withLock { p in
            Self.drain(&p)
            Self.writeAll(2, bytes)
        }
    }
    private static func drain(_ p: inout Pending) {
        guard !p.bytes.isEmpty else { return }
        writeAll(1, p.bytes)
        p.bytes.removeAll(keepingCapacity: true)
    }
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { p in
            var off = 0
            while off < p.count {
                let n = Glibc.write(fd, p.baseAddress! + off, p.count - off)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                off += n
            }
        }
    }
}

/// Lines held back until `release` (then written at once, and every later one directly).
final class EarlyLines: Sendable {
    private let held = Mutex<[String]?>([])
    func emit(_ line: String, _ out: Output) {
        let direct: Bool = held.withLock { h in
            guard h != nil else { return true }
            h!.append(line)
            return false
        }
        if direct { out.err(line) }
    }
    func release(_ out: Output) {
        let lines = held.withLock { h -> [String] in defer { h = nil }; return h ?? [] }
        for l in lines { out.err(l) }
    }
}

/// Fires once with the first reason.
final class StopSignal: Sendable {
    private struct State { var reason: String?; var waiter: CheckedContinuation<String, Never>? }
    private let state = Mutex(State())
    func fire(_ reason: String) {
        let w: CheckedContinuation<String, Never>? = state.withLock { s in
            guard s.reason == nil else { return nil }
            s.reason = reason
            defer { s.waiter = nil }
            return s.waiter
        }
        w?.resume(returning: reason)
    }
    func wait() async -> String {
        await withCheckedContinuation { (c: CheckedContinuation<String, Never>) in
            let r: String? = state.withLock { s in
                if let r = s.reason { return r }
                s.waiter = c
                return nil
            }
            if let r { c.resume(returning: r) }
        }
    }
}

/// The default listener: counts, optionally prints, and fails every Nth message once.
final class MessageListener: Sendable {
    let printMessages: Bool
    let ndjson: Bool
    let failEvery: Int?
    let maxMessages: Int?
    let workMs: Int
    let out: Output
    let onMax: @Sendable (Int) -> Void
    private struct State {
        var seen = 0
        var consumed = 0
        var failed: Set<String> = []
        /// When the first message reached the listener and when --max-messages was reached (uptime ns).
        var firstAt: UInt64?
        var reachedAt: UInt64?
    }
    /// Taken by every consume thread for each batch: a pthread mutex, which sleeps when contended, where
    /// Synchronization's Mutex spins (with twenty consume threads on two cores that spinning took 40 % of the
    /// consumer's CPU time).
    private let state = NIOLockedValueBox(State())

    init(printMessages: Bool, ndjson: Bool, failEvery: Int?, maxMessages: Int?, workMs: Int = 0, out: Output, onMax: @escaping @Sendable (Int) -> Void) {
        self.printMessages = printMessages
        self.ndjson = ndjson
        self.failEvery = failEvery
        self.maxMessages = maxMessages
        self.workMs = workMs
        self.out = out
        self.onMax = onMax
    }

    var consume: ConsumeListener {
        { [self] messages in
            if workMs > 0 { usleep(useconds_t(workMs * 1000 * messages.count)) }
            var status = ConsumeStatus.success
            var reached: Int?
            state.withLockedValue { s in
                if s.firstAt == nil { s.firstAt = DispatchTime.now().uptimeNanoseconds }
                for m in messages {
                    s.seen += 1
                    if let n = failEvery, s.seen % n == 0, !s.failed.contains(m.msgId) {
                        s.failed.insert(m.msgId)
                        status = .reconsumeLater
                    }
                }
                if status == .success {
                    let before = s.consumed
                    s.consumed += messages.count
                    if let max = maxMessages, before < max, s.consumed >= max {
                        reached = max
                        s.reachedAt = DispatchTime.now().uptimeNanoseconds
                    }
                }
            }
            if printMessages {
                // Printing is this listener's processing: written before the batch counts as consumed (and
                // can be committed), never left in a buffer a kill -9 would lose.
                out.lines(messages.map { describe($0, status: status) }, flush: true)
            }
            if let reached { onMax(reached) }
            return status
        }
    }

    /// Seconds from `start` (uptime ns) to the first message and to the --max-messages-th, as the Java drain
    /// client measures its rates.
    func milestones(since start: UInt64) -> ConsumeMilestones {
        state.withLockedValue { s in
            func since(_ t: UInt64?) -> Double? { t.map { Double($0 &- start) / 1e9 } }
            return ConsumeMilestones(count: maxMessages ?? 0, firstMessage: since(s.firstAt), reached: since(s.reachedAt))
        }
    }

    func describe(_ m: DeliveredMessage, status: ConsumeStatus) -> String {
        // The record as a StoredMessage, made once (a pulled record is a view: each `message` makes one).
        let message = m.message
        let body = String(decoding: message.storedBody.prefix(200), as: UTF8.self)
        let keys = message.keys
        if ndjson {
            func q(_ s: String?) -> String { s.map(RequestLogObserverTime.quote) ?? "null" }
            return "{\"event\":\"message\",\"topic\":\(q(m.topic)),\"queue\":\(q(m.queue.description)),\"offset\":\(m.queueOffset),\"tags\":\(q(m.tags)),\"keys\":\(q(keys)),\"msg_id\":\(q(m.msgId)),\"reconsume_times\":\(m.reconsumeTimes),\"status\":\(q(status.rawValue)),\"body\":\(q(body))}"
        }
        return "MSG \(m.topic) \(m.queue)@\(m.queueOffset) tags=\(m.tags ?? "-") keys=\(keys ?? "-") msgId=\(m.msgId) reconsumeTimes=\(m.reconsumeTimes) => \(status.rawValue) body=\(body.debugDescription)"
    }
}

/// When consumption began and when --max-messages was reached, from the consumer's start.
struct ConsumeMilestones {
    var count: Int
    var firstMessage: Double? = nil
    var reached: Double? = nil

    /// The rates the Java drain client prints: from start to the count-th message, and from the first message.
    var lines: [String] {
        guard let first = firstMessage else { return [] }
        var l = "  first message \(String(format: "%.3f", first)) s after start"
        if let reached, count > 0 {
            l += "; the \(count)th at \(String(format: "%.3f", reached)) s: \(Int((Double(count) / max(reached, 1e-9)).rounded())) msg/s from start, "
                + "\(Int((Double(count) / max(reached - first, 1e-9)).rounded())) msg/s from the first message"
        }
        return [l]
    }
}

enum ConsumerSummaryJSON {
    static func line(clientID: String, group: String, statistics: LiveConsumerStatistics, report: ShutdownReport, seconds: Double,
                     milestones: ConsumeMilestones = ConsumeMilestones(count: 0)) -> String {
        func q(_ s: String) -> String { RequestLogObserverTime.quote(s) }
        let queues = Set(statistics.consumed.keys).union(statistics.failed.keys).union(report.persistedOffsets.keys).sorted()
        let qs = queues.map { mq in
            "{\"queue\":\(q(mq.description)),\"consumed\":\(statistics.consumed[mq] ?? 0),\"failed\":\(statistics.failed[mq] ?? 0),\"committed\":\(report.persistedOffsets[mq].map(String.init) ?? "null")}"
        }
        let notDone = report.unconsumed.sorted { $0.key < $1.key }.map { "{\"queue\":\(q($0.key.description)),\"offsets\":[\($0.value.map(String.init).joined(separator: ","))]}" }
        return "{\"event\":\"consumer_summary\",\"client\":\(q(clientID)),\"group\":\(q(group)),\"consumed\":\(statistics.consumedTotal),\"failed\":\(statistics.failedTotal),\"seconds\":\(seconds),\"first_message_s\":\(milestones.firstMessage.map { "\($0)" } ?? "null"),\"max_messages_s\":\(milestones.reached.map { "\($0)" } ?? "null"),\"clean\":\(report.isClean),\"queues\":[\(qs.joined(separator: ","))],\"unconsumed\":[\(notDone.joined(separator: ","))],\"unregister_failed\":[\(report.unregisterFailed.keys.sorted().map { q($0.hostPort) }.joined(separator: ","))]}"
    }
}

/// Broadcasting offsets in a file: the fastjson form of Java's offsets.json (`{"offsetTable":{{mq}:offset}}`).
enum OffsetFile {
    static func read(_ path: String) throws -> [MessageQueue: Int64] {
        guard FileManager.default.fileExists(atPath: path) else { return [:] }
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard let table = ResetOffsetBody.decode(ByteBuffer(bytes: Array(data))) else {
            throw ToolError("rmq-trace consume: --offset-file \(path) is not an offset table")
        }
        return table
    }
    static func write(_ offsets: [MessageQueue: Int64], to path: String) throws {
        let tmp = path + ".tmp"
        try Data(ResetOffsetBody.encode(offsets)).write(to: URL(fileURLWithPath: tmp))
        if rename(tmp, path) != 0 { throw ToolError("rename \(tmp): \(String(cString: strerror(errno)))") }
    }
}

enum LocalAddress {
    /// The first up, non-loopback IPv4 address (Java's preference), else 127.0.0.1.
    static func firstIPv4() -> String {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return "127.0.0.1" }
        defer { freeifaddrs(list) }
        var p: UnsafeMutablePointer<ifaddrs>? = first
        while let i = p {
            defer { p = i.pointee.ifa_next }
            guard let sa = i.pointee.ifa_addr, sa.pointee.sa_family == sa_family_t(AF_INET),
                  i.pointee.ifa_flags & UInt32(IFF_LOOPBACK) == 0, i.pointee.ifa_flags & UInt32(IFF_UP) != 0 else { continue }
            var addr = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
            var buf = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            inet_ntop(AF_INET, &addr, &buf, socklen_t(INET_ADDRSTRLEN))
            return String(cString: buf)
        }
        return "127.0.0.1"
    }
}
