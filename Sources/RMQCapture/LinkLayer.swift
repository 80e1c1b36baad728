import NIOCore

/// Decoding of one captured frame (link layer → IPv4/IPv6 → TCP) into a `TCPSegment`. Pure: no I/O, no global
/// state. Every read is bounds-checked against the captured bytes, so no input can make it trap.

/// The outcome of decoding one captured packet.
public enum DecodedPacket: Sendable {
    /// A TCP segment (possibly with a snaplen-truncated payload: `payload.count < payloadLength`).
    case tcp(TCPSegment)
    /// A well-formed packet that is not for us: ARP, UDP, ICMP, IP fragments, unknown EtherTypes …
    case skipped(String)
    /// A packet whose headers contradict themselves or the captured length. The reason names the layer and
    /// the byte offset in the frame.
    case malformed(String)

    public var segment: TCPSegment? {
        if case .tcp(let s) = self { return s }
        return nil
    }

    public var isMalformed: Bool {
        if case .malformed = self { return true }
        return false
    }

    public var isSkipped: Bool {
        if case .skipped = self { return true }
        return false
    }

    /// The reason of `.skipped` / `.malformed`; "tcp" for a segment.
    public var reason: String {
        switch self {
        case .tcp: return "tcp"
        case .skipped(let r), .malformed(let r): return r
        }
    }
}

/// Link types (DLT / LINKTYPE numbers) and the frame decoder.
public enum LinkLayer {
    public static let null: Int32 = 0          // BSD loopback, 4-byte address family in host byte order
    public static let ethernet: Int32 = 1      // DLT_EN10MB
    public static let raw: Int32 = 12          // DLT_RAW on Linux and most systems
    public static let rawOpenBSD: Int32 = 14   // DLT_RAW on OpenBSD
    public static let linkTypeRaw: Int32 = 101 // LINKTYPE_RAW, as found in pcap files
    public static let loop: Int32 = 108        // OpenBSD loopback, address family in network byte order
    public static let linuxSLL: Int32 = 113    // Linux "cooked" capture v1
    public static let ipv4: Int32 = 228        // raw IPv4
    public static let ipv6: Int32 = 229        // raw IPv6
    public static let linuxSLL2: Int32 = 276   // Linux "cooked" capture v2

    /// Every link type `decode` understands.
    public static let supportedLinkTypes: Set<Int32> = [
        null, ethernet, raw, rawOpenBSD, linkTypeRaw, loop, linuxSLL, ipv4, ipv6, linuxSLL2,
    ]

    public static func isSupported(_ linkType: Int32) -> Bool { supportedLinkTypes.contains(linkType) }

    /// Decodes one frame held in an array. See `decode(_:linkType:time:packetNumber:originalLength:)`.
    public static func decode(_ bytes: [UInt8], linkType: Int32, time: CaptureTime, packetNumber: Int,
                              originalLength: Int? = nil) -> DecodedPacket {
        bytes.withUnsafeBytes {
            decode($0, linkType: linkType, time: time, packetNumber: packetNumber, originalLength: originalLength)
        }
    }

    /// Decodes one captured frame.
    ///
    /// - Parameters:
    ///   - bytes: the captured bytes (`caplen` of them).
    ///   - linkType: the pcap link type of the capture (`pcap_datalink`).
    ///   - originalLength: the frame's length on the wire (`len` in the pcap record). When it is larger than
    ///     `bytes.count` the snapshot length cut the packet, and an IP length reaching past the captured bytes
    ///     means "payload not captured" rather than "malformed". `nil` means "not truncated".
    public static func decode(_ bytes: UnsafeRawBufferPointer, linkType: Int32, time: CaptureTime, packetNumber: Int,
                              originalLength: Int? = nil) -> DecodedPacket {
        decode(LinkFrameReader(bytes: bytes, wireLength: max(originalLength ?? bytes.count, bytes.count), record: nil),
               linkType: linkType, time: time, packetNumber: packetNumber)
    }

    /// Decodes one captured frame held in a buffer (its readable bytes): the segment's payload is a slice of
    /// `record`, not a copy. A mapped capture file hands its records so (see `PcapReader`).
    public static func decode(record: ByteBuffer, linkType: Int32, time: CaptureTime, packetNumber: Int,
                              originalLength: Int? = nil) -> DecodedPacket {
        record.withUnsafeReadableBytes { bytes in
            decode(LinkFrameReader(bytes: bytes, wireLength: max(originalLength ?? bytes.count, bytes.count), record: record),
                   linkType: linkType, time: time, packetNumber: packetNumber)
        }
    }

    private static func decode(_ frame: LinkFrameReader, linkType: Int32, time: CaptureTime, packetNumber: Int) -> DecodedPacket {
        switch linkType {
        case ethernet:
            guard frame.has(0, 14) else { return .malformed("Ethernet: header needs 14 bytes, frame has \(frame.count)") }
            return decodeEtherType(frame, type: frame.u16(12), at: 14, time: time, packetNumber: packetNumber,
                                   layer: "Ethernet")
        case linuxSLL:
            guard frame.has(0, 16) else { return .malformed("SLL: header needs 16 bytes, frame has \(frame.count)") }
            return decodeEtherType(frame, type: frame.u16(14), at: 16, time: time, packetNumber: packetNumber,
                                   layer: "SLL")
        case linuxSLL2:
            guard frame.has(0, 20) else { return .malformed("SLL2: header needs 20 bytes, frame has \(frame.count)") }
            return decodeEtherType(frame, type: frame.u16(0), at: 20, time: time, packetNumber: packetNumber,
                                   layer: "SLL2")
        case null, loop:
            guard frame.has(0, 4) else {
                return .malformed("Loopback: header needs 4 bytes, frame has \(frame.count)")
            }
            // The family is in the capturing host's byte order for NULL and in network order for LOOP, but files
            // written on other hosts get both wrong; accept either order.
            let be = frame.u32(0)
            let le = be.byteSwapped
            if be == 2 || le == 2 {
                return decodeIPv4(frame, at: 4, time: time, packetNumber: packetNumber)
            }
            if isInet6Family(be) || isInet6Family(le) {
                return decodeIPv6(frame, at: 4, time: time, packetNumber: packetNumber)
            }
            return .skipped("Loopback: address family \(min(be, le)) is not IP")
        case raw, rawOpenBSD, linkTypeRaw:
            guard frame.has(0, 1) else { return .malformed("RAW: empty frame") }
            switch frame.u8(0) >> 4 {
            case 4: return decodeIPv4(frame, at: 0, time: time, packetNumber: packetNumber)
            case 6: return decodeIPv6(frame, at: 0, time: time, packetNumber: packetNumber)
            case let v: return .malformed("RAW: IP version \(v) at offset 0")
            }
        case ipv4:
            return decodeIPv4(frame, at: 0, time: time, packetNumber: packetNumber)
        case ipv6:
            return decodeIPv6(frame, at: 0, time: time, packetNumber: packetNumber)
        default:
            return .skipped("link type \(linkType) is not supported")
        }
    }

    // MARK: - Link layer helpers

    /// AF_INET6 on Linux (10), NetBSD/OpenBSD (24), FreeBSD (28) and Darwin (30).
    @inline(__always) private static func isInet6Family(_ family: UInt32) -> Bool {
        family == 10 || family == 24 || family == 28 || family == 30
    }

    /// Dispatches on an EtherType found at `offset - 2`, walking any 802.1Q / 802.1ad / QinQ tags.
    private static func decodeEtherType(_ frame: LinkFrameReader, type firstType: UInt16, at firstOffset: Int, time: CaptureTime,
                                        packetNumber: Int, layer: String) -> DecodedPacket {
        var type = firstType
        var offset = firstOffset
        while type == 0x8100 || type == 0x88a8 || type == 0x9100 {
            guard frame.has(offset, 4) else {
                return .malformed("VLAN: tag needs 4 bytes at offset \(offset), frame has \(frame.count)")
            }
            type = frame.u16(offset + 2)
            offset += 4
        }
        switch type {
        case 0x0800: return decodeIPv4(frame, at: offset, time: time, packetNumber: packetNumber)
        case 0x86dd: return decodeIPv6(frame, at: offset, time: time, packetNumber: packetNumber)
        case 0x0806: return .skipped("ARP")
        case ..<0x0600: return .skipped("\(layer): 802.3 length field \(type), not Ethernet II")
        default: return .skipped("\(layer): EtherType 0x\(String(type, radix: 16, uppercase: false)) is not IP")
        }
    }

    // MARK: - IPv4

    private static func decodeIPv4(_ frame: LinkFrameReader, at ip: Int, time: CaptureTime, packetNumber: Int) -> DecodedPacket {
        guard frame.has(ip, 20) else {
            return .malformed("IPv4: header needs 20 bytes at offset \(ip), frame has \(frame.count)")
        }
        let versionIHL = frame.u8(ip)
        guard versionIHL >> 4 == 4 else { return .malformed("IPv4: version \(versionIHL >> 4) at offset \(ip)") }
        let headerLength = Int(versionIHL & 0x0f) * 4
        guard headerLength >= 20 else {
            return .malformed("IPv4: header length \(headerLength) < 20 at offset \(ip)")
        }
        guard frame.has(ip, headerLength) else {
            return .malformed("IPv4: header length \(headerLength) at offset \(ip) beyond captured \(frame.count) bytes")
        }
        var totalLength = Int(frame.u16(ip + 2))
        if totalLength == 0 && frame.wireLength == frame.count {
            // TCP segmentation offload: Linux hands large outgoing segments to the capture with total length 0.
            // Like Wireshark, take the frame's end as the packet's end.
            totalLength = frame.count - ip
        }
        guard totalLength >= headerLength else {
            return .malformed("IPv4: total length \(totalLength) < header length \(headerLength) at offset \(ip)")
        }
        guard ip + totalLength <= frame.wireLength else {
            return .malformed("IPv4: total length \(totalLength) at offset \(ip) beyond frame length \(frame.wireLength)")
        }
        let flagsFragment = frame.u16(ip + 6)
        let moreFragments = flagsFragment & 0x2000 != 0
        let fragmentOffset = Int(flagsFragment & 0x1fff) * 8
        if fragmentOffset != 0 { return .skipped("IPv4 fragment at offset \(fragmentOffset) (not reassembled)") }
        if moreFragments { return .skipped("IPv4 first fragment (not reassembled)") }
        let proto = frame.u8(ip + 9)
        let source = IPAddress.v4(frame.u32(ip + 12))
        let destination = IPAddress.v4(frame.u32(ip + 16))
        guard proto == 6 else { return .skipped("IPv4: protocol \(proto) is not TCP") }
        return decodeTCP(frame, at: ip + headerLength, segmentLength: totalLength - headerLength, source: source,
                         destination: destination, time: time, packetNumber: packetNumber)
    }

    // MARK: - IPv6

    private static func decodeIPv6(_ frame: LinkFrameReader, at ip: Int, time: CaptureTime, packetNumber: Int) -> DecodedPacket {
        guard frame.has(ip, 40) else {
            return .malformed("IPv6: header needs 40 bytes at offset \(ip), frame has \(frame.count)")
        }
        let version = frame.u8(ip) >> 4
        guard version == 6 else { return .malformed("IPv6: version \(version) at offset \(ip)") }
        var payloadLength = Int(frame.u16(ip + 4))
        if payloadLength == 0 && frame.wireLength == frame.count {
            // Jumbogram or segmentation offload: the packet ends with the frame.
            payloadLength = frame.count - ip - 40
        }
        guard ip + 40 + payloadLength <= frame.wireLength else {
            return .malformed("IPv6: payload length \(payloadLength) at offset \(ip) beyond frame length \(frame.wireLength)")
        }
        let source = IPAddress.v6(frame.u64(ip + 8), frame.u64(ip + 16))
        let destination = IPAddress.v6(frame.u64(ip + 24), frame.u64(ip + 32))
        var next = frame.u8(ip + 6)
        var offset = ip + 40
        let end = ip + 40 + payloadLength
        // Each extension header is at least 8 bytes long, so this walk ends.
        while true {
            switch next {
            case 6:
                return decodeTCP(frame, at: offset, segmentLength: end - offset, source: source,
                                 destination: destination, time: time, packetNumber: packetNumber)
            case 0, 43, 60, 51, 44:
                guard frame.has(offset, 8) else {
                    return .malformed("IPv6: extension header \(next) needs 8 bytes at offset \(offset), frame has \(frame.count)")
                }
                let length: Int
                switch next {
                case 51: length = (Int(frame.u8(offset + 1)) + 2) * 4  // AH: in 4-byte units, minus 2
                case 44:
                    length = 8
                    let fragment = frame.u16(offset + 2)
                    if fragment & 0xfff8 != 0 { return .skipped("IPv6 fragment at offset \(Int(fragment & 0xfff8)) (not reassembled)") }
                    if fragment & 1 != 0 { return .skipped("IPv6 first fragment (not reassembled)") }
                default: length = (Int(frame.u8(offset + 1)) + 1) * 8
                }
                guard offset + length <= end else {
                    return .malformed("IPv6: extension header \(next) of \(length) bytes at offset \(offset) beyond payload end \(end)")
                }
                next = frame.u8(offset)
                offset += length
            case 50: return .skipped("IPv6: ESP (encrypted)")
            case 59: return .skipped("IPv6: no next header")
            default: return .skipped("IPv6: next header \(next) is not TCP")
            }
        }
    }

    // MARK: - TCP

    private static func decodeTCP(_ frame: LinkFrameReader, at tcp: Int, segmentLength: Int, source: IPAddress,
                                  destination: IPAddress, time: CaptureTime, packetNumber: Int) -> DecodedPacket {
        guard segmentLength >= 20 else {
            return .malformed("TCP: IP announces \(segmentLength) bytes at offset \(tcp), header needs 20")
        }
        guard frame.has(tcp, 20) else {
            return .malformed("TCP: header needs 20 bytes at offset \(tcp), frame has \(frame.count)")
        }
        let dataOffset = Int(frame.u8(tcp + 12) >> 4) * 4
        guard dataOffset >= 20 else { return .malformed("TCP: data offset \(dataOffset) < 20 at offset \(tcp)") }
        guard dataOffset <= segmentLength else {
            return .malformed("TCP: data offset \(dataOffset) at offset \(tcp) beyond segment length \(segmentLength)")
        }
        guard frame.has(tcp, dataOffset) else {
            return .malformed("TCP: header of \(dataOffset) bytes at offset \(tcp) beyond captured \(frame.count) bytes")
        }
        let payloadStart = tcp + dataOffset
        let payloadEnd = tcp + segmentLength                  // excludes Ethernet padding / trailers
        let capturedEnd = min(payloadEnd, frame.count)         // snaplen may have cut the payload
        let payload = frame.payload(payloadStart, capturedEnd)
        let segment = TCPSegment(
            time: time,
            source: Endpoint(address: source, port: frame.u16(tcp)),
            destination: Endpoint(address: destination, port: frame.u16(tcp + 2)),
            sequence: frame.u32(tcp + 4),
            acknowledgement: frame.u32(tcp + 8),
            flags: TCPFlags(rawValue: frame.u8(tcp + 13)),
            payload: payload,
            payloadLength: segmentLength - dataOffset,
            packetNumber: packetNumber)
        return .tcp(segment)
    }
}

/// Bounds-checked big-endian reads over a captured frame. The `u*` readers return 0 outside the buffer (callers
/// check with `has` first; the fallback only guarantees that nothing can trap).
fileprivate struct LinkFrameReader {
    let bytes: UnsafeRawBufferPointer
    /// The frame's length on the wire, at least `count`.
    let wireLength: Int
    var count: Int { bytes.count }

    @inline(__always) func has(_ offset: Int, _ length: Int) -> Bool {
        offset >= 0 && length >= 0 && offset <= bytes.count && length <= bytes.count - offset
    }
    @inline(__always) func u8(_ offset: Int) -> UInt8 {
        has(offset, 1) ? bytes.load(fromByteOffset: offset, as: UInt8.self) : 0
    }
    @inline(__always) func u16(_ offset: Int) -> UInt16 {
        has(offset, 2) ? UInt16(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self)) : 0
    }
    @inline(__always) func u32(_ offset: Int) -> UInt32 {
        has(offset, 4) ? UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) : 0
    }
    @inline(__always) func u64(_ offset: Int) -> UInt64 {
        has(offset, 8) ? UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) : 0
    }
    /// The frame as a buffer whose readable bytes are `bytes`, when the caller holds it so.
    let record: ByteBuffer?

    /// The bytes in `start..<end`, clamped to the frame: a slice of `record` (no copy), else a copy.
    func payload(_ start: Int, _ end: Int) -> ByteBuffer {
        let lo = max(0, min(start, bytes.count))
        let hi = max(lo, min(end, bytes.count))
        if lo == hi { return ByteBuffer() }
        if let record, let slice = record.getSlice(at: record.readerIndex + lo, length: hi - lo) { return slice }
        return ByteBuffer(bytes: UnsafeRawBufferPointer(rebasing: bytes[lo..<hi]))
    }
}
