/// Synthesizes the packets of one TCP conversation, keeping running sequence and acknowledgement numbers.
///
/// Hostile cases are built from its output and its raw `segment` call:
/// - reorder / drop / duplicate (retransmit): rearrange, leave out or repeat records of the returned arrays;
/// - overlap: `segment(from:sequence:payload:at:)` with a sequence number inside already-sent data;
/// - mid-stream start: skip `handshake` (the first packet is then a data segment);
/// - bytes never captured: `skip(from:bytes:)` advances the sequence without emitting anything;
/// - snaplen truncation: `record.truncated(to:)`.
public struct TCPSynthesizer: Sendable {
    public enum Side: Sendable, Equatable {
        case client, server
        public var other: Side { self == .client ? .server : .client }
    }

    public let client: Endpoint
    public let server: Endpoint
    /// Link layer of the emitted frames (any type `PacketBuilder.frame` supports; Ethernet by default).
    public var linkType: Int32
    /// The next sequence number each side will send.
    public var clientSequence: UInt32
    public var serverSequence: UInt32
    public var window: UInt16 = 65535
    /// Time between consecutive packets of one `send` or `handshake` call, in nanoseconds.
    public var spacing: Int64 = 1000
    private var identification: UInt16 = 1

    /// - Parameters: clientISN / serverISN: initial sequence numbers. Without a handshake, the first data byte
    ///   of each side has sequence number ISN + 1.
    public init(client: Endpoint, server: Endpoint, clientISN: UInt32 = 1_000, serverISN: UInt32 = 500_000,
                linkType: Int32 = LinkLayer.ethernet) {
        self.client = client
        self.server = server
        self.linkType = linkType
        self.clientSequence = clientISN &+ 1
        self.serverSequence = serverISN &+ 1
    }

    public func endpoint(_ side: Side) -> Endpoint { side == .client ? client : server }
    public func nextSequence(_ side: Side) -> UInt32 { side == .client ? clientSequence : serverSequence }

    /// SYN, SYN-ACK, ACK at `time`, `time + spacing`, `time + 2 × spacing`.
    public mutating func handshake(at time: CaptureTime) -> [PacketRecord] {
        let clientISN = clientSequence &- 1, serverISN = serverSequence &- 1
        return [
            segment(from: .client, sequence: clientISN, acknowledgement: 0, flags: .syn, at: time),
            segment(from: .server, sequence: serverISN, acknowledgement: clientSequence, flags: [.syn, .ack],
                    at: CaptureTime(nanoseconds: time.nanoseconds + spacing)),
            segment(from: .client, sequence: clientSequence, acknowledgement: serverSequence, flags: .ack,
                    at: CaptureTime(nanoseconds: time.nanoseconds + 2 * spacing)),
        ]
    }

    /// Data from `side`, cut into segments of at most `segmentSize` bytes (one segment when nil), each
    /// acknowledging everything the other side has sent; PSH on the last one. Advances the sender's sequence.
    /// No packets for empty `bytes`.
    public mutating func send(from side: Side, bytes: [UInt8], at time: CaptureTime,
                              segmentSize: Int? = nil) -> [PacketRecord] {
        if bytes.isEmpty { return [] }
        let size = max(1, segmentSize ?? bytes.count)
        var records: [PacketRecord] = []
        var start = 0
        var index: Int64 = 0
        repeat {
            let end = min(bytes.count, start + size)
            let chunk = Array(bytes[start..<end])
            let flags: TCPFlags = end == bytes.count ? [.ack, .psh] : .ack
            records.append(segment(from: side, sequence: nextSequence(side), acknowledgement: nextSequence(side.other),
                                   flags: flags, payload: chunk,
                                   at: CaptureTime(nanoseconds: time.nanoseconds + index * spacing)))
            advance(side, by: chunk.count)
            start = end
            index += 1
        } while start < bytes.count
        return records
    }

    /// A pure ACK from `side`.
    public mutating func ack(from side: Side, at time: CaptureTime) -> PacketRecord {
        segment(from: side, sequence: nextSequence(side), acknowledgement: nextSequence(side.other), flags: .ack, at: time)
    }

    /// FIN+ACK from `side` (consumes one sequence number).
    public mutating func fin(from side: Side, at time: CaptureTime) -> PacketRecord {
        let record = segment(from: side, sequence: nextSequence(side), acknowledgement: nextSequence(side.other),
                             flags: [.fin, .ack], at: time)
        advance(side, by: 1)
        return record
    }

    /// RST+ACK from `side`.
    public mutating func rst(from side: Side, at time: CaptureTime) -> PacketRecord {
        segment(from: side, sequence: nextSequence(side), acknowledgement: nextSequence(side.other),
                flags: [.rst, .ack], at: time)
    }

    /// Advances `side`'s sequence number as if `bytes` bytes had been sent but not captured.
    public mutating func skip(from side: Side, bytes: Int) { advance(side, by: bytes) }

    /// A raw segment from `side` with the given numbers; does not change the running sequence numbers (use it for
    /// overlaps and odd retransmissions). `acknowledgement` nil acknowledges everything the other side sent.
    public mutating func segment(from side: Side, sequence: UInt32, acknowledgement: UInt32? = nil,
                                 flags: TCPFlags = .ack, payload: [UInt8] = [], at time: CaptureTime) -> PacketRecord {
        identification &+= 1
        let data = PacketBuilder.tcpFrame(linkType: linkType, source: endpoint(side), destination: endpoint(side.other),
                                          sequence: sequence, acknowledgement: acknowledgement ?? nextSequence(side.other),
                                          flags: flags, window: window, payload: payload, identification: identification)
        return PacketRecord(time: time, data: data)
    }

    private mutating func advance(_ side: Side, by count: Int) {
        let delta = UInt32(truncatingIfNeeded: count)
        if side == .client { clientSequence &+= delta } else { serverSequence &+= delta }
    }
}
