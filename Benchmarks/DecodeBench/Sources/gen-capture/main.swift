// gen-capture --out FILE --size-mib N [--seed S]
// gen-capture --out FILE --mode idle-polls --frames N [--connections C] [--seed S]
//
// Mode `consume` (the default):
// Writes a realistic capture of RocketMQ 4.9.4 consume traffic (classic pcap, Ethernet, microsecond
// timestamps) of at least N MiB, streaming: packets go to the file in chunks of a few MiB, nothing else grows
// with the file size. The traffic: 8 push consumers of one group (4 queues each of a 32-queue topic), one
// broker (10911) and one name server (9876). Each client starts up (GET_ROUTEINFO_BY_TOPIC, HEART_BEAT,
// GET_CONSUMER_LIST_BY_GROUP, QUERY_CONSUMER_OFFSET per queue), then pulls: PULL_MESSAGE requests with the
// 4.9.4 JSON header (version 401, HashMap key order, COMMIT_OFFSET|SUSPEND), FOUND answers with 1..32 stored
// records of 200..1000-byte bodies, a few long polls answered PULL_NOT_FOUND after ~15 s, flow-control
// pauses; UPDATE_CONSUMER_OFFSET oneways every 5 s, heartbeats and route refreshes every 30 s, rebalance
// (GET_CONSUMER_LIST_BY_GROUP) every 20 s. TCP segments of 16 KiB (loopback/GRO-like) on most connections,
// MSS 1448 on one client's, each data burst acknowledged by the receiver.
//
// Mode `idle-polls`: an idle group's long polls, N small frames in all. C push consumers of one group (one broker
// connection each, 4 queues each) pull with the Java 4.9.4 client's PULL_MESSAGE header (JSON, version 401,
// HashMap key order: commitOffset, sysFlag COMMIT_OFFSET|SUSPEND, suspendTimeoutMillis 15000, subVersion,
// expressionType TAG, ...); the broker holds each poll ~15 s and answers PULL_NOT_FOUND, remark
// OFFSET_OVERFLOW_ONE, with suggestWhichBrokerId/nextBeginOffset/minOffset/maxOffset. One frame per TCP
// segment; the broker's delayed ACK (40 ms) acknowledges each request, and the client's next pull (sent
// 0.1..1 ms after the answer) acknowledges the answer, as a real capture has them. Deterministic for a seed.

import Foundation
import NIOCore
import RMQCapture
import RocketMQRemoting

// MARK: arguments

func usage(_ message: String? = nil) -> Never {
    if let message { FileHandle.standardError.write(Data("gen-capture: \(message)\n".utf8)) }
    FileHandle.standardError.write(Data("usage: gen-capture --out FILE --size-mib N [--seed S]\n       gen-capture --out FILE --mode idle-polls --frames N [--connections C] [--seed S]\n".utf8))
    exit(2)
}

var outPath: String? = nil
var sizeMiB: Int? = nil
var seed: UInt64 = 1
var mode = "consume"
var frameTarget: Int? = nil
var connectionCount = 8
do {
    var args = CommandLine.arguments.dropFirst().makeIterator()
    while let a = args.next() {
        switch a {
        case "--out": outPath = args.next()
        case "--size-mib": sizeMiB = args.next().flatMap { Int($0) }
        case "--seed":
            guard let v = args.next().flatMap({ UInt64($0) }) else { usage("bad --seed") }
            seed = v
        case "--mode": mode = args.next() ?? ""
        case "--frames": frameTarget = args.next().flatMap { Int($0) }
        case "--connections":
            guard let v = args.next().flatMap({ Int($0) }), v > 0, v < 200 else { usage("bad --connections") }
            connectionCount = v
        case "-h", "--help": usage()
        default: usage("unknown argument \(a)")
        }
    }
}
guard let outPath else { usage("missing --out") }
guard mode == "consume" || mode == "idle-polls" else { usage("unknown --mode \(mode) (consume, idle-polls)") }
if mode == "idle-polls" {
    guard let frameTarget, frameTarget > 0 else { usage("idle-polls needs --frames N") }
} else {
    guard let sizeMiB, sizeMiB > 0 else { usage("missing or bad --size-mib") }
}
let targetBytes = Int64(sizeMiB ?? 0) * 1024 * 1024

// MARK: randomness

/// SplitMix64: deterministic for a seed.
struct Random {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in lo...hi.
    mutating func int(_ lo: Int, _ hi: Int) -> Int { lo + Int(next() % UInt64(hi - lo + 1)) }
    mutating func chance(_ p: Double) -> Bool { Double(next() >> 11) / Double(1 << 53) < p }
}

// MARK: output

/// Packets are appended to a PcapWriter per chunk; each chunk's bytes (without the 24-byte global header
/// after the first) go to the file, so memory stays at one chunk.
struct Output {
    let handle: FileHandle
    var chunk = PcapWriter(precision: .microseconds)
    var first = true
    var written: Int64 = 0
    var packets = 0
    static let chunkBytes = 8 << 20

    init(path: String) throws {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        guard let h = FileHandle(forWritingAtPath: path) else { throw CocoaError(.fileWriteNoPermission) }
        try h.truncate(atOffset: 0)
        handle = h
    }

    mutating func append(_ records: [PacketRecord]) {
        for r in records { chunk.append(r) }
        packets += records.count
        if chunk.bytes.count >= Self.chunkBytes { flush() }
    }

    var total: Int64 { written + Int64(chunk.bytes.count - (first ? 0 : 24)) }

    mutating func flush() {
        let bytes = chunk.bytes
        let data = first ? Data(bytes) : Data(bytes[24...])
        if !data.isEmpty { handle.write(data) }
        written += Int64(data.count)
        first = false
        chunk = PcapWriter(precision: .microseconds)
    }
}

// MARK: the scenario

let topic = "OrderTopic"
let group = "order_consumer_group"
let clientCount = 8
let queuesPerClient = 4
let brokerName = "broker-a"
let brokerAddr = "10.0.0.2:10911"
let broker = Endpoint(address: .v4(0x0A00_0002), port: 10911)
let nameServer = Endpoint(address: .v4(0x0A00_0003), port: 9876)
let startNanos: Int64 = 1_764_000_000 * 1_000_000_000
let ms: Int64 = 1_000_000

struct QueueState {
    var queueId: Int32
    var offset: Int64          // next offset to pull
    var consumed: Int64        // what the client commits
    var brokerMax: Int64
}

struct Client {
    var index: Int
    var clientID: String
    var address: UInt32
    var subVersion: Int64
    var opaque: Int32 = 0
    var queues: [QueueState]
    var ns: Int        // connection indexes
    var br: Int
    mutating func nextOpaque() -> Int32 { opaque += 1; return opaque }
}

struct Connection {
    var synth: TCPSynthesizer
    var segmentSize: Int
}

indirect enum Action {
    case startup(client: Int, step: Int)
    case pull(client: Int, queue: Int)
    /// Server answers `request` on connection `conn` with `response`, then runs `then` (after `delay`).
    case answer(conn: Int, response: RemotingCommand, then: Action?, delay: Int64)
    case commit(client: Int)
    case heartbeat(client: Int)
    case route(client: Int)
    case rebalance(client: Int)
}

/// A binary min-heap of timed actions (ties in scheduling order).
struct Schedule<A> {
    private var heap: [(time: Int64, seq: Int, action: A)] = []
    private var seq = 0
    var isEmpty: Bool { heap.isEmpty }
    private func less(_ a: Int, _ b: Int) -> Bool { (heap[a].time, heap[a].seq) < (heap[b].time, heap[b].seq) }
    mutating func add(_ time: Int64, _ action: A) {
        seq += 1
        heap.append((time, seq, action))
        var i = heap.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            if less(i, p) { heap.swapAt(i, p); i = p } else { break }
        }
    }
    mutating func pop() -> (time: Int64, action: A) {
        let top = heap[0]
        heap[0] = heap[heap.count - 1]
        heap.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < heap.count && less(l, m) { m = l }
            if r < heap.count && less(r, m) { m = r }
            if m == i { break }
            heap.swapAt(i, m)
            i = m
        }
        return (top.time, top.action)
    }
}

func ip(_ v: UInt32) -> String { "\(v >> 24).\((v >> 16) & 0xFF).\((v >> 8) & 0xFF).\(v & 0xFF)" }

/// Text bodies (order events as JSON) of 200..1000 bytes, cut from a pool.
let wordPool: [UInt8] = {
    var r = Random(state: 42)
    let words = ["sku", "warehouse", "shipped", "paid", "amount", "currency", "EUR", "USD", "customer", "region",
                 "eu-west", "us-east", "priority", "normal", "express", "item", "quantity", "discount", "coupon", "note"]
    var bytes: [UInt8] = []
    while bytes.count < 1 << 16 {
        bytes += Array(words[r.int(0, words.count - 1)].utf8)
        bytes.append(r.chance(0.3) ? UInt8(ascii: ",") : UInt8(ascii: " "))
        if r.chance(0.2) { bytes += Array(String(r.int(0, 99_999)).utf8) ; bytes.append(UInt8(ascii: " ")) }
    }
    return bytes
}()

/// The simulation: clients, connections, the schedule and the output.
@MainActor
final class Generator {
    var out: Output
    var rng: Random

    var clients: [Client] = []
    var conns: [Connection] = []
    var schedule = Schedule<Action>()
    /// The capture link's clock: packets are written in time order; a burst occupies it for its duration.
    var wire: Int64 = startNanos
    var physicalOffset: Int64 = 1_000_000_000
    var messagesWritten = 0
    var framesWritten = 0


    init(out: Output, rng seedRandom: Random) {
        self.out = out
        self.rng = seedRandom
        for i in 0..<clientCount {
            let addr: UInt32 = 0x0A00_010A + UInt32(i)
            let pid = 20_000 + rng.int(0, 9_999)
            var queues: [QueueState] = []
            for q in 0..<queuesPerClient {
                let qid = Int32(i * queuesPerClient + q)
                let start = Int64(rng.int(100_000, 900_000))
                queues.append(QueueState(queueId: qid, offset: start, consumed: start, brokerMax: start + Int64(rng.int(2_000, 20_000))))
            }
            let ns = conns.count
            for (k, server) in [nameServer, broker].enumerated() {
                let port = UInt16(40_000 + i * 10 + k)
                var s = TCPSynthesizer(client: Endpoint(address: .v4(addr), port: port), server: server,
                                       clientISN: UInt32(truncatingIfNeeded: rng.next()), serverISN: UInt32(truncatingIfNeeded: rng.next()))
                let small = k == 0 || i == clientCount - 1  // the name server path and one client: Ethernet MSS
                s.spacing = small ? 1_200 : 13_000     // ~10 Gbit/s
                conns.append(Connection(synth: s, segmentSize: small ? 1448 : 16384))
            }
            clients.append(Client(index: i, clientID: "\(ip(addr))@\(pid)", address: addr,
                                  subVersion: 1_764_000_000_000 + Int64(i * 37), queues: queues, ns: ns, br: ns + 1))
            schedule.add(startNanos + Int64(i) * 150 * ms + Int64(rng.int(0, 50)) * ms, .startup(client: i, step: 0))
        }

    }

    // MARK: emitting

    func frameBytes(_ cmd: RemotingCommand) -> [UInt8] {
        var b = RemotingFrame.encode(cmd)
        return b.readBytes(length: b.readableBytes) ?? []
    }

    /// Sends `cmd` on `conn` from `side` at (or after) `time`, acknowledged by the other side. Returns when the
    /// last byte was sent.
    @discardableResult
    func send(_ conn: Int, from side: TCPSynthesizer.Side, _ cmd: RemotingCommand, at time: Int64) -> Int64 {
        let at = max(time, wire)
        let bytes = frameBytes(cmd)
        var c = conns[conn]
        var records = c.synth.send(from: side, bytes: bytes, at: CaptureTime(nanoseconds: at), segmentSize: c.segmentSize)
        let last = records.last!.time.nanoseconds
        records.append(c.synth.ack(from: side.other, at: CaptureTime(nanoseconds: last + 25_000)))
        conns[conn] = c
        out.append(records)
        framesWritten += 1
        wire = last + 26_000
        return last
    }

    func handshake(_ conn: Int, at time: Int64) -> Int64 {
        let at = max(time, wire)
        out.append(conns[conn].synth.handshake(at: CaptureTime(nanoseconds: at)))
        wire = at + 3 * conns[conn].synth.spacing
        return wire + 100_000
    }

    func json(_ v: JSONValue) -> ByteBuffer { ByteBuffer(string: v.compactText) }

    func routeBody() -> ByteBuffer {
        json(TopicRouteData(brokerDatas: [BrokerData(cluster: "DefaultCluster", brokerName: brokerName, brokerAddrs: [(0, brokerAddr)])],
                            queueDatas: [QueueData(brokerName: brokerName, readQueueNums: Int32(clientCount * queuesPerClient),
                                                   writeQueueNums: Int32(clientCount * queuesPerClient))])
            .json(standardJSON: true))
    }

    func heartbeatBody(_ c: Client) -> ByteBuffer {
        json(HeartbeatData(clientID: c.clientID,
                           consumerDataSet: [ConsumerData(groupName: group, consumeFromWhere: "CONSUME_FROM_LAST_OFFSET",
                                                          subscriptionDataSet: [
                                                              .tag(topic: topic, expression: "*", subVersion: c.subVersion),
                                                              .tag(topic: "%RETRY%\(group)", expression: "*", subVersion: c.subVersion + 3),
                                                          ])],
                           producerGroups: ["CLIENT_INNER_PRODUCER"]).json)
    }


    func messageBody(_ queueOffset: Int64, queueId: Int32) -> [UInt8] {
        let size = rng.int(200, 1000)
        var b = Array("{\"orderId\":\(queueOffset * 64 + Int64(queueId)),\"status\":\"CREATED\",\"detail\":\"".utf8)
        let need = max(0, size - b.count - 2)
        let start = rng.int(0, wordPool.count - need - 1)
        b += wordPool[start..<(start + need)]
        b += Array("\"}".utf8)
        return b
    }

    func hex(_ v: UInt64, digits: Int) -> String {
        let s = String(v, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, digits - s.count)) + s
    }

    func storedRecords(_ c: Client, queue q: QueueState, count: Int, now: Int64) -> ByteBuffer {
        var body = ByteBuffer()
        body.reserveCapacity(count * 900)
        let nowMs = now / ms
        for k in 0..<count {
            let qo = q.offset + Int64(k)
            let payload = messageBody(qo, queueId: q.queueId)
            let uniq = hex(UInt64(0x0A00_0064) << 32 | UInt64(qo & 0xFFFF_FFFF), digits: 16) + hex(UInt64(q.queueId) << 40 | UInt64(qo), digits: 16)
            let before = body.writerIndex
            StoredMessageDecoder.encode(
                queueId: q.queueId, queueOffset: qo, physicalOffset: physicalOffset, bornTimestamp: nowMs - 2_000 + Int64(k),
                bornHost: MessageHost(address: [10, 0, 0, 100], port: 51_234), storeTimestamp: nowMs - 1_990 + Int64(k),
                storeHost: MessageHost(address: [10, 0, 0, 2], port: 10911), body: payload, topic: topic,
                propertiesText: MessageProperties.encode([("KEYS", "order-\(qo * 64 + Int64(q.queueId))"), ("UNIQ_KEY", uniq),
                                                          ("CLUSTER", "DefaultCluster"), ("WAIT", "true"), ("TAGS", k % 5 == 0 ? "TagB" : "TagA")]),
                into: &body)
            physicalOffset += Int64(body.writerIndex - before)
            messagesWritten += 1
        }
        return body
    }

    func pullRequest(_ c: inout Client, _ qi: Int) -> RemotingCommand {
        let q = c.queues[qi]
        let header = PullMessageRequestHeader(consumerGroup: group, topic: topic, queueId: q.queueId, queueOffset: q.offset,
                                              maxMsgNums: 32, sysFlag: [.commitOffset, .suspend], commitOffset: q.consumed,
                                              suspendTimeoutMillis: 15_000, subVersion: c.subVersion)
        return .request(code: RequestCode.pullMessage, opaque: c.nextOpaque(), extFields: header.extFields)
    }

    func pullAnswer(_ req: RemotingCommand, found: Bool, next: Int64, max: Int64, body: ByteBuffer?) -> RemotingCommand {
        let h = PullMessageResponseHeader(suggestWhichBrokerId: 0, nextBeginOffset: next, minOffset: 0, maxOffset: max)
        return .response(to: req, code: found ? ResponseCode.success : ResponseCode.pullNotFound,
                         remark: found ? "FOUND" : "OFFSET_OVERFLOW_ONE", extFields: h.extFields, body: body)
    }

    func latency() -> Int64 { Int64(rng.int(150, 2_500)) * 1_000 }


    func run() {

        while !schedule.isEmpty && out.total < targetBytes {
            let (now, action) = schedule.pop()
            switch action {
            case .startup(let ci, let step):
                var c = clients[ci]
                switch step {
                case 0:  // route from the name server
                    let t = handshake(c.ns, at: now)
                    let req = RemotingCommand.request(code: RequestCode.getRouteInfoByTopic, opaque: c.nextOpaque(),
                                                      extFields: GetRouteInfoRequestHeader(topic: topic).extFields)
                    let sent = send(c.ns, from: .client, req, at: t)
                    schedule.add(sent + latency(), .answer(conn: c.ns, response: .response(to: req, code: ResponseCode.success, extFields: ExtFields(), body: routeBody()),
                                                           then: .startup(client: ci, step: 1), delay: 2 * ms))
                case 1:  // heartbeat to the broker
                    let t = handshake(c.br, at: now)
                    let req = RemotingCommand.request(code: RequestCode.heartBeat, opaque: c.nextOpaque(), extFields: ExtFields(), body: heartbeatBody(c))
                    let sent = send(c.br, from: .client, req, at: t)
                    schedule.add(sent + latency(), .answer(conn: c.br, response: .response(to: req, code: ResponseCode.success, extFields: ExtFields()),
                                                           then: .startup(client: ci, step: 2), delay: 5 * ms))
                case 2:  // rebalance: who else is in the group
                    let req = RemotingCommand.request(code: RequestCode.getConsumerListByGroup, opaque: c.nextOpaque(),
                                                      extFields: ConsumerGroupHeader(consumerGroup: group).extFields)
                    let sent = send(c.br, from: .client, req, at: now)
                    let ids = clients.prefix(ci + 1).map(\.clientID)
                    schedule.add(sent + latency(), .answer(conn: c.br, response: .response(to: req, code: ResponseCode.success, extFields: ExtFields(),
                                                                                            body: json(ConsumerIdList.json(ids))),
                                                           then: .startup(client: ci, step: 3), delay: 1 * ms))
                default:  // steps 3...: the start offset of each queue, then its first pull
                    let qi = step - 3
                    let q = c.queues[qi]
                    let req = RemotingCommand.request(code: RequestCode.queryConsumerOffset, opaque: c.nextOpaque(),
                                                      extFields: QueryConsumerOffsetRequestHeader(consumerGroup: group, topic: topic, queueId: q.queueId).extFields)
                    let sent = send(c.br, from: .client, req, at: now)
                    let then: Action = qi + 1 < queuesPerClient ? .startup(client: ci, step: step + 1) : .commit(client: ci)
                    schedule.add(sent + latency(), .answer(conn: c.br, response: .response(to: req, code: ResponseCode.success,
                                                                                            extFields: OffsetResponseHeader(offset: q.offset).extFields),
                                                           then: then, delay: qi + 1 < queuesPerClient ? 200_000 : 5_000 * ms))
                    schedule.add(sent + 3 * ms + Int64(qi) * 100_000, .pull(client: ci, queue: qi))
                    if qi + 1 == queuesPerClient {
                        schedule.add(sent + 30_000 * ms, .heartbeat(client: ci))
                        schedule.add(sent + 30_000 * ms + 7 * ms, .route(client: ci))
                        schedule.add(sent + 20_000 * ms, .rebalance(client: ci))
                    }
                }
                clients[ci] = c

            case .pull(let ci, let qi):
                var c = clients[ci]
                let req = pullRequest(&c, qi)
                let sent = send(c.br, from: .client, req, at: now)
                var q = c.queues[qi]
                // The producers keep writing: the backlog grows a little between pulls.
                q.brokerMax += Int64(rng.int(0, 40))
                let available = q.brokerMax - q.offset
                if available <= 0 || rng.chance(0.03) {
                    // Caught up: the broker holds the long poll; mostly new messages arrive, sometimes none for 15 s.
                    if rng.chance(0.4) {
                        let hold = 15_000 * ms + Int64(rng.int(0, 400)) * ms
                        schedule.add(sent + hold, .answer(conn: c.br, response: pullAnswer(req, found: false, next: q.offset, max: q.offset, body: nil),
                                                          then: .pull(client: ci, queue: qi), delay: 200_000))
                        q.brokerMax = q.offset
                    } else {
                        let hold = Int64(rng.int(5, 4_000)) * ms
                        let n = rng.int(1, 4)
                        q.brokerMax = q.offset + Int64(n)
                        let body = storedRecords(c, queue: q, count: n, now: sent + hold)
                        q.offset += Int64(n)
                        schedule.add(sent + hold, .answer(conn: c.br, response: pullAnswer(req, found: true, next: q.offset, max: q.brokerMax, body: body),
                                                          then: .pull(client: ci, queue: qi), delay: 300_000))
                    }
                } else {
                    let n = Int(min(available, rng.chance(0.7) ? 32 : Int64(rng.int(1, 31))))
                    let lat = latency()
                    let body = storedRecords(c, queue: q, count: n, now: sent + lat)
                    q.offset += Int64(n)
                    // Then the next pull: at once, or after the flow-control pause (50 ms) while the process queue is full.
                    let pause = rng.chance(0.45) ? Int64(rng.int(50, 450)) * 1_000 : Int64(rng.int(1, 3)) * 50 * ms
                    schedule.add(sent + lat, .answer(conn: c.br, response: pullAnswer(req, found: true, next: q.offset, max: q.brokerMax, body: body),
                                                     then: .pull(client: ci, queue: qi), delay: pause))
                }
                // What was handed to the listener some time ago is consumed by now.
                q.consumed = max(q.consumed, q.offset - Int64(rng.int(0, 64)))
                c.queues[qi] = q
                clients[ci] = c

            case .answer(let conn, let response, let then, let delay):
                let sent = send(conn, from: .server, response, at: now)
                if let then { schedule.add(sent + delay, then) }

            case .commit(let ci):
                var c = clients[ci]
                var t = now
                for q in c.queues {
                    let h = UpdateConsumerOffsetRequestHeader(consumerGroup: group, topic: topic, queueId: q.queueId, commitOffset: q.consumed)
                    let req = RemotingCommand.request(code: RequestCode.updateConsumerOffset, opaque: c.nextOpaque(), extFields: h.extFields, oneway: true)
                    t = send(c.br, from: .client, req, at: t) + 60_000
                }
                clients[ci] = c
                schedule.add(now + 5_000 * ms, .commit(client: ci))

            case .heartbeat(let ci):
                var c = clients[ci]
                let req = RemotingCommand.request(code: RequestCode.heartBeat, opaque: c.nextOpaque(), extFields: ExtFields(), body: heartbeatBody(c))
                let sent = send(c.br, from: .client, req, at: now)
                schedule.add(sent + latency(), .answer(conn: c.br, response: .response(to: req, code: ResponseCode.success, extFields: ExtFields()),
                                                       then: nil, delay: 0))
                clients[ci] = c
                schedule.add(now + 30_000 * ms, .heartbeat(client: ci))

            case .route(let ci):
                var c = clients[ci]
                let req = RemotingCommand.request(code: RequestCode.getRouteInfoByTopic, opaque: c.nextOpaque(),
                                                  extFields: GetRouteInfoRequestHeader(topic: topic).extFields)
                let sent = send(c.ns, from: .client, req, at: now)
                schedule.add(sent + latency(), .answer(conn: c.ns, response: .response(to: req, code: ResponseCode.success, extFields: ExtFields(), body: routeBody()),
                                                       then: nil, delay: 0))
                clients[ci] = c
                schedule.add(now + 30_000 * ms, .route(client: ci))

            case .rebalance(let ci):
                var c = clients[ci]
                let req = RemotingCommand.request(code: RequestCode.getConsumerListByGroup, opaque: c.nextOpaque(),
                                                  extFields: ConsumerGroupHeader(consumerGroup: group).extFields)
                let sent = send(c.br, from: .client, req, at: now)
                schedule.add(sent + latency(), .answer(conn: c.br, response: .response(to: req, code: ResponseCode.success, extFields: ExtFields(),
                                                                                        body: json(ConsumerIdList.json(clients.map(\.clientID)))),
                                                       then: nil, delay: 0))
                clients[ci] = c
                schedule.add(now + 20_000 * ms, .rebalance(client: ci))
            }
        }
    }
}

// MARK: idle long polls

enum IdleAction {
    case pull(client: Int, queue: Int)
    case answer(client: Int, queue: Int, request: RemotingCommand)
    case delayedAck(client: Int)
}

@MainActor
func runIdlePolls(out: inout Output, rng: inout Random, frames: Int, connections: Int) -> (frames: Int, seconds: Double) {
    let queuesPerConnection = 4
    struct IdleClient {
        var synth: TCPSynthesizer
        var opaque: Int32
        var subVersion: Int64
        var offsets: [Int64]      // per queue: the offset the consumer waits at (nothing new arrives)
        var queueIds: [Int32]
        var ackDue = false        // a delayed ACK is scheduled for the broker side
    }
    var clients: [IdleClient] = []
    var schedule = Schedule<IdleAction>()
    var wire = startNanos
    for i in 0..<connections {
        let addr: UInt32 = 0x0A00_010A + UInt32(i)
        var s = TCPSynthesizer(client: Endpoint(address: .v4(addr), port: UInt16(40_000 + i)), server: broker,
                               clientISN: UInt32(truncatingIfNeeded: rng.next()), serverISN: UInt32(truncatingIfNeeded: rng.next()))
        s.spacing = 1_200
        let qids = (0..<queuesPerConnection).map { Int32(i * queuesPerConnection + $0) }
        clients.append(IdleClient(synth: s, opaque: Int32(rng.int(1_000, 90_000)), subVersion: 1_764_000_000_000 + Int64(rng.int(0, 99_999)),
                                  offsets: qids.map { _ in Int64(rng.int(10_000, 9_000_000)) }, queueIds: qids))
        let t = startNanos + Int64(i) * 7 * ms
        out.append(clients[i].synth.handshake(at: CaptureTime(nanoseconds: t)))
        for q in 0..<queuesPerConnection {
            schedule.add(t + 1 * ms + Int64(q) * 2 * ms + Int64(rng.int(0, 3_000)) * ms, .pull(client: i, queue: q))
        }
    }
    wire = startNanos + Int64(connections) * 7 * ms
    var written = 0
    var encodeBuffer = ByteBuffer()
    func frameBytes(_ cmd: RemotingCommand) -> [UInt8] {
        encodeBuffer.clear()
        RemotingFrame.encode(cmd, into: &encodeBuffer)
        return encodeBuffer.getBytes(at: encodeBuffer.readerIndex, length: encodeBuffer.readableBytes) ?? []
    }
    while written < frames && !schedule.isEmpty {
        let (now, action) = schedule.pop()
        let at = max(now, wire)
        switch action {
        case .pull(let ci, let qi):
            var c = clients[ci]
            c.opaque &+= 1
            let offset = c.offsets[qi]
            let header = PullMessageRequestHeader(consumerGroup: group, topic: topic, queueId: c.queueIds[qi], queueOffset: offset,
                                                  maxMsgNums: 32, sysFlag: [.commitOffset, .suspend], commitOffset: offset,
                                                  suspendTimeoutMillis: 15_000, subVersion: c.subVersion)
            let req = RemotingCommand.request(code: RequestCode.pullMessage, opaque: c.opaque, extFields: header.extFields)
            // The request segment also acknowledges the broker's last answer.
            out.append(c.synth.send(from: .client, bytes: frameBytes(req), at: CaptureTime(nanoseconds: at)))
            written += 1
            if !c.ackDue {
                c.ackDue = true
                schedule.add(at + 40 * ms, .delayedAck(client: ci))
            }
            schedule.add(at + 15_000 * ms + Int64(rng.int(0, 5_000)) * 1_000, .answer(client: ci, queue: qi, request: req))
            clients[ci] = c
        case .answer(let ci, let qi, let req):
            var c = clients[ci]
            let offset = c.offsets[qi]
            let h = PullMessageResponseHeader(suggestWhichBrokerId: 0, nextBeginOffset: offset, minOffset: 0, maxOffset: offset)
            let resp = RemotingCommand.response(to: req, code: ResponseCode.pullNotFound, remark: "OFFSET_OVERFLOW_ONE", extFields: h.extFields)
            out.append(c.synth.send(from: .server, bytes: frameBytes(resp), at: CaptureTime(nanoseconds: at)))
            written += 1
            clients[ci] = c
            // The consumer pulls again at once (PullCallback → executePullRequestImmediately).
            schedule.add(at + Int64(rng.int(100, 1_000)) * 1_000, .pull(client: ci, queue: qi))
        case .delayedAck(let ci):
            clients[ci].ackDue = false
            out.append([clients[ci].synth.ack(from: .server, at: CaptureTime(nanoseconds: at))])
        }
        wire = at + 2_000
    }
    return (written, Double(wire - startNanos) / 1e9)
}

if mode == "idle-polls" {
    var out: Output
    do { out = try Output(path: outPath) } catch { usage("cannot write \(outPath): \(error)") }
    var rng = Random(state: seed &* 0x2545_F491_4F6C_DD1D &+ 11)
    let (frames, seconds) = runIdlePolls(out: &out, rng: &rng, frames: frameTarget!, connections: connectionCount)
    out.flush()
    try? out.handle.close()
    FileHandle.standardError.write(Data(("gen-capture: \(outPath): \(out.written) bytes, \(out.packets) packets, \(frames) frames "
        + "(idle long polls, \(connectionCount) connections), \(String(format: "%.1f", seconds)) s of traffic\n").utf8))
    exit(0)
}

let generator: Generator
do {
    generator = Generator(out: try Output(path: outPath), rng: Random(state: seed &* 0x2545_F491_4F6C_DD1D &+ 7))
} catch { usage("cannot write \(outPath): \(error)") }
generator.run()
generator.out.flush()
try? generator.out.handle.close()
let seconds = Double(generator.wire - startNanos) / 1e9
FileHandle.standardError.write(Data(("gen-capture: \(outPath): \(generator.out.written) bytes, \(generator.out.packets) packets, \(generator.framesWritten) frames, "
    + "\(generator.messagesWritten) stored messages, \(String(format: "%.1f", seconds)) s of traffic\n").utf8))
