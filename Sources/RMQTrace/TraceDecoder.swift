import RMQTraceModel
import RMQCapture
import RMQTraceCore

/// Everything `decode` can be told: the capture edge's limits and the tracker's settings.
public struct DecodeConfiguration: Sendable {
    public var capture = CaptureDecoder.Configuration()
    public var tracker = TrackerConfiguration()
    public init() {}

    public var maxFrameLength: Int {
        get { capture.maxFrameLength }
        set { capture.maxFrameLength = newValue }
    }
    public var maxBufferedBytesPerDirection: Int {
        get { capture.maxBufferedBytesPerDirection }
        set { capture.maxBufferedBytesPerDirection = newValue }
    }
    public var maxConnections: Int {
        get { capture.maxConnections }
        set { capture.maxConnections = newValue }
    }
    public var nameServerPorts: Set<UInt16> {
        get { tracker.nameServerPorts }
        set { tracker.nameServerPorts = newValue }
    }
    public var brokerPorts: Set<UInt16> {
        get { tracker.brokerPorts }
        set { tracker.brokerPorts = newValue }
    }
}

/// A capture's pipeline: the capture edge (TCP reassembly, framing, gaps) feeding the exchange tracker
/// (pairing, roles, latency, statistics, analysis). A value with no I/O; the pcap reader, a live capture and
/// the tests drive it.
public struct TraceDecoder: Sendable {
    public private(set) var capture: CaptureDecoder
    public private(set) var tracker: ExchangeTracker
    private var observed: [ObservedEvent] = []

    public init(configuration: DecodeConfiguration = DecodeConfiguration()) {
        capture = CaptureDecoder(configuration: configuration.capture)
        tracker = ExchangeTracker(configuration: configuration.tracker)
    }

    public var statistics: TraceStatistics { tracker.statistics }
    public var analyzer: ConsumeFlowAnalyzer { tracker.analyzer }

    public mutating func notePacket(skipped: Bool, malformed: Bool) {
        tracker.statistics.packets += 1
        if skipped { tracker.statistics.skippedPackets += 1 }
        if malformed { tracker.statistics.malformedPackets += 1 }
    }

    public mutating func receive(_ segment: TCPSegment, into events: inout [TraceEvent]) {
        tracker.statistics.tcpSegments += 1
        if tracker.statistics.firstTime == nil { tracker.statistics.firstTime = segment.time }
        tracker.statistics.lastTime = max(tracker.statistics.lastTime ?? segment.time, segment.time)
        let before = capture.payloadBytes
        observed.clearKeepingCapacity()
        capture.receive(segment, into: &observed)
        tracker.statistics.payloadBytes += capture.payloadBytes - before
        observeAll(into: &events)
    }

    /// Hands the observed events to the tracker in order, each moved out of the scratch array (iterating
    /// would copy each, then clearing the array destroy it).
    private mutating func observeAll(into events: inout [TraceEvent]) {
        var batch: [ObservedEvent] = []
        swap(&batch, &observed)
        batch.removeEachInOrder { tracker.observe($0, into: &events) }
        swap(&batch, &observed)
    }

    /// End of input: flush every connection, report requests left unanswered and the whole-capture findings.
    public mutating func finish(into events: inout [TraceEvent]) {
        let before = capture.payloadBytes
        observed.clearKeepingCapacity()
        capture.finish(into: &observed)
        tracker.statistics.payloadBytes += capture.payloadBytes - before
        observeAll(into: &events)
        tracker.finish(into: &events)
    }
}
