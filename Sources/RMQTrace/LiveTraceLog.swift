import Synchronization
import RMQTraceModel
import RMQTraceCore
import RMQTraceRender

/// The request log of a live tool (the consumer, the embedded broker): the frames it sends and receives, as
/// observed events, through the same exchange tracker, analyzer and renderer as `decode`, so that its timeline
/// reads like a capture's. Thread-safe: the network edge calls `observe` from its event loops.
public final class LiveTraceLog: FrameObserver, Sendable {
    /// Where the log's output goes: lines, or the lines' UTF-8 bytes (each line ending in a newline).
    enum Sink: Sendable {
        case lines(@Sendable ([String]) -> Void)
        case bytes(@Sendable ([UInt8]) -> Void)
    }
    struct State: ~Copyable {
        var tracker: ExchangeTracker
        var renderer: any TraceRenderer
        var events: [TraceEvent] = []
        var findings: [Finding] = []
        /// The bytes of one call's lines (byte sink), reused from call to call.
        var scratch: [UInt8] = []
        var finished = false
    }
    private let state: Mutex<State>
    private let source: String
    private let sink: Sink

    /// - Parameters: write: receives the lines of each event as they are made (stdout, a file, a test).
    public convenience init(format: OutputFormat, configuration: TrackerConfiguration = TrackerConfiguration(),
                            filter: TraceFilter = TraceFilter(), color: Bool = false, source: String,
                            write: @escaping @Sendable ([String]) -> Void) {
        self.init(format: format, configuration: configuration, filter: filter, color: color, source: source, sink: .lines(write))
    }

    /// As `init(format:configuration:filter:color:source:write:)`, the lines handed over as UTF-8, each ending in
    /// a newline: the renderer's byte path (NDJSON frame lines are written with no String and no array per
    /// line). `writeBytes` is called with the log's lock held, so the lines of concurrent calls stay in order;
    /// it must not call back into the log.
    public convenience init(format: OutputFormat, configuration: TrackerConfiguration = TrackerConfiguration(),
                            filter: TraceFilter = TraceFilter(), color: Bool = false, source: String,
                            writeBytes: @escaping @Sendable ([UInt8]) -> Void) {
        self.init(format: format, configuration: configuration, filter: filter, color: color, source: source, sink: .bytes(writeBytes))
    }

    init(format: OutputFormat, configuration: TrackerConfiguration, filter: TraceFilter, color: Bool, source: String, sink: Sink) {
        var configuration = configuration
        configuration.emitFrameEvents = format.printsFrames
        state = Mutex(State(tracker: ExchangeTracker(configuration: configuration),
                            renderer: format.renderer(color: color, filter: filter)))
        self.source = source
        self.sink = sink
    }

    public func observe(_ event: ObservedEvent) {
        let lines: [String] = state.withLock { s in
            guard !s.finished else { return [] }
            s.events.removeAll(keepingCapacity: true)
            s.tracker.observe(event, into: &s.events)
            if case .frame(let f) = event { s.tracker.statistics.payloadBytes += UInt64(f.size) }
            return Self.render(&s, sink)
        }
        if !lines.isEmpty, case .lines(let write) = sink { write(lines) }
    }

    /// The findings so far.
    public var findings: [Finding] { state.withLock { $0.findings } }
    public var statistics: TraceStatistics { state.withLock { $0.tracker.statistics } }

    /// Ends the log: open connections closed with `reason`, whole-run findings, the summary.
    public func finish(closing reason: String = "end of run") {
        let lines: [String] = state.withLock { s in
            guard !s.finished else { return [] }
            s.finished = true
            s.events.removeAll()
            s.tracker.finish(closing: reason, into: &s.events)
            return Self.render(&s, sink) { s in
                s.renderer.finish(statistics: s.tracker.statistics, analyzer: s.tracker.analyzer, findings: s.findings, source: source)
            }
        }
        if !lines.isEmpty, case .lines(let write) = sink { write(lines) }
    }

    /// The lines of `s.events` (their findings collected), then those of `ending`: returned for the lines sink
    /// (written by the caller once the lock is released); written at once for the byte sink, which gets them
    /// as one call's bytes.
    private static func render(_ s: inout State, _ sink: Sink, ending: (inout State) -> [String] = { _ in [] }) -> [String] {
        switch sink {
        case .lines:
            return s.renderer.render(s.events, collecting: &s.findings) + ending(&s)
        case .bytes(let write):
            s.scratch.removeAll(keepingCapacity: true)
            s.renderer.render(s.events, collecting: &s.findings, into: &s.scratch)
            s.scratch.appendLines(ending(&s))
            if !s.scratch.isEmpty { write(s.scratch) }
            return []
        }
    }
}

/// Hands every observed event to several observers (a log and a pcap recorder, say).
public struct FanOutObserver: FrameObserver {
    public let observers: [any FrameObserver]
    public init(_ observers: [any FrameObserver]) { self.observers = observers }
    public func observe(_ event: ObservedEvent) { for o in observers { o.observe(event) } }
}
