import Testing
import RMQCapture

private let client4 = v4Endpoint(10, 0, 0, 1, 40000)
private let server4 = v4Endpoint(10, 0, 0, 2, 9876)
private let client6 = v6Endpoint(0x2001_0db8_0000_0000, 0x0000_0000_0000_0001, 40001)
private let server6 = v6Endpoint(0x2001_0db8_0000_0000, 0x0000_0000_0000_0002, 10911)
private let payload = patternBytes(37, seed: 3)

private func tcp4(_ p: [UInt8] = payload, seq: UInt32 = 1001, ack: UInt32 = 2002,
                  flags: TCPFlags = [.ack, .psh]) -> [UInt8] {
    PacketBuilder.tcp(source: client4, destination: server4, sequence: seq, acknowledgement: ack, flags: flags,
                      payload: p)
}

private func ipv4Packet(_ p: [UInt8] = payload) -> [UInt8] {
    guard case .v4(let s) = client4.address, case .v4(let d) = server4.address else { return [] }
    return PacketBuilder.ipv4(source: s, destination: d, payload: tcp4(p))
}

private func ipv6Packet(_ p: [UInt8] = payload, extensions: [IPv6Extension] = []) -> [UInt8] {
    let tcp = PacketBuilder.tcp(source: client6, destination: server6, sequence: 1001, acknowledgement: 2002,
                                flags: [.ack, .psh], payload: p)
    return PacketBuilder.ipv6(source: client6.address, destination: server6.address, payload: tcp,
                              extensions: extensions)
}

private let allExtensions: [IPv6Extension] = [
    .hopByHop, .routing, .fragment(offset: 0, more: false), .authentication, .destinationOptions,
]

struct LinkLayerCase: Sendable, CustomTestStringConvertible {
    var name: String
    var linkType: Int32
    var frame: [UInt8]
    var v6: Bool
    var testDescription: String { name }
}

private func linkCases() -> [LinkLayerCase] {
    var cases: [LinkLayerCase] = []
    let ips: [(String, [UInt8], Bool)] = [
        ("IPv4", ipv4Packet(), false),
        ("IPv6", ipv6Packet(), true),
        ("IPv6+ext", ipv6Packet(extensions: [.hopByHop]), true),
        ("IPv6+all ext", ipv6Packet(extensions: allExtensions), true),
    ]
    for (ipName, ip, v6) in ips {
        let etherType: UInt16 = v6 ? 0x86dd : 0x0800
        cases.append(LinkLayerCase(name: "EN10MB \(ipName)", linkType: 1,
                              frame: PacketBuilder.ethernet(etherType: etherType, payload: ip), v6: v6))
        cases.append(LinkLayerCase(name: "EN10MB 802.1Q \(ipName)", linkType: 1,
                              frame: PacketBuilder.ethernet(etherType: etherType, payload: ip, vlanTags: [0x8100]), v6: v6))
        cases.append(LinkLayerCase(name: "EN10MB QinQ 802.1ad \(ipName)", linkType: 1,
                              frame: PacketBuilder.ethernet(etherType: etherType, payload: ip, vlanTags: [0x88a8, 0x8100]),
                              v6: v6))
        cases.append(LinkLayerCase(name: "EN10MB 0x9100 x3 \(ipName)", linkType: 1,
                              frame: PacketBuilder.ethernet(etherType: etherType, payload: ip,
                                                            vlanTags: [0x9100, 0x88a8, 0x8100]), v6: v6))
        cases.append(LinkLayerCase(name: "LINUX_SLL \(ipName)", linkType: 113,
                              frame: PacketBuilder.linuxSLL(protocol: etherType, payload: ip), v6: v6))
        cases.append(LinkLayerCase(name: "LINUX_SLL VLAN \(ipName)", linkType: 113,
                              frame: PacketBuilder.linuxSLL(protocol: 0x8100, payload: [0, 5] + [UInt8(etherType >> 8), UInt8(etherType & 0xff)] + ip),
                              v6: v6))
        cases.append(LinkLayerCase(name: "LINUX_SLL2 \(ipName)", linkType: 276,
                              frame: PacketBuilder.linuxSLL2(protocol: etherType, payload: ip), v6: v6))
        let families: [UInt32] = v6 ? [10, 24, 28, 30] : [2]
        for family in families {
            for bigEndian in [false, true] {
                for linkType: Int32 in [0, 108] {
                    cases.append(LinkLayerCase(name: "\(linkType == 0 ? "NULL" : "LOOP") AF \(family) \(bigEndian ? "BE" : "LE") \(ipName)",
                                          linkType: linkType,
                                          frame: PacketBuilder.loopback(family: family, bigEndian: bigEndian, payload: ip),
                                          v6: v6))
                }
            }
        }
        for linkType: Int32 in [12, 14, 101, v6 ? 229 : 228] {
            cases.append(LinkLayerCase(name: "RAW(\(linkType)) \(ipName)", linkType: linkType, frame: ip, v6: v6))
        }
    }
    return cases
}

@Suite("LinkLayer decoding")
struct LinkLayerTests {
    @Test("every link type decodes IPv4 and IPv6 TCP", arguments: linkCases())
    func decodesLinkType(_ c: LinkLayerCase) throws {
        let result = LinkLayer.decode(c.frame, linkType: c.linkType, time: nanos(123_456_789), packetNumber: 7)
        let segment = try #require(result.segment, "\(result)")
        #expect(segment.source == (c.v6 ? client6 : client4))
        #expect(segment.destination == (c.v6 ? server6 : server4))
        #expect(segment.sequence == 1001)
        #expect(segment.acknowledgement == 2002)
        #expect(segment.flags == [.ack, .psh])
        #expect(segment.payloadBytes == payload)
        #expect(segment.payloadLength == payload.count)
        #expect(segment.time == nanos(123_456_789))
        #expect(segment.packetNumber == 7)
    }

    @Test("every strict prefix of the headers is malformed, never a crash", arguments: linkCases())
    func truncatedHeaders(_ c: LinkLayerCase) {
        let headerEnd = c.frame.count - payload.count
        for cut in 0..<headerEnd {
            let data = Array(c.frame[0..<cut])
            let result = LinkLayer.decode(data, linkType: c.linkType, time: nanos(0), packetNumber: 1)
            #expect(result.isMalformed, "cut at \(cut): \(result)")
            // A snapshot length that cuts into the headers is just as undecodable.
            let snapped = LinkLayer.decode(data, linkType: c.linkType, time: nanos(0), packetNumber: 1,
                                           originalLength: c.frame.count)
            #expect(snapped.isMalformed, "cut at \(cut) (snaplen): \(snapped)")
        }
    }

    @Test("a cut payload is malformed without originalLength, truncated with it", arguments: linkCases())
    func truncatedPayload(_ c: LinkLayerCase) throws {
        let headerEnd = c.frame.count - payload.count
        for cut in headerEnd..<c.frame.count {
            let data = Array(c.frame[0..<cut])
            let strict = LinkLayer.decode(data, linkType: c.linkType, time: nanos(0), packetNumber: 1)
            #expect(strict.isMalformed, "cut at \(cut): \(strict)")
            let snapped = LinkLayer.decode(data, linkType: c.linkType, time: nanos(0), packetNumber: 1,
                                           originalLength: c.frame.count)
            let segment = try #require(snapped.segment, "cut at \(cut): \(snapped)")
            #expect(segment.payloadBytes == Array(payload[0..<(cut - headerEnd)]))
            #expect(segment.payloadLength == payload.count)
        }
    }

    @Test("snaplen-truncated payload: payload.count < payloadLength")
    func snaplen() throws {
        let big = patternBytes(1000)
        let frame = PacketBuilder.ethernet(etherType: 0x0800, payload: ipv4Packet(big))
        let record = PacketRecord(time: nanos(5), data: frame).truncated(to: 96)
        let segment = try #require(LinkLayer.decode(record.data, linkType: 1, time: record.time, packetNumber: 1,
                                                    originalLength: record.originalLength).segment)
        #expect(segment.payloadBytes == Array(big[0..<42]))
        #expect(segment.payloadLength == 1000)
    }

    @Test("Ethernet padding after the IP packet is not payload")
    func ethernetPadding() throws {
        for p in [[], [0xde, 0xad], patternBytes(5)] as [[UInt8]] {
            var frame = PacketBuilder.ethernet(etherType: 0x0800, payload: ipv4Packet(p))
            #expect(frame.count == 60)
            frame += [0xaa, 0xbb, 0xcc, 0xdd]  // and a frame check sequence
            let segment = try #require(LinkLayer.decode(frame, linkType: 1, time: nanos(0), packetNumber: 1).segment)
            #expect(segment.payloadBytes == p)
            #expect(segment.payloadLength == p.count)
        }
        // IPv6 through a VLAN, padded as well.
        var frame6 = PacketBuilder.ethernet(etherType: 0x86dd, payload: ipv6Packet([1]), vlanTags: [0x8100])
        frame6 += [0, 0, 0, 0, 0, 0]
        let segment6 = try #require(LinkLayer.decode(frame6, linkType: 1, time: nanos(0), packetNumber: 1).segment)
        #expect(segment6.payloadBytes == [1])
    }

    @Test("IPv4 and IPv6 fragments are skipped")
    func fragments() throws {
        let tcp = tcp4()
        let first = PacketBuilder.ipv4(source: 1, destination: 2, payload: tcp, moreFragments: true)
        let later = PacketBuilder.ipv4(source: 1, destination: 2, payload: tcp, fragmentOffset: 1480)
        let last = PacketBuilder.ipv4(source: 1, destination: 2, payload: tcp, moreFragments: false, fragmentOffset: 8)
        for ip in [first, later, last] {
            let result = LinkLayer.decode(ip, linkType: 12, time: nanos(0), packetNumber: 1)
            #expect(result.isSkipped && result.reason.contains("fragment"), "\(result)")
        }
        let v6first = ipv6Packet(extensions: [.fragment(offset: 0, more: true)])
        let v6later = ipv6Packet(extensions: [.hopByHop, .fragment(offset: 1232, more: false)])
        for ip in [v6first, v6later] {
            let result = LinkLayer.decode(ip, linkType: 12, time: nanos(0), packetNumber: 1)
            #expect(result.isSkipped && result.reason.contains("fragment"), "\(result)")
        }
        // An atomic fragment (offset 0, no more fragments) is a whole packet.
        let atomic = ipv6Packet(extensions: [.fragment(offset: 0, more: false)])
        #expect(LinkLayer.decode(atomic, linkType: 12, time: nanos(0), packetNumber: 1).segment?.payloadBytes == payload)
    }

    @Test("non-TCP traffic is skipped")
    func nonTCP() {
        let udp = PacketBuilder.ipv4(source: 1, destination: 2, protocol: 17, payload: patternBytes(16))
        let icmp6 = PacketBuilder.ipv6(source: client6.address, destination: server6.address, nextHeader: 58,
                                       payload: patternBytes(8))
        let esp6 = PacketBuilder.ipv6(source: client6.address, destination: server6.address, nextHeader: 50,
                                      payload: patternBytes(8))
        let noNext6 = PacketBuilder.ipv6(source: client6.address, destination: server6.address, nextHeader: 59,
                                         payload: [], extensions: [.destinationOptions])
        let cases: [(String, Int32, [UInt8])] = [
            ("UDP", 1, PacketBuilder.ethernet(etherType: 0x0800, payload: udp)),
            ("ICMPv6", 1, PacketBuilder.ethernet(etherType: 0x86dd, payload: icmp6)),
            ("ESP", 12, esp6),
            ("no next header", 12, noNext6),
            ("ARP", 1, PacketBuilder.ethernet(etherType: 0x0806, payload: patternBytes(28))),
            ("ARP in VLAN", 1, PacketBuilder.ethernet(etherType: 0x0806, payload: patternBytes(28), vlanTags: [0x8100])),
            ("802.3 LLC", 1, PacketBuilder.ethernet(etherType: 46, payload: patternBytes(46))),
            ("LLDP", 1, PacketBuilder.ethernet(etherType: 0x88cc, payload: patternBytes(46))),
            ("SLL ARP", 113, PacketBuilder.linuxSLL(protocol: 0x0806, payload: patternBytes(28))),
            ("NULL AF 7", 0, PacketBuilder.loopback(family: 7, bigEndian: false, payload: patternBytes(20))),
            ("unknown link type", 147, patternBytes(60)),
        ]
        for (name, linkType, frame) in cases {
            let result = LinkLayer.decode(frame, linkType: linkType, time: nanos(0), packetNumber: 1)
            #expect(result.isSkipped, "\(name): \(result)")
        }
    }

    @Test("inconsistent headers are malformed with a reason naming layer and offset")
    func malformedHeaders() {
        var ihl4 = PacketBuilder.ethernet(etherType: 0x0800, payload: ipv4Packet())
        ihl4[14] = 0x44
        var offset4 = PacketBuilder.ethernet(etherType: 0x0800, payload: ipv4Packet())
        offset4[14 + 20 + 12] = 0x40
        var badVersion = PacketBuilder.ethernet(etherType: 0x0800, payload: ipv4Packet())
        badVersion[14] = 0x55
        let tooLong = PacketBuilder.ethernet(
            etherType: 0x0800,
            payload: PacketBuilder.ipv4(source: 1, destination: 2, payload: tcp4(), totalLength: 400))
        let tooShort = PacketBuilder.ipv4(source: 1, destination: 2, payload: tcp4(), totalLength: 19)
        let tcpBeyondIP = PacketBuilder.ipv4(source: 1, destination: 2, payload: tcp4(), totalLength: 30)
        var bigOffset = ipv4Packet()
        bigOffset[20 + 12] = 0xf0  // 60-byte TCP header, but only 57 bytes of segment
        var ext6 = ipv6Packet(extensions: [.hopByHop])
        ext6[41] = 200  // hop-by-hop length far beyond the payload
        var raw6AsV4 = ipv6Packet()
        raw6AsV4[0] = 0x45
        let cases: [(String, Int32, [UInt8], [String])] = [
            ("IHL 4", 1, ihl4, ["IPv4", "offset 14", "16 < 20"]),
            ("TCP data offset 4", 1, offset4, ["TCP", "offset 34", "16 < 20"]),
            ("IP version 5 in an IPv4 EtherType", 1, badVersion, ["IPv4", "version 5"]),
            ("total length beyond the frame", 1, tooLong, ["IPv4", "total length 400"]),
            ("total length below the header", 12, tooShort, ["IPv4", "total length 19"]),
            ("TCP header beyond the IP length", 12, tcpBeyondIP, ["TCP", "offset 20"]),
            ("TCP data offset beyond the segment", 12, bigOffset, ["TCP", "data offset 60"]),
            ("IPv6 extension beyond the payload", 12, ext6, ["IPv6", "extension header 0", "offset 40"]),
            ("IPv4 in a v6-only link type", 229, ipv4Packet(), ["IPv6", "version 4"]),
            ("RAW with version 0", 12, [0x00] + Array(ipv4Packet().dropFirst()), ["RAW", "version 0"]),
            ("v6 header, v4 version nibble", 229, raw6AsV4, ["IPv6", "version 4"]),
        ]
        for (name, linkType, frame, words) in cases {
            let result = LinkLayer.decode(frame, linkType: linkType, time: nanos(0), packetNumber: 1)
            #expect(result.isMalformed, "\(name): \(result)")
            for word in words { #expect(result.reason.contains(word), "\(name): \(result.reason)") }
        }
    }

    @Test("IPv4 total length 0 (segmentation offload) takes the frame's end")
    func tsoZeroLength() throws {
        let ip = PacketBuilder.ipv4(source: 1, destination: 2, payload: tcp4(patternBytes(3000)), totalLength: 0)
        let segment = try #require(LinkLayer.decode(ip, linkType: 12, time: nanos(0), packetNumber: 1).segment)
        #expect(segment.payloadBytes == patternBytes(3000))
        #expect(segment.payloadLength == 3000)
    }

    @Test("IPv4 options and TCP options are skipped over")
    func options() throws {
        let tcp = PacketBuilder.tcp(source: client4, destination: server4, sequence: 9, acknowledgement: 0,
                                    flags: .syn, options: [2, 4, 0x05, 0xb4, 1, 1, 4, 2], payload: [])
        let ip = PacketBuilder.ipv4(source: 1, destination: 2, payload: tcp + [7, 8, 9], options: [1, 1, 1, 0])
        let segment = try #require(LinkLayer.decode(ip, linkType: 101, time: nanos(0), packetNumber: 1).segment)
        #expect(segment.flags == .syn)
        #expect(segment.payloadBytes == [7, 8, 9])
        #expect(segment.sequence == 9)
    }

    @Test("random bytes and mutated frames never crash")
    func fuzz() {
        var rng = CaptureFuzzRNG(state: 42)
        let linkTypes: [Int32] = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276]
        let seeds = linkCases().map(\.frame)
        var outcomes = [0, 0, 0]
        for i in 0..<20_000 {
            var frame: [UInt8]
            if i % 2 == 0 {
                frame = (0..<Int.random(in: 0..<120, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            } else {
                frame = seeds[Int.random(in: 0..<seeds.count, using: &rng)]
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    let at = Int.random(in: 0..<frame.count, using: &rng)
                    frame[at] = UInt8.random(in: 0...255, using: &rng)
                }
                frame = Array(frame[0..<Int.random(in: 0...frame.count, using: &rng)])
            }
            let linkType = linkTypes[Int.random(in: 0..<linkTypes.count, using: &rng)]
            let original = Bool.random(using: &rng) ? nil : Int.random(in: 0..<200, using: &rng)
            switch LinkLayer.decode(frame, linkType: linkType, time: nanos(0), packetNumber: i, originalLength: original) {
            case .tcp(let s):
                outcomes[0] += 1
                #expect(s.capturedLength <= s.payloadLength)
            case .skipped: outcomes[1] += 1
            case .malformed: outcomes[2] += 1
            }
        }
        #expect(outcomes.allSatisfy { $0 > 0 }, "\(outcomes)")
    }

    @Test("supported link types")
    func supported() {
        for type: Int32 in [0, 1, 12, 14, 101, 108, 113, 228, 229, 276] { #expect(LinkLayer.isSupported(type)) }
        for type: Int32 in [105, 127, 147, 9, -1] { #expect(!LinkLayer.isSupported(type)) }
    }
}
