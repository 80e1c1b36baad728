@_exported import RMQTraceModel
/// Values that the capture layer hands upwards: a TCP segment seen on the wire, with its endpoints
/// and capture time. No I/O here.

public struct TCPFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let fin = TCPFlags(rawValue: 0x01)
    public static let syn = TCPFlags(rawValue: 0x02)
    public static let rst = TCPFlags(rawValue: 0x04)
    public static let psh = TCPFlags(rawValue: 0x08)
    public static let ack = TCPFlags(rawValue: 0x10)
}

/// A TCP segment as decoded from one captured packet.
public struct TCPSegment: Sendable {
    public var time: CaptureTime
    public var source: Endpoint
    public var destination: Endpoint
    public var sequence: UInt32
    public var acknowledgement: UInt32
    public var flags: TCPFlags
    /// The payload bytes that were captured (may be shorter than `payloadLength` when the snapshot length
    /// cut the packet).
    public var payload: [UInt8]
    /// The payload length the IP header announced. `payloadLength - payload.count` bytes were not captured.
    public var payloadLength: Int
    /// 1-based packet number in the capture file, for error messages.
    public var packetNumber: Int

    public init(time: CaptureTime, source: Endpoint, destination: Endpoint, sequence: UInt32, acknowledgement: UInt32,
                flags: TCPFlags, payload: [UInt8], payloadLength: Int, packetNumber: Int) {
        self.time = time
        self.source = source
        self.destination = destination
        self.sequence = sequence
        self.acknowledgement = acknowledgement
        self.flags = flags
        self.payload = payload
        self.payloadLength = payloadLength
        self.packetNumber = packetNumber
    }
}
