import RMQTraceModel
import RMQCapture
import RMQTraceCore
import RMQTraceRender
import RocketMQRemoting

/// Drives a TraceDecoder and one renderer over a stream of captured packets and returns output lines. The
/// `decode` command and the golden tests use exactly this, so the tests check what users see.
public struct DecodeSession {
    public let format: OutputFormat
    private var renderer: any TraceRenderer
    public let source: String
    public private(set) var decoder: TraceDecoder
    private var events: [TraceEvent] = []
    public private(set) var findings: [Finding] = []

    public init(format: OutputFormat, configuration: DecodeConfiguration = DecodeConfiguration(), filter: TraceFilter = TraceFilter(),
                color: Bool = false, source: String) {
        self.format = format
        self.renderer = format.renderer(color: color && format == .text, filter: filter)
        self.source = source
        var configuration = configuration
        if !format.printsFrames {
            configuration.tracker.emitFrameEvents = false
            configuration.capture.rawFrames = true
        }
        self.decoder = TraceDecoder(configuration: configuration)
    }

    public func header(linkType: String) -> [String] {
        format == .text ? ["rmq-trace decode: \(source) (link type \(linkType))"] : []
    }

    public mutating func packet(_ packet: DecodedPacket, into lines: inout [String]) {
        guard receive(packet) else { return }
        lines += renderer.render(events, collecting: &findings)
    }

    /// `packet(_:into:)` with the output as UTF-8 lines, each ending in a newline, appended to `out` (what
    /// `decode` writes; NDJSON frame lines are written there directly).
    public mutating func packet(_ packet: DecodedPacket, into out: inout [UInt8]) {
        guard receive(packet) else { return }
        renderer.render(events, collecting: &findings, into: &out)
    }

    /// Counts the packet; for a TCP segment, its events are in `events` and the result is true.
    private mutating func receive(_ packet: DecodedPacket) -> Bool {
        switch packet {
        case .tcp(let segment):
            decoder.notePacket(skipped: false, malformed: false)
            events.clearKeepingCapacity()
            decoder.receive(segment, into: &events)
            return true
        case .skipped:
            decoder.notePacket(skipped: true, malformed: false)
        case .malformed:
            decoder.notePacket(skipped: false, malformed: true)
        }
        return false
    }

    /// End of input: flushes connections, adds findings and the summary. `inputError` (a file cut in the
    /// middle of a packet, say) is reported in the output as well.
    public mutating func finish(inputError: String?, into lines: inout [String]) {
        finishEvents(inputError: inputError)
        lines += renderer.render(events, collecting: &findings)
        lines += renderer.finish(statistics: decoder.statistics, analyzer: decoder.analyzer, findings: findings, source: source)
    }

    /// `finish(inputError:into:)` as UTF-8 lines appended to `out`.
    public mutating func finish(inputError: String?, into out: inout [UInt8]) {
        finishEvents(inputError: inputError)
        renderer.render(events, collecting: &findings, into: &out)
        out.appendLines(renderer.finish(statistics: decoder.statistics, analyzer: decoder.analyzer, findings: findings, source: source))
    }

    private mutating func finishEvents(inputError: String?) {
        events.clearKeepingCapacity()
        if let inputError { events.append(.inputError(inputError)) }
        decoder.finish(into: &events)
    }

    /// Decodes a whole capture file. Returns the lines and the input error, if the file ended abnormally.
    /// Throws when the file cannot be read at all.
    public static func decodeFile(_ path: String, format: OutputFormat, configuration: DecodeConfiguration = DecodeConfiguration(),
                                  filter: TraceFilter = TraceFilter(), sourceName: String? = nil) throws -> (lines: [String], inputError: String?) {
        let reader = try PcapReader(path: path)
        try reader.checkLinkType()
        var session = DecodeSession(format: format, configuration: configuration, filter: filter, source: sourceName ?? path)
        var lines = session.header(linkType: reader.linkTypeName)
        var inputError: String? = nil
        do {
            try reader.forEachDecoded { p in
                session.packet(p, into: &lines)
                return true
            }
        } catch {
            inputError = "\(error)"
        }
        session.finish(inputError: inputError, into: &lines)
        return (lines, inputError)
    }
}
