/// Builders for synthetic frames (for tests and fixtures): TCP, IPv4, IPv6 with extension headers, and the link
/// layers `LinkLayer` decodes. Checksums are computed properly so that tshark accepts the result.

/// An IPv6 extension header for `PacketBuilder.ipv6`.
public enum IPv6Extension: Sendable, Equatable {
    case hopByHop
    case routing
    case destinationOptions
    /// Authentication header (16 bytes: 12 fixed plus a 4-byte ICV).
    case authentication
    /// Fragment header; `offset` in bytes (a multiple of 8).
    case fragment(offset: Int, more: Bool)

    var number: UInt8 {
        switch self {
        case .hopByHop: return 0
        case .routing: return 43
        case .destinationOptions: return 60
        case .authentication: return 51
        case .fragment: return 44
        }
    }
}

extension Array where Element == UInt8 {
    fileprivate mutating func appendBE16(_ v: UInt16) {
        append(UInt8(truncatingIfNeeded: v >> 8)); append(UInt8(truncatingIfNeeded: v))
    }
    fileprivate mutating func appendBE32(_ v: UInt32) {
        for shift in stride(from: 24, through: 0, by: -8) { append(UInt8(truncatingIfNeeded: v >> UInt32(shift))) }
    }
    fileprivate mutating func appendBE64(_ v: UInt64) {
        for shift in stride(from: 56, through: 0, by: -8) { append(UInt8(truncatingIfNeeded: v >> UInt64(shift))) }
    }
    fileprivate mutating func appendAddress(_ a: IPAddress) {
        switch a {
        case .v4(let v): appendBE32(v)
        case .v6(let hi, let lo): appendBE64(hi); appendBE64(lo)
        }
    }
}

public enum PacketBuilder {
    /// The Internet checksum (RFC 1071) of `bytes`, continuing from `initial` (a 32-bit running sum).
    public static func internetChecksum(_ bytes: [UInt8], initial: UInt32 = 0) -> UInt16 {
        var sum = UInt64(initial)
        var i = 0
        while i + 1 < bytes.count {
            sum += UInt64(bytes[i]) << 8 | UInt64(bytes[i + 1])
            i += 2
        }
        if i < bytes.count { sum += UInt64(bytes[i]) << 8 }
        while sum >> 16 != 0 { sum = (sum & 0xffff) + (sum >> 16) }
        return ~UInt16(truncatingIfNeeded: sum)
    }

    /// IPv6 `address` for an IPv4 one (`::ffff:a.b.c.d`), IPv6 unchanged.
    public static func asIPv6(_ address: IPAddress) -> IPAddress {
        switch address {
        case .v4(let v): return .v6(0, 0x0000_ffff_0000_0000 | UInt64(v))
        case .v6: return address
        }
    }

    /// A TCP segment (header + options + payload) with its checksum computed for `source` → `destination`
    /// (both IPv4 or both IPv6).
    public static func tcp(source: Endpoint, destination: Endpoint, sequence: UInt32, acknowledgement: UInt32,
                           flags: TCPFlags, window: UInt16 = 65535, options: [UInt8] = [],
                           payload: [UInt8] = []) -> [UInt8] {
        var opts = options
        while opts.count % 4 != 0 { opts.append(0) }
        let headerLength = 20 + opts.count
        var bytes: [UInt8] = []
        bytes.reserveCapacity(headerLength + payload.count)
        bytes.appendBE16(source.port)
        bytes.appendBE16(destination.port)
        bytes.appendBE32(sequence)
        bytes.appendBE32(acknowledgement)
        bytes.append(UInt8(truncatingIfNeeded: (headerLength / 4) << 4))
        bytes.append(flags.rawValue)
        bytes.appendBE16(window)
        bytes.appendBE16(0)  // checksum, below
        bytes.appendBE16(0)  // urgent pointer
        bytes.append(contentsOf: opts)
        bytes.append(contentsOf: payload)
        // Pseudo header
        var pseudo: [UInt8] = []
        pseudo.appendAddress(source.address)
        pseudo.appendAddress(destination.address)
        switch source.address {
        case .v4: pseudo.append(0); pseudo.append(6); pseudo.appendBE16(UInt16(truncatingIfNeeded: bytes.count))
        case .v6: pseudo.appendBE32(UInt32(truncatingIfNeeded: bytes.count)); pseudo.append(contentsOf: [0, 0, 0, 6])
        }
        let checksum = internetChecksum(pseudo + bytes)
        bytes[16] = UInt8(truncatingIfNeeded: checksum >> 8)
        bytes[17] = UInt8(truncatingIfNeeded: checksum)
        return bytes
    }

    /// An IPv4 packet around `payload`. `fragmentOffset` in bytes (a multiple of 8). `totalLength` overrides
    /// the length field (for malformed cases).
    public static func ipv4(source: UInt32, destination: UInt32, protocol proto: UInt8 = 6, payload: [UInt8],
                            identification: UInt16 = 0, dontFragment: Bool = true, moreFragments: Bool = false,
                            fragmentOffset: Int = 0, ttl: UInt8 = 64, options: [UInt8] = [],
                            totalLength: Int? = nil) -> [UInt8] {
        var opts = options
        while opts.count % 4 != 0 { opts.append(0) }
        let headerLength = 20 + opts.count
        var bytes: [UInt8] = []
        bytes.reserveCapacity(headerLength + payload.count)
        bytes.append(0x40 | UInt8(truncatingIfNeeded: headerLength / 4))
        bytes.append(0)
        bytes.appendBE16(UInt16(truncatingIfNeeded: totalLength ?? (headerLength + payload.count)))
        bytes.appendBE16(identification)
        var flagsFragment = UInt16(truncatingIfNeeded: (fragmentOffset / 8) & 0x1fff)
        if dontFragment && !moreFragments && fragmentOffset == 0 { flagsFragment |= 0x4000 }
        if moreFragments { flagsFragment |= 0x2000 }
        bytes.appendBE16(flagsFragment)
        bytes.append(ttl)
        bytes.append(proto)
        bytes.appendBE16(0)
        bytes.appendBE32(source)
        bytes.appendBE32(destination)
        bytes.append(contentsOf: opts)
        let checksum = internetChecksum(bytes)
        bytes[10] = UInt8(truncatingIfNeeded: checksum >> 8)
        bytes[11] = UInt8(truncatingIfNeeded: checksum)
        bytes.append(contentsOf: payload)
        return bytes
    }

    /// An IPv6 packet around `payload` (whose protocol is `nextHeader`), with `extensions` in order.
    public static func ipv6(source: IPAddress, destination: IPAddress, nextHeader: UInt8 = 6, payload: [UInt8],
                            extensions: [IPv6Extension] = [], hopLimit: UInt8 = 64) -> [UInt8] {
        var chain: [UInt8] = []
        for (index, ext) in extensions.enumerated() {
            let next = index + 1 < extensions.count ? extensions[index + 1].number : nextHeader
            switch ext {
            case .hopByHop, .destinationOptions:
                chain += [next, 0, 1, 4, 0, 0, 0, 0]  // PadN option filling the 8 bytes
            case .routing:
                chain += [next, 0, 0, 0, 0, 0, 0, 0]  // type 0, segments left 0
            case .authentication:
                chain += [next, 2, 0, 0, 0, 0, 0x10, 0x01, 0, 0, 0, 1, 0xaa, 0xbb, 0xcc, 0xdd]
            case .fragment(let offset, let more):
                chain += [next, 0]
                chain.appendBE16(UInt16(truncatingIfNeeded: offset & 0xfff8) | (more ? 1 : 0))
                chain.appendBE32(0x1234_5678)
            }
        }
        let src = asIPv6(source), dst = asIPv6(destination)
        var bytes: [UInt8] = [0x60, 0, 0, 0]
        bytes.appendBE16(UInt16(truncatingIfNeeded: chain.count + payload.count))
        bytes.append(extensions.first?.number ?? nextHeader)
        bytes.append(hopLimit)
        bytes.appendAddress(src)
        bytes.appendAddress(dst)
        bytes += chain
        bytes += payload
        return bytes
    }

    /// An Ethernet II frame, with optional VLAN tags (each a TPID such as 0x8100, 0x88a8 or 0x9100; VLAN id
    /// 100 + index), padded with zeros to `minimumSize` (60, as on the wire) when shorter.
    public static func ethernet(etherType: UInt16, payload: [UInt8], vlanTags: [UInt16] = [],
                                destinationMAC: [UInt8] = [0x02, 0, 0, 0, 0, 0x02],
                                sourceMAC: [UInt8] = [0x02, 0, 0, 0, 0, 0x01], minimumSize: Int = 60) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(14 + 4 * vlanTags.count + payload.count)
        bytes += destinationMAC.prefix(6)
        bytes += sourceMAC.prefix(6)
        for (index, tpid) in vlanTags.enumerated() {
            bytes.appendBE16(tpid)
            bytes.appendBE16(UInt16(truncatingIfNeeded: 100 + index))
        }
        bytes.appendBE16(etherType)
        bytes += payload
        if bytes.count < minimumSize { bytes += repeatElement(0, count: minimumSize - bytes.count) }
        return bytes
    }

    /// A Linux cooked-capture v1 (SLL) frame.
    public static func linuxSLL(protocol proto: UInt16, payload: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.appendBE16(0)       // packet type: to us
        bytes.appendBE16(1)       // ARPHRD_ETHER
        bytes.appendBE16(6)       // address length
        bytes += [0x02, 0, 0, 0, 0, 0x01, 0, 0]
        bytes.appendBE16(proto)
        return bytes + payload
    }

    /// A Linux cooked-capture v2 (SLL2) frame.
    public static func linuxSLL2(protocol proto: UInt16, payload: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.appendBE16(proto)
        bytes.appendBE16(0)       // reserved
        bytes.appendBE32(1)       // interface index
        bytes.appendBE16(1)       // ARPHRD_ETHER
        bytes.append(0)           // packet type
        bytes.append(6)           // address length
        bytes += [0x02, 0, 0, 0, 0, 0x01, 0, 0]
        return bytes + payload
    }

    /// A BSD loopback (NULL / LOOP) frame: 4-byte address family, little-endian (NULL as written on x86) or
    /// big-endian (LOOP).
    public static func loopback(family: UInt32, bigEndian: Bool, payload: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = []
        if bigEndian { bytes.appendBE32(family) } else { bytes.appendBE32(family.byteSwapped) }
        return bytes + payload
    }

    /// Wraps an IP packet (version taken from its first nibble) in the link layer `linkType`. Nil for link types
    /// `LinkLayer` does not decode.
    public static func frame(ip: [UInt8], linkType: Int32) -> [UInt8]? {
        let isV6 = (ip.first ?? 0) >> 4 == 6
        let etherType: UInt16 = isV6 ? 0x86dd : 0x0800
        switch linkType {
        case LinkLayer.ethernet: return ethernet(etherType: etherType, payload: ip)
        case LinkLayer.linuxSLL: return linuxSLL(protocol: etherType, payload: ip)
        case LinkLayer.linuxSLL2: return linuxSLL2(protocol: etherType, payload: ip)
        case LinkLayer.null: return loopback(family: isV6 ? 10 : 2, bigEndian: false, payload: ip)
        case LinkLayer.loop: return loopback(family: isV6 ? 24 : 2, bigEndian: true, payload: ip)
        case LinkLayer.raw, LinkLayer.rawOpenBSD, LinkLayer.linkTypeRaw: return ip
        case LinkLayer.ipv4: return isV6 ? nil : ip
        case LinkLayer.ipv6: return isV6 ? ip : nil
        default: return nil
        }
    }

    /// A complete TCP/IP packet (IPv4 when both endpoints are IPv4, otherwise IPv6) in link layer `linkType`.
    public static func tcpFrame(linkType: Int32 = LinkLayer.ethernet, source: Endpoint, destination: Endpoint,
                                sequence: UInt32, acknowledgement: UInt32, flags: TCPFlags, window: UInt16 = 65535,
                                payload: [UInt8] = [], identification: UInt16 = 0) -> [UInt8] {
        let ip: [UInt8]
        if case .v4(let s) = source.address, case .v4(let d) = destination.address {
            let tcp = tcp(source: source, destination: destination, sequence: sequence,
                          acknowledgement: acknowledgement, flags: flags, window: window, payload: payload)
            ip = ipv4(source: s, destination: d, payload: tcp, identification: identification)
        } else {
            let s = Endpoint(address: asIPv6(source.address), port: source.port)
            let d = Endpoint(address: asIPv6(destination.address), port: destination.port)
            let tcp = tcp(source: s, destination: d, sequence: sequence, acknowledgement: acknowledgement,
                          flags: flags, window: window, payload: payload)
            ip = ipv6(source: s.address, destination: d.address, payload: tcp)
        }
        return frame(ip: ip, linkType: linkType) ?? ip
    }
}
