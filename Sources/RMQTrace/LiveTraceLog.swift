import Synchronization
import RMQTraceModel
import RMQTraceCore
import RMQTraceRender

/// The request log of a live tool (the consumer, the embedded broker): the frames it sends and receives, as
/// observed events, through the same exchange tracker, analyzer and renderer as `decode`, so that its timeline
/// reads like a capture's. Thread-safe: the network edge calls `observe` from its event loops.
public final class LiveTraceLog: FrameObserver, Sendable {
    struct State: ~Copyable {
        var tracker: ExchangeTracker
        var renderer: any TraceRenderer
        var events: [TraceEvent] = []
        var findings: [Finding] = []
        var finished = false
    }
    private let state: Mutex<State>
    private let source: String
    private let write: @Sendable ([String]) -> Void

    /// - Parameters: write: receives the lines of each event as they are made (stdout, a file, a test).
    public init(format: OutputFormat, configuration: TrackerConfiguration = TrackerConfiguration(), filter: TraceFilter = TraceFilter(),
                color: Bool = false, source: String, write: @escaping @Sendable ([String]) -> Void) {
        var configuration = configuration
        configuration.emitFrameEvents = format.printsFrames
        state = Mutex(State(tracker: ExchangeTracker(configuration: configuration),
                            renderer: format.renderer(color: color, filter: filter)))
        self.source = source
        self.write = write
    }

    public func observe(_ event: ObservedEvent) {
        let lines: [String] = state.withLock { s in
            guard !s.finished else { return [] }
            s.events.removeAll(keepingCapacity: true)
            s.tracker.observe(event, into: &s.events)
            if case .frame(let f) = event { s.tracker.statistics.payloadBytes += UInt64(f.size) }
            var out: [String] = []
            for e in s.events {
                if case .finding(let f) = e { s.findings.append(f) }
                out += s.renderer.render(e)
            }
            return out
        }
        if !lines.isEmpty { write(lines) }
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
            var out: [String] = []
            for e in s.events {
                if case .finding(let f) = e { s.findings.append(f) }
                out += s.renderer.render(e)
            }
            out += s.renderer.finish(statistics: s.tracker.statistics, analyzer: s.tracker.analyzer, findings: s.findings, source: source)
            return out
        }
        if !lines.isEmpty { write(lines) }
    }
}

/// Hands every observed event to several observers (a log and a pcap recorder, say).
public struct FanOutObserver: FrameObserver {
    public let observers: [any FrameObserver]
    public init(_ observers: [any FrameObserver]) { self.observers = observers }
    public func observe(_ event: ObservedEvent) { for o in observers { o.observe(event) } }
}
