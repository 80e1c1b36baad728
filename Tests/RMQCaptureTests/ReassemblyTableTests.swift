import Testing
@testable import RMQCapture
import NIOCore

// Endpoint names used in the table cases: c, c2, c3 are clients 10.0.0.1:50000...50002; s is 10.0.0.2:10911.
func rtEndpoint(_ name: Substring) -> Endpoint {
    switch name {
    case "c": return Endpoint(address: .v4(0x0A00_0001), port: 50000)
    case "c2": return Endpoint(address: .v4(0x0A00_0001), port: 50001)
    case "c3": return Endpoint(address: .v4(0x0A00_0001), port: 50002)
    case "s": return Endpoint(address: .v4(0x0A00_0002), port: 10911)
    case "s6": return Endpoint(address: .v6(0x2001_0db8_0000_0000, 1), port: 10911)
    default:
        Issue.record("unknown endpoint \(name)")
        return Endpoint(address: .v4(0), port: 0)
    }
}

func rtRender(_ e: ConnectionEvent) -> String {
    switch e {
    case .opened(let id, let client, let server, _, let t):
        return "open \(id) c=\(client.map { "\($0.port)" } ?? "?") s=\(server.map { "\($0.port)" } ?? "?")@\(t.nanoseconds)"
    case .stream(let id, let dir, let ev):
        return "\(id) \(dir.source.port)>\(dir.destination.port) \(raRender(ev))"
    case .removed(let id, let reason, let t):
        return "removed \(id) \(reason)@\(t.nanoseconds)"
    }
}

struct TableStep: Sendable {
    enum Kind: Sendable {
        case segment(path: String, seq: UInt32, flags: String, payload: String, time: Int64)
        case expire(now: Int64)
        case flushAll
    }
    var kind: Kind
    /// `path` is "from>to", e.g. "c>s".
    static func s(_ path: String, _ seq: UInt32, _ flags: String, _ payload: String = "", t: Int64) -> TableStep {
        TableStep(kind: .segment(path: path, seq: seq, flags: flags, payload: payload, time: t))
    }
    static func expire(_ now: Int64) -> TableStep { TableStep(kind: .expire(now: now)) }
    static let flushAll = TableStep(kind: .flushAll)
}

struct TableCase: Sendable, CustomTestStringConvertible {
    var name: String
    var steps: [TableStep]
    var expected: [String]
    var maxConnections = 100
    var idleTimeout: Int64 = 1_000_000
    var automaticExpiry = false
    var remaining: Int? = nil
    var ignored: Int? = nil
    var testDescription: String { name }
}

func rtRun(_ c: TableCase) -> (events: [ConnectionEvent], table: TCPConnectionTable) {
    var table = TCPConnectionTable(maxBufferedBytesPerDirection: 1024, maxConnections: c.maxConnections,
                                   idleTimeout: c.idleTimeout, automaticExpiry: c.automaticExpiry)
    var events: [ConnectionEvent] = []
    for step in c.steps {
        switch step.kind {
        case .segment(let path, let seq, let flags, let payload, let time):
            let parts = path.split(separator: ">")
            let seg = raSegment(seq, flags, payload, time: time, from: rtEndpoint(parts[0]), to: rtEndpoint(parts[1]))
            table.receive(seg, into: &events)
        case .expire(let now):
            table.expireIdle(now: CaptureTime(nanoseconds: now), into: &events)
        case .flushAll:
            table.flushAll(into: &events)
        }
        #expect(table.count <= c.maxConnections)
    }
    return (events, table)
}

let tableCases: [TableCase] = [
    TableCase(name: "handshake, both directions, FIN both ways, late ACK ignored",
              steps: [.s("c>s", 1000, "S", t: 1), .s("s>c", 5000, "SA", t: 2), .s("c>s", 1001, "A", t: 3),
                      .s("c>s", 1001, "PA", "req", t: 4), .s("s>c", 5001, "PA", "resp", t: 5),
                      .s("c>s", 1004, "FA", t: 6), .s("s>c", 5005, "FA", t: 7), .s("c>s", 1005, "A", t: 8)],
              expected: ["open 1 c=50000 s=10911@1", "1 50000>10911 0:req@4", "1 10911>50000 0:resp@5",
                         "1 50000>10911 fin@6", "1 10911>50000 fin@7", "removed 1 closed@7"],
              remaining: 0, ignored: 1),
    TableCase(name: "SYN+ACK seen first identifies the server",
              steps: [.s("s>c", 5000, "SA", t: 1), .s("c>s", 1001, "A", "hi", t: 2)],
              expected: ["open 1 c=50000 s=10911@1", "1 50000>10911 mid@2", "1 50000>10911 0:hi@2"]),
    TableCase(name: "mid-connection capture: client unknown, both directions mid-stream",
              steps: [.s("s>c", 7000, "A", "xyz", t: 1), .s("c>s", 300, "A", "ab", t: 2), .s("s>c", 7003, "A", "!", t: 3)],
              expected: ["open 1 c=? s=?@1", "1 10911>50000 mid@1", "1 10911>50000 0:xyz@1",
                         "1 50000>10911 mid@2", "1 50000>10911 0:ab@2", "1 10911>50000 3:!@3"]),
    TableCase(name: "ids in order of first appearance",
              steps: [.s("c2>s", 10, "S", t: 1), .s("c>s", 20, "S", t: 2), .s("s>c2", 90, "SA", t: 3),
                      .s("c3>s", 30, "S", t: 4), .s("c>s", 21, "A", "one", t: 5), .s("c2>s", 11, "A", "two", t: 6)],
              expected: ["open 1 c=50001 s=10911@1", "open 2 c=50000 s=10911@2", "open 3 c=50002 s=10911@4",
                         "2 50000>10911 0:one@5", "1 50001>10911 0:two@6"],
              remaining: 3),
    TableCase(name: "IPv6 endpoints",
              steps: [.s("c>s6", 1, "S", t: 1), .s("s6>c", 9, "SA", t: 2), .s("c>s6", 2, "A", "v6", t: 3)],
              expected: ["open 1 c=50000 s=10911@1", "1 50000>10911 0:v6@3"]),
    TableCase(name: "RST ends both directions and removes; late segments ignored",
              steps: [.s("c>s", 1000, "S", t: 1), .s("s>c", 5000, "SA", t: 2), .s("c>s", 1001, "A", "abc", t: 3),
                      .s("c>s", 1008, "A", "hij", t: 4), .s("s>c", 5001, "R", t: 5), .s("c>s", 1004, "A", "def", t: 6),
                      .s("s>c", 5001, "R", t: 7)],
              expected: ["open 1 c=50000 s=10911@1", "1 50000>10911 0:abc@3", "1 10911>50000 rst@5",
                         "1 50000>10911 gap 3+4@4", "1 50000>10911 7:hij@4", "1 50000>10911 rst@5",
                         "removed 1 reset@5"],
              remaining: 0, ignored: 2),
    TableCase(name: "port reuse after close starts a new connection",
              steps: [.s("c>s", 1000, "S", t: 1), .s("s>c", 5000, "SA", t: 2), .s("c>s", 1001, "FA", t: 3),
                      .s("s>c", 5001, "FA", t: 4), .s("c>s", 9000, "S", t: 5), .s("s>c", 3000, "SA", t: 6),
                      .s("c>s", 9001, "A", "new", t: 7)],
              expected: ["open 1 c=50000 s=10911@1", "1 50000>10911 fin@3", "1 10911>50000 fin@4",
                         "removed 1 closed@4", "open 2 c=50000 s=10911@5", "2 50000>10911 0:new@7"],
              remaining: 1),
    TableCase(name: "port reuse without a close seen replaces the connection",
              steps: [.s("c>s", 1000, "S", t: 1), .s("c>s", 1001, "A", "abc", t: 2), .s("c>s", 1008, "A", "x", t: 3),
                      .s("c>s", 7000, "S", t: 4), .s("c>s", 7000, "S", t: 5), .s("c>s", 7001, "A", "new", t: 6)],
              expected: ["open 1 c=50000 s=10911@1", "1 50000>10911 0:abc@2", "1 50000>10911 gap 3+4@3",
                         "1 50000>10911 7:x@3", "removed 1 replaced@4", "open 2 c=50000 s=10911@4",
                         "2 50000>10911 0:new@6"],
              remaining: 1),
    TableCase(name: "new SYN after one-sided FIN replaces the connection",
              steps: [.s("c>s", 1000, "S", t: 1), .s("c>s", 1001, "FA", t: 2), .s("c>s", 4000, "S", t: 3)],
              expected: ["open 1 c=50000 s=10911@1", "1 50000>10911 fin@2", "removed 1 replaced@3",
                         "open 2 c=50000 s=10911@3"]),
    TableCase(name: "retransmitted SYN and SYN+ACK do not replace",
              steps: [.s("c>s", 1000, "S", t: 1), .s("c>s", 1000, "S", t: 2), .s("s>c", 50, "SA", t: 3),
                      .s("s>c", 50, "SA", t: 4)],
              expected: ["open 1 c=50000 s=10911@1"], remaining: 1),
    TableCase(name: "explicit idle expiry flushes buffered data, in id order",
              steps: [.s("c>s", 1000, "S", t: 1), .s("c>s", 1004, "A", "def", t: 2), .s("c2>s", 2000, "S", t: 40),
                      .expire(60), .expire(100)],
              expected: ["open 1 c=50000 s=10911@1", "open 2 c=50001 s=10911@40",
                         "1 50000>10911 gap 0+3@2", "1 50000>10911 3:def@2", "removed 1 idle@60",
                         "removed 2 idle@100"],
              idleTimeout: 50, remaining: 0),
    TableCase(name: "automatic idle expiry while receiving",
              steps: [.s("c>s", 1000, "S", t: 1), .s("c2>s", 2000, "S", t: 30), .s("c3>s", 3000, "S", t: 60),
                      .s("c>s", 1001, "A", "late", t: 101)],
              expected: ["open 1 c=50000 s=10911@1", "open 2 c=50001 s=10911@30", "removed 1 idle@60",
                         "open 3 c=50002 s=10911@60", "open 4 c=? s=?@101", "4 50000>10911 mid@101",
                         "4 50000>10911 0:late@101"],
              idleTimeout: 50, automaticExpiry: true, remaining: 3),
    TableCase(name: "max connections evicts the least recently active",
              steps: [.s("c>s", 1000, "S", t: 1), .s("c2>s", 2000, "S", t: 2), .s("c2>s", 2005, "A", "zz", t: 3),
                      .s("c>s", 1001, "A", "a", t: 4), .s("c3>s", 3000, "S", t: 5)],
              expected: ["open 1 c=50000 s=10911@1", "open 2 c=50001 s=10911@2", "1 50000>10911 0:a@4",
                         "2 50001>10911 gap 0+4@3", "2 50001>10911 4:zz@3", "removed 2 evicted@5",
                         "open 3 c=50002 s=10911@5"],
              maxConnections: 2, remaining: 2),
    TableCase(name: "flushAll at end of capture, in id order, client stream first",
              steps: [.s("c2>s", 10, "S", t: 1), .s("c>s", 20, "S", t: 2), .s("s>c", 70, "SA", t: 3),
                      .s("s>c", 75, "FA", "late", t: 4), .s("c2>s", 13, "A", "x", t: 5), .flushAll],
              expected: ["open 1 c=50001 s=10911@1", "open 2 c=50000 s=10911@2",
                         "1 50001>10911 gap 0+2@5", "1 50001>10911 2:x@5", "removed 1 endOfCapture@5",
                         "2 10911>50000 gap 0+4@4", "2 10911>50000 4:late@4", "2 10911>50000 fin@4",
                         "removed 2 endOfCapture@4"],
              remaining: 0),
]

@Test(arguments: tableCases)
func connectionTableCase(_ c: TableCase) {
    let (events, table) = rtRun(c)
    #expect(events.map(rtRender) == c.expected)
    if let n = c.remaining { #expect(table.count == n) }
    if let n = c.ignored { #expect(table.ignoredSegments == n) }
}

@Test func connectionKeyIsUnordered() {
    let a = rtEndpoint("c"), b = rtEndpoint("s"), v6 = rtEndpoint("s6")
    #expect(ConnectionKey(a, b) == ConnectionKey(b, a))
    #expect(ConnectionKey(a, b).low == a)
    #expect(ConnectionKey(v6, a) == ConnectionKey(a, v6))
    #expect(ConnectionKey(v6, a).low == a)
    let p1 = Endpoint(address: .v4(1), port: 9), p2 = Endpoint(address: .v4(1), port: 8)
    #expect(ConnectionKey(p1, p2).low == p2)
}

@Test func connectionStateAndInitiator() {
    var table = TCPConnectionTable(maxBufferedBytesPerDirection: 64, maxConnections: 4, idleTimeout: 1_000)
    var events: [ConnectionEvent] = []
    let c = rtEndpoint("c"), s = rtEndpoint("s")
    let key = ConnectionKey(s, c)
    table.receive(raSegment(1, "S", "", time: 5, from: c, to: s), into: &events)
    table.receive(raSegment(9, "SA", "", time: 6, from: s, to: c), into: &events)
    table.receive(raSegment(2, "A", "ping", time: 7, from: c, to: s), into: &events)
    #expect(table.connection(key)?.state == .open)
    #expect(table.connection(key)?.initiator == c)
    #expect(table.connection(key)?.responder == s)
    #expect(table.connection(key)?.firstSeen.nanoseconds == 5)
    #expect(table.connection(key)?.lastSeen.nanoseconds == 7)
    #expect(table.connection(key)?.reassembler(from: c).bytesDelivered == 4)
    table.receive(raSegment(6, "FA", "", time: 8, from: c, to: s), into: &events)
    #expect(table.connection(key)?.state == .closing)
    table.receive(raSegment(10, "FA", "", time: 9, from: s, to: c), into: &events)
    #expect(table.connection(key) == nil)
    #expect(table.connectionsOpened == 1)
    #expect(events.last == .removed(id: 1, reason: .closed, time: CaptureTime(nanoseconds: 9)))
    if case .stream(_, let dir, _) = events[1] {
        #expect(dir == StreamDirection(source: c, destination: s))
    } else {
        Issue.record("expected a stream event, got \(events[1])")
    }
}

@Test func manyConnectionsStayBounded() {
    var table = TCPConnectionTable(maxBufferedBytesPerDirection: 16, maxConnections: 8, idleTimeout: 1_000_000)
    var events: [ConnectionEvent] = []
    let s = rtEndpoint("s")
    for i in 0..<500 {
        let c = Endpoint(address: .v4(0x0A00_0001), port: UInt16(1000 + i))
        table.receive(raSegment(100, "S", "", time: Int64(3 * i), from: c, to: s), into: &events)
        table.receive(raSegment(105, "A", "buffered", time: Int64(3 * i + 1), from: c, to: s), into: &events)
        if i % 2 == 0 {
            table.receive(raSegment(101, "FA", "", time: Int64(3 * i + 2), from: c, to: s), into: &events)
            table.receive(raSegment(7, "FA", "", time: Int64(3 * i + 2), from: s, to: c), into: &events)
        }
        #expect(table.count <= 8)
    }
    table.flushAll(into: &events)
    #expect(table.count == 0)
    let opened = events.filter { if case .opened = $0 { return true } else { return false } }.count
    let removed = events.filter { if case .removed = $0 { return true } else { return false } }.count
    #expect(opened == 500)
    #expect(removed == 500)
    #expect(table.evictions > 0)
}

/// The table's cache of recent keys is a hint: with more connections than it has entries (so keys share
/// entries) and connections removed in between (the dense array moves the last one into the gap), every
/// segment still reaches its own connection.
@Test func segmentsReachTheirConnectionWhatTheCacheHolds() {
    var table = TCPConnectionTable(maxBufferedBytesPerDirection: 1 << 16, maxConnections: 1024, idleTimeout: 1 << 40)
    var events: [ConnectionEvent] = []
    let s = rtEndpoint("s")
    let clients = (0..<600).map { Endpoint(address: .v4(0x0A00_0001 &+ UInt32($0 / 100)), port: UInt16(2000 + $0)) }
    var t: Int64 = 0
    func tick() -> Int64 { t += 1; return t }
    for c in clients { table.receive(raSegment(100, "S", "", time: tick(), from: c, to: s), into: &events) }
    // Close every third connection: the array's last entries move into the gaps.
    for (i, c) in clients.enumerated() where i % 3 == 1 {
        table.receive(raSegment(101, "FA", "", time: tick(), from: c, to: s), into: &events)
        table.receive(raSegment(7, "FA", "", time: tick(), from: s, to: c), into: &events)
    }
    // Two rounds of data from every open connection, each saying whose it is.
    for round in 0..<2 {
        for (i, c) in clients.enumerated() where i % 3 != 1 {
            let text = "\(round == 0 ? "a" : "b")\(c.port)"
            table.receive(raSegment(101 + UInt32(round) * 5, "A", text, time: tick(), from: c, to: s), into: &events)
        }
    }
    table.flushAll(into: &events)
    var idOf: [UInt16: Int] = [:]
    var received: [Int: String] = [:]
    for e in events {
        switch e {
        case .opened(let id, let client, _, _, _): idOf[client!.port] = id
        case .stream(let id, _, .data(let bytes, _, _)):
            received[id, default: ""] += String(buffer: bytes)
        default: break
        }
    }
    for (i, c) in clients.enumerated() {
        let id = idOf[c.port]
        #expect(id != nil)
        if i % 3 == 1 {
            #expect(received[id ?? -1] == nil, "connection of port \(c.port) was closed before any data")
        } else {
            #expect(received[id ?? -1] == "a\(c.port)b\(c.port)", "connection of port \(c.port)")
        }
    }
    #expect(table.ignoredSegments == 0)
}
