import Foundation

/// Pure-Swift writers for classic pcap and pcapng, for tests and fixtures. No libpcap involved.

/// One packet to write: capture time, captured bytes and the length it had on the wire.
public struct PacketRecord: Sendable, Equatable {
    public var time: CaptureTime
    public var data: [UInt8]
    /// The packet's length on the wire; larger than `data.count` when the snapshot length cut it.
    public var originalLength: Int

    public init(time: CaptureTime, data: [UInt8], originalLength: Int? = nil) {
        self.time = time
        self.data = data
        self.originalLength = max(originalLength ?? data.count, data.count)
    }

    /// The record as a capture with snapshot length `snaplen` would hold it (`data` cut, `originalLength` kept).
    public func truncated(to snaplen: Int) -> PacketRecord {
        guard snaplen >= 0, snaplen < data.count else { return self }
        return PacketRecord(time: time, data: Array(data[0..<snaplen]), originalLength: originalLength)
    }

    /// The same record at another time.
    public func at(_ time: CaptureTime) -> PacketRecord {
        var copy = self
        copy.time = time
        return copy
    }
}

public enum PcapTimestampPrecision: Sendable {
    case microseconds, nanoseconds
}

/// Little-endian byte appending helpers.
extension Array where Element == UInt8 {
    fileprivate mutating func appendLE16(_ v: UInt16) {
        append(UInt8(truncatingIfNeeded: v)); append(UInt8(truncatingIfNeeded: v >> 8))
    }
    fileprivate mutating func appendLE32(_ v: UInt32) {
        for shift in stride(from: 0, to: 32, by: 8) { append(UInt8(truncatingIfNeeded: v >> UInt32(shift))) }
    }
}

/// Splits a capture time into whole seconds and the fraction in `unitsPerSecond` (floor division, so times
/// before the epoch keep a positive fraction).
private func split(_ time: CaptureTime, unitsPerSecond: Int64) -> (seconds: Int64, fraction: Int64) {
    let ns = time.nanoseconds
    var seconds = ns / 1_000_000_000
    var rest = ns % 1_000_000_000
    if rest < 0 { seconds -= 1; rest += 1_000_000_000 }
    return (seconds, rest / (1_000_000_000 / unitsPerSecond))
}

private func writeFile(_ bytes: [UInt8], to path: String) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

/// Classic pcap (version 2.4, little-endian), microsecond (magic 0xa1b2c3d4) or nanosecond (0xa1b23c4d) timestamps.
public struct PcapWriter: Sendable {
    public let linkType: Int32
    public let precision: PcapTimestampPrecision
    public let snaplen: Int
    /// The file so far: the global header followed by one record per `append`.
    public private(set) var bytes: [UInt8] = []

    public init(linkType: Int32 = LinkLayer.ethernet, precision: PcapTimestampPrecision = .nanoseconds,
                snaplen: Int = 262_144) {
        self.linkType = linkType
        self.precision = precision
        self.snaplen = snaplen
        bytes.appendLE32(precision == .nanoseconds ? 0xa1b2_3c4d : 0xa1b2_c3d4)
        bytes.appendLE16(2)
        bytes.appendLE16(4)
        bytes.appendLE32(0)  // thiszone
        bytes.appendLE32(0)  // sigfigs
        bytes.appendLE32(UInt32(truncatingIfNeeded: snaplen))
        bytes.appendLE32(UInt32(bitPattern: linkType))
    }

    public mutating func append(_ record: PacketRecord) {
        let (seconds, fraction) = split(record.time, unitsPerSecond: precision == .nanoseconds ? 1_000_000_000 : 1_000_000)
        bytes.appendLE32(UInt32(truncatingIfNeeded: seconds))
        bytes.appendLE32(UInt32(truncatingIfNeeded: fraction))
        bytes.appendLE32(UInt32(truncatingIfNeeded: record.data.count))
        bytes.appendLE32(UInt32(truncatingIfNeeded: record.originalLength))
        bytes.append(contentsOf: record.data)
    }

    public mutating func append<S: Sequence>(contentsOf records: S) where S.Element == PacketRecord {
        for record in records { append(record) }
    }

    /// A whole file in one call.
    /// A copy with `records` appended.
    public func appending<S: Sequence>(_ records: S) -> PcapWriter where S.Element == PacketRecord {
        var copy = self
        copy.append(contentsOf: records)
        return copy
    }

    public static func file(_ records: [PacketRecord], linkType: Int32 = LinkLayer.ethernet,
                            precision: PcapTimestampPrecision = .nanoseconds) -> [UInt8] {
        var writer = PcapWriter(linkType: linkType, precision: precision)
        writer.append(contentsOf: records)
        return writer.bytes
    }

    public func write(toFile path: String) throws { try writeFile(bytes, to: path) }
}

/// pcapng (little-endian): one Section Header Block, one Interface Description Block (with `if_tsresol` 9 for
/// nanoseconds or 6 for microseconds) and one Enhanced Packet Block per packet.
public struct PcapNGWriter: Sendable {
    public let linkType: Int32
    public let precision: PcapTimestampPrecision
    public let snaplen: Int
    public private(set) var bytes: [UInt8] = []

    public init(linkType: Int32 = LinkLayer.ethernet, precision: PcapTimestampPrecision = .nanoseconds,
                snaplen: Int = 262_144) {
        self.linkType = linkType
        self.precision = precision
        self.snaplen = snaplen
        // Section Header Block
        bytes.appendLE32(0x0a0d_0d0a)
        bytes.appendLE32(28)
        bytes.appendLE32(0x1a2b_3c4d)
        bytes.appendLE16(1)
        bytes.appendLE16(0)
        bytes.appendLE32(0xffff_ffff)  // section length: unknown (-1, 64 bits)
        bytes.appendLE32(0xffff_ffff)
        bytes.appendLE32(28)
        // Interface Description Block
        bytes.appendLE32(1)
        bytes.appendLE32(32)
        bytes.appendLE16(UInt16(truncatingIfNeeded: linkType))
        bytes.appendLE16(0)
        bytes.appendLE32(UInt32(truncatingIfNeeded: snaplen))
        bytes.appendLE16(9)  // if_tsresol
        bytes.appendLE16(1)
        bytes.append(precision == .nanoseconds ? 9 : 6)
        bytes.append(contentsOf: [0, 0, 0])
        bytes.appendLE16(0)  // opt_endofopt
        bytes.appendLE16(0)
        bytes.appendLE32(32)
    }

    public mutating func append(_ record: PacketRecord) {
        let perSecond: Int64 = precision == .nanoseconds ? 1_000_000_000 : 1_000_000
        let (seconds, fraction) = split(record.time, unitsPerSecond: perSecond)
        let stamp = UInt64(bitPattern: seconds &* perSecond &+ fraction)
        let padded = (record.data.count + 3) & ~3
        let total = UInt32(truncatingIfNeeded: 32 + padded)
        bytes.appendLE32(6)
        bytes.appendLE32(total)
        bytes.appendLE32(0)  // interface id
        bytes.appendLE32(UInt32(truncatingIfNeeded: stamp >> 32))
        bytes.appendLE32(UInt32(truncatingIfNeeded: stamp))
        bytes.appendLE32(UInt32(truncatingIfNeeded: record.data.count))
        bytes.appendLE32(UInt32(truncatingIfNeeded: record.originalLength))
        bytes.append(contentsOf: record.data)
        bytes.append(contentsOf: repeatElement(0, count: padded - record.data.count))
        bytes.appendLE32(total)
    }

    public mutating func append<S: Sequence>(contentsOf records: S) where S.Element == PacketRecord {
        for record in records { append(record) }
    }

    /// A copy with `records` appended.
    public func appending<S: Sequence>(_ records: S) -> PcapNGWriter where S.Element == PacketRecord {
        var copy = self
        copy.append(contentsOf: records)
        return copy
    }

    public static func file(_ records: [PacketRecord], linkType: Int32 = LinkLayer.ethernet,
                            precision: PcapTimestampPrecision = .nanoseconds) -> [UInt8] {
        var writer = PcapNGWriter(linkType: linkType, precision: precision)
        writer.append(contentsOf: records)
        return writer.bytes
    }

    public func write(toFile path: String) throws { try writeFile(bytes, to: path) }
}
