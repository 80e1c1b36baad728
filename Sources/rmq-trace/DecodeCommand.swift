import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import RMQCapture
import RMQTrace
import RocketMQRemoting

/// The capture being read, reachable from the SIGINT handler (which cannot capture context).
nonisolated(unsafe) private var activeStopper: CaptureStopper?

struct DecodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Decode captured RocketMQ traffic into an annotated timeline of the consume flow.",
        discussion: """
            Reads pcap or pcapng (any size, streaming; `-` is standard input) or captures live from an interface, \
            reassembles TCP, pairs requests with responses and prints one line per exchange, then a summary: counts and \
            latency percentiles per code, consumer progress per queue and the findings (what went wrong, with the frames \
            that prove it). Ctrl-C ends a live capture (or a long file) with the summary.

            Exit status: 0 when the input was decoded, 1 when it could not be read at all, 2 when it ended abnormally \
            (e.g. a file cut in the middle of a packet) after what could be decoded was printed.
            """
    )

    @Argument(help: "A pcap or pcapng file, or - for standard input.")
    var file: String?

    @Option(name: [.short, .long], help: "Capture live from this interface instead of reading a file.")
    var interface: String?

    @Option(name: .long, help: "BPF filter (default for live captures: the RocketMQ ports).")
    var bpf: String?

    @Option(name: .long, help: "Stop a live capture after this many seconds.")
    var duration: Double?

    @Option(name: .long, help: "Output: text (timeline and summary), ndjson (one JSON object per line) or summary.")
    var format: OutputFormat = .text

    @Option(name: .long, parsing: .upToNextOption, help: "Show only these request codes (numbers or names).")
    var code: [String] = []

    @Option(name: .long, parsing: .upToNextOption, help: "Show only exchanges about these topics.")
    var topic: [String] = []

    @Option(name: .long, parsing: .upToNextOption, help: "Show only exchanges of these consumer or producer groups.")
    var group: [String] = []

    @Option(name: .long, parsing: .upToNextOption, help: "Show only exchanges of clients whose clientID or address contains this text.")
    var client: [String] = []

    @Option(name: .long, parsing: .upToNextOption, help: "Extra name-server ports (9876 is always one).")
    var namesrvPort: [UInt16] = []

    @Option(name: .long, parsing: .upToNextOption, help: "Extra broker ports (10911, 10909 and 8080 always are).")
    var brokerPort: [UInt16] = []

    @Option(name: .long, help: "Largest frame accepted, in bytes (Java's default is 16 MiB).")
    var maxFrameLength: Int = RemotingFrame.defaultMaxFrameLength

    @Option(name: .long, help: "Out-of-order bytes buffered per TCP direction before a hole is declared lost.")
    var maxBufferedBytes: Int = 4 * 1024 * 1024

    @Option(name: .long, help: "Connections tracked at once; the least recently active one is flushed beyond this.")
    var maxConnections: Int = 4096

    @Flag(name: .long, help: "Colour the text timeline (default: when standard output is a terminal).")
    var color = false

    @Flag(name: .long, help: "Never colour the output.")
    var noColor = false

    @Option(name: .long, help: ArgumentHelp("Write the output to this file instead of standard output (e.g. --format html --output report.html).", valueName: "file"))
    var output: String?

    @Option(name: .long, help: ArgumentHelp("How long (capture time, ms) a hole the peer already acknowledged, and a response whose request was not seen yet, are held for packets the capture recorded out of order.", valueName: "ms"))
    var reorderWindow: Double = 50

    func validate() throws {
        if file == nil && interface == nil { throw ValidationError("give a capture file (or - for stdin) or --interface") }
        if file != nil && interface != nil { throw ValidationError("give either a file or --interface, not both") }
        if maxFrameLength < 8 { throw ValidationError("--max-frame-length must be at least 8") }
    }

    func filter() throws -> TraceFilter {
        var f = TraceFilter()
        for c in code {
            guard let n = Int32(c) ?? RequestCode.info(named: c)?.code else { throw ValidationError("unknown request code \(c)") }
            f.codes.insert(n)
        }
        f.topics = Set(topic)
        f.groups = Set(group)
        f.clients = client
        return f
    }

    func run() throws {
        var config = DecodeConfiguration()
        config.maxFrameLength = maxFrameLength
        config.maxBufferedBytesPerDirection = maxBufferedBytes
        config.maxConnections = maxConnections
        config.nameServerPorts.formUnion(namesrvPort)
        config.brokerPorts.formUnion(brokerPort)
        config.capture.reorderWindowNanos = Int64(max(0, reorderWindow) * 1_000_000)
        config.tracker.holdUnmatchedNanos = Int64(max(0, reorderWindow) * 1_000_000)

        let reader: PcapReader
        let source: String
        do {
            if let interface {
                let ports = (config.nameServerPorts.union(config.brokerPorts)).sorted().map { "tcp port \($0)" }
                reader = try PcapReader(liveInterface: interface, bpf: bpf ?? ports.joined(separator: " or "))
                if let duration { reader.deadline = ContinuousClock.now + .milliseconds(Int64(duration * 1000)) }
                source = "live capture on \(interface)"
            } else {
                let path = file ?? "-"
                reader = try PcapReader(path: path)
                if let bpf { try reader.setFilter(bpf) }
                source = path == "-" ? "standard input" : path
            }
            try reader.checkLinkType()
        } catch {
            throw ToolError("\(error)")
        }
        activeStopper = reader.stopper
        signal(SIGINT) { _ in activeStopper?.stopFromSignalHandler() }
        signal(SIGTERM) { _ in activeStopper?.stopFromSignalHandler() }

        var out = OutputBuffer()
        if let output {
            out.fd = open(output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            guard out.fd >= 0 else { throw ToolError("cannot write \(output): \(String(cString: strerror(errno)))") }
        }
        defer { if out.fd != STDOUT_FILENO { close(out.fd) } }
        let isTTY = output == nil && isatty(STDOUT_FILENO) != 0
        var session = DecodeSession(format: format, configuration: config, filter: try filter(),
                                    color: (color || isTTY) && !noColor, source: source)
        for l in session.header(linkType: reader.linkTypeName) { out.line(l) }
        var inputError: String? = nil
        var progress = ProgressLine(path: reader.isLive ? nil : file, format: format)
        do {
            try reader.forEachDecoded { packet in
                let before = out.bytes.count
                session.packet(packet, into: &out.bytes)
                progress?.update(bytes: reader.bytesRead, frames: session.decoder.statistics.frames)
                if out.bytes.count != before {
                    // A live capture shows the timeline as traffic arrives.
                    if reader.isLive { out.flush() } else { out.flushIfFull() }
                }
                return true
            }
        } catch {
            inputError = "\(error)"
        }
        progress?.clear()
        session.finish(inputError: inputError, into: &out.bytes)
        if let inputError { printError("rmq-trace: \(inputError)") }
        out.flush()
        activeStopper = nil
        if inputError != nil { throw ExitCode(2) }
    }
}

/// The progress line on stderr while a large file decodes: bytes, frames, rate and time left. Only when stderr
/// is a terminal, the input a regular file of at least 64 MiB and the output not NDJSON, so pipes, scripts and
/// tests never see it.
struct ProgressLine {
    let total: UInt64
    let start = ContinuousClock.now
    var lastShown = ContinuousClock.now
    var calls = 0
    var shown = false

    init?(path: String?, format: OutputFormat) {
        guard let path, path != "-", format != .ndjson, isatty(STDERR_FILENO) != 0 else { return nil }
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_size >= 64 << 20 else { return nil }
        total = UInt64(st.st_size)
    }

    mutating func update(bytes: UInt64, frames: Int) {
        calls &+= 1
        guard calls & 0xFFF == 0 else { return }
        let now = ContinuousClock.now
        guard now - lastShown >= .milliseconds(250) else { return }
        lastShown = now
        let elapsed = Self.seconds(now - start)
        let rate = elapsed > 0 ? Double(bytes) / elapsed : 0
        let left = rate > 0 ? Double(total &- min(bytes, total)) / rate : 0
        let pct = Double(bytes) * 100 / Double(max(total, 1))
        let line = String(format: "\r%5.1f%%  %.0f / %.0f MB  %d frames  %.0f MB/s  %.0f s left ",
                          pct, Double(bytes) / 1e6, Double(total) / 1e6, frames, rate / 1e6, left)
        printRaw(line)
        shown = true
    }

    /// Removes the line before the summary is printed.
    func clear() {
        if shown { printRaw("\r\u{1B}[K") }
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}

func printRaw(_ s: String) {
    let bytes = Array(s.utf8)
    bytes.withUnsafeBytes { _ = write(STDERR_FILENO, $0.baseAddress!, $0.count) }
}

func printError(_ s: String) {
    let line = Array((s + "\n").utf8)
    line.withUnsafeBytes { _ = write(STDERR_FILENO, $0.baseAddress!, $0.count) }
}

/// Buffered standard output.
struct OutputBuffer {
    /// Lines not written yet (UTF-8, each ending in a newline); renderers append to it directly.
    var bytes: [UInt8] = []
    var fd: Int32 = STDOUT_FILENO
    init() { bytes.reserveCapacity(1 << 16 + 4096) }
    mutating func line(_ s: String) {
        bytes.append(contentsOf: s.utf8)
        bytes.append(0x0A)
        flushIfFull()
    }
    mutating func flushIfFull() {
        if bytes.count >= 1 << 16 { flush() }
    }
    mutating func flush() {
        bytes.withUnsafeBytes { p in
            var off = 0
            while off < p.count {
                let n = write(fd, p.baseAddress! + off, p.count - off)
                if n <= 0 { break }
                off += n
            }
        }
        bytes.removeAll(keepingCapacity: true)
    }
}

extension OutputFormat: ExpressibleByArgument {}
