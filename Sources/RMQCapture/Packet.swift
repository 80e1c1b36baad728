@_exported import RMQTraceModel
import NIOCore
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
    /// cut the packet). Read from a mapped capture file it is a slice of the mapping (no copy); from libpcap's
    /// buffer (live captures, pcapng, standard input) a copy.
    public var payload: ByteBuffer
    /// The payload length the IP header announced. `payloadLength - payload.count` bytes were not captured.
    public var payloadLength: Int
    /// 1-based packet number in the capture file, for error messages.
    public var packetNumber: Int

    public init(time: CaptureTime, source: Endpoint, destination: Endpoint, sequence: UInt32, acknowledgement: UInt32,
                flags: TCPFlags, payload: ByteBuffer, payloadLength: Int, packetNumber: Int) {
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

extension TCPSegment {
    /// A segment whose payload is given as an array (builders, tests).
    public init(time: CaptureTime, source: Endpoint, destination: Endpoint, sequence: UInt32, acknowledgement: UInt32,
                flags: TCPFlags, payload: [UInt8], payloadLength: Int, packetNumber: Int) {
        self.init(time: time, source: source, destination: destination, sequence: sequence,
                  acknowledgement: acknowledgement, flags: flags, payload: ByteBuffer(bytes: payload),
                  payloadLength: payloadLength, packetNumber: packetNumber)
    }

    /// The captured payload bytes, copied into an array.
    public var payloadBytes: [UInt8] { Array(payload.readableBytesView) }

    /// The number of payload bytes captured.
    public var capturedLength: Int { payload.readableBytes }
}
