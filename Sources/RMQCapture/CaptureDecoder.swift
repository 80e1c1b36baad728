import NIOCore
import RocketMQRemoting

/// The capture edge of the pipeline: TCP segments in, observed events out (connections, frames, gaps). It owns
/// the connection table (reassembly) and one `StreamFramer` per direction; pairing, roles and annotation are
/// the exchange tracker's, which takes the same events from the live tools. A value with no I/O.
public struct CaptureDecoder: Sendable {
    public struct Configuration: Sendable {
        public var maxFrameLength = RemotingFrame.defaultMaxFrameLength
        /// Out-of-order bytes held per TCP direction.
        public var maxBufferedBytesPerDirection = 4 * 1024 * 1024
        public var maxConnections = 4096
        /// Connections silent for this long are flushed and forgotten (seconds of capture time).
        public var idleTimeoutSeconds: Int64 = 900
        /// An acknowledged hole is held this long (capture time) and up to `reorderBytes` before it is declared
        /// lost: captures do not always record segments in send order.
        public var reorderWindowNanos: Int64 = 50_000_000
        public var reorderBytes = 1 << 20
        /// Hand complete frames on undecoded (`.rawFrame`), for a tracker that decodes them straight to typed headers.
        public var rawFrames = false
        public init() {}
    }

    struct Connection: Sendable {
        var observed: ObservedConnection
        /// One framer per direction, created with the direction's first event.
        var toServer: StreamFramer?
        var toClient: StreamFramer?

        func direction(from source: Endpoint) -> FrameDirection { source == observed.client ? .toServer : .toClient }

        /// `event` through its direction's framer, in place (no copy of the framer's buffer). Returns the direction.
        mutating func receive(_ event: ReassemblyEvent, from source: Endpoint, configuration: Configuration,
                              into out: inout [StreamFramer.Output]) -> FrameDirection {
            let direction = direction(from: source)
            if direction == .toServer {
                if toServer == nil { toServer = Self.framer(configuration) }
                toServer!.receive(event, into: &out)
            } else {
                if toClient == nil { toClient = Self.framer(configuration) }
                toClient!.receive(event, into: &out)
            }
            return direction
        }

        static func framer(_ configuration: Configuration) -> StreamFramer {
            var f = StreamFramer(maxFrameLength: configuration.maxFrameLength)
            f.deferDecoding = configuration.rawFrames
            return f
        }

        /// The framers with the endpoint that sends into each.
        var framers: [(source: Endpoint, framer: StreamFramer)] {
            var list: [(source: Endpoint, framer: StreamFramer)] = []
            if let toServer { list.append((observed.client, toServer)) }
            if let toClient { list.append((observed.server, toClient)) }
            return list
        }
    }

    public let configuration: Configuration
    private var table: TCPConnectionTable
    private var connections: [Int: Connection] = [:]
    private var tableEvents: [ConnectionEvent] = []
    private var framerOutput: [StreamFramer.Output] = []
    /// Payload bytes handed to the framers.
    public private(set) var payloadBytes: UInt64 = 0
    /// The latest segment's time: when connections still open at the end are closed.
    public private(set) var lastTime: CaptureTime?

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        self.table = TCPConnectionTable(maxBufferedBytesPerDirection: configuration.maxBufferedBytesPerDirection,
                                        maxConnections: configuration.maxConnections,
                                        idleTimeout: configuration.idleTimeoutSeconds * 1_000_000_000,
                                        ackHoldNanos: configuration.reorderWindowNanos, ackHoldBytes: configuration.reorderBytes)
    }

    public mutating func receive(_ segment: TCPSegment, into events: inout [ObservedEvent]) {
        lastTime = segment.time
        var batch: [ConnectionEvent] = []
        swap(&batch, &tableEvents)
        table.receive(segment, into: &batch)
        handle(&batch, into: &events)
        swap(&batch, &tableEvents)
    }

    /// End of input: every connection flushed and closed ("end of capture").
    public mutating func finish(into events: inout [ObservedEvent]) {
        var batch: [ConnectionEvent] = []
        swap(&batch, &tableEvents)
        table.flushAll(into: &batch)
        handle(&batch, into: &events)
        swap(&batch, &tableEvents)
        for id in connections.keys.sorted() {
            close(id, reason: "end of capture", time: lastTime ?? CaptureTime(nanoseconds: 0), into: &events)
        }
    }

    /// The table's events in order, each moved out of `tableEvents` (left empty, its capacity kept).
    private mutating func handle(_ tableEvents: inout [ConnectionEvent], into events: inout [ObservedEvent]) {
        tableEvents.removeEachInOrder { te in
            switch te {
            case .opened(let id, let client, let server, let key, let time):
                let observed: ObservedConnection
                if let client, let server {
                    observed = ObservedConnection(id: id, client: client, server: server, time: time)
                } else {
                    observed = ObservedConnection(id: id, client: key.low, server: key.high, time: time, orientationKnown: false)
                }
                connections[id] = Connection(observed: observed)
                events.append(.opened(observed))
            case .stream(let id, let direction, let event):
                stream(id: id, source: direction.source, event: event, into: &events)
            case .removed(let id, let reason, let time):
                close(id, reason: Self.text(reason), time: time, into: &events)
            }
        }
    }

    private mutating func stream(id: Int, source: Endpoint, event: ReassemblyEvent, into events: inout [ObservedEvent]) {
        // The framer works in place in the table (one lookup, no copy-on-write of its buffered bytes).
        framerOutput.clearKeepingCapacity()
        guard let direction = connections.modifyValue(forKey: id, { $0.receive(event, from: source, configuration: configuration, into: &framerOutput) }) else { return }
        if case .data(let bytes, _, _) = event { payloadBytes += UInt64(bytes.readableBytes) }
        if framerOutput.isEmpty { return }
        Self.emit(&framerOutput, connection: id, direction: direction, into: &events)
    }

    /// The framer's outputs as observed events, in order, each moved out of `outputs` (left empty): iterating
    /// would copy each output, and clearing the array then destroy it.
    private static func emit(_ outputs: inout [StreamFramer.Output], connection id: Int, direction: FrameDirection,
                      into events: inout [ObservedEvent]) {
        outputs.removeEachInOrder { output in
            switch output {
            case .frame(let cmd, let size, let time, _):
                events.append(.frame(ObservedFrame(connection: id, direction: direction, time: time, command: cmd, size: size)))
            case .rawFrame(let bytes, let time, let offset):
                events.append(.rawFrame(connection: id, direction: direction, time: time, bytes: bytes, streamOffset: offset))
            case .skipped(let kind, let count, let offset, let time, let detail):
                events.append(.gap(ObservedGap(connection: id, direction: direction, time: time, kind: kind, byteCount: count,
                                               streamOffset: offset, detail: detail)))
            }
        }
    }

    private mutating func close(_ id: Int, reason: String, time: CaptureTime, into events: inout [ObservedEvent]) {
        guard let conn = connections.removeValue(forKey: id) else { return }
        for (source, var framer) in conn.framers.sorted(by: { $0.source.description < $1.source.description }) {
            framerOutput.clearKeepingCapacity()
            framer.finish(time: time, into: &framerOutput)
            Self.emit(&framerOutput, connection: id, direction: conn.direction(from: source), into: &events)
        }
        events.append(.closed(connection: id, reason: reason, time: time))
    }

    static func text(_ reason: RemovalReason) -> String {
        switch reason {
        case .closed: return "closed"
        case .reset: return "reset"
        case .idle: return "idle for longer than the idle timeout"
        case .evicted: return "evicted: too many connections tracked"
        case .replaced: return "replaced by a new connection on the same ports"
        case .endOfCapture: return "end of capture"
        }
    }
}
