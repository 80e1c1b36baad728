import Foundation
import NIOCore
import RMQCapture
@testable import RMQBroker
import RocketMQRemoting
import Testing

/// ../shared/captures (real 4.9.4 traffic), when present.
enum Captures {
    static let root: String? = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            let c = url.appendingPathComponent("shared/captures/realbroker-4.9.4")
            if FileManager.default.fileExists(atPath: c.path) { return c.path }
        }
        return nil
    }()
    static var present: Bool {
        if root == nil { print("skipped: ../shared/captures is absent") }
        return root != nil
    }
}

/// One frame of a capture: the client port of its connection, which way it went, when, and the command.
struct CapturedFrame {
    var clientPort: UInt16
    var serverPort: UInt16
    var toServer: Bool
    var timeMillis: Int64
    var command: RemotingCommand
}

/// Frames of a clean loopback capture: per direction, payloads in sequence order (retransmissions dropped).
func capturedFrames(_ path: String, serverPorts: Set<UInt16> = [9876, 10911, 10909]) throws -> [CapturedFrame] {
    let reader = try PcapReader(path: path)
    try reader.checkLinkType()
    struct Dir { var next: UInt32?; var buffer = ByteBuffer(); var decoder = RemotingFrameDecoder() }
    var dirs: [String: Dir] = [:]
    var out: [CapturedFrame] = []
    var failure: Error?
    try reader.forEachDecoded { p in
        guard let s = p.segment else { return true }
        let toServer = serverPorts.contains(s.destination.port)
        guard toServer || serverPorts.contains(s.source.port) else { return true }
        let key = "\(s.source)>\(s.destination)"
        var d = dirs[key] ?? Dir()
        if s.flags.contains(.syn) { d.next = s.sequence &+ 1; dirs[key] = d; return true }
        if s.capturedLength == 0 { dirs[key] = d; return true }
        if let n = d.next, s.sequence != n, Int32(bitPattern: s.sequence &- n) < 0 { return true }
        d.next = s.sequence &+ UInt32(s.capturedLength)
        d.buffer.writeImmutableBuffer(s.payload)
        do {
            while let cmd = try d.decoder.decode(buffer: &d.buffer) {
                out.append(CapturedFrame(clientPort: toServer ? s.source.port : s.destination.port,
                                         serverPort: toServer ? s.destination.port : s.source.port, toServer: toServer,
                                         timeMillis: s.time.nanoseconds / 1_000_000, command: cmd))
            }
        } catch {
            failure = error
            return false
        }
        d.buffer.discardReadBytes()
        dirs[key] = d
        return true
    }
    if let failure { throw failure }
    return out
}

@Suite(.enabled(if: Captures.present, "../shared/captures is absent"))
struct RealBrokerReplayTests {
    /// Replays every client request of a real 4.9.4 session into NameServerState and BrokerState at the
    /// captured times and compares each answer with the real broker's: code, remark, extFields (keys, order and
    /// values: offsets, queue ids, msgIds, which encode commit-log positions, so every stored record must have
    /// the real record's size), and the bodies of route, consumer-list and pull answers (pull records compared
    /// without their store timestamps, which are the real broker's clock).
    /// Sessions that start from an empty store (cap2 and cap3 continue an earlier store, so they cannot be
    /// replayed). cap7: its two oneway sends were appended by the real broker in the other order than they
    /// arrived (oneways run on the broker's thread pool), so the two pull answers carrying them differ in
    /// physical offsets.
    @Test(arguments: [("cap1_single_consumer_json.pcap", 0), ("cap5_startup_and_single_consumer_rocketmq_binary.pcap", 0),
                      ("cap7_vipchannel_mtu1500_json.pcap", 2)])
    func answersMatchTheRealBroker(file: String, allowed: Int) throws {
        let frames = try capturedFrames(Captures.root! + "/" + file)
        var cfg = BrokerConfiguration()
        cfg.storeHost = MessageHost(address: [127, 0, 0, 1], port: 10911)
        cfg.brokerAddress = "127.0.0.1:10911"
        cfg.holdCheckIntervalMillis = 0  // the real check runs every 5 s; here at every frame, never later than the real one
        var broker = BrokerState(config: cfg)
        var ns = NameServerState()
        func register() {
            ns.registerBroker(cluster: cfg.clusterName, brokerName: cfg.brokerName, brokerId: 0, address: cfg.brokerAddress,
                              topics: Array(broker.topics.values))
        }
        register()
        var ours: [String: RemotingCommand] = [:]
        func key(_ port: UInt16, _ server: UInt16, _ opaque: Int32) -> String { "\(port)/\(server)/\(opaque)" }
        func collect(_ actions: [BrokerAction], server: UInt16) {
            for a in actions {
                switch a {
                case .respond(let c, let r), .wake(let c, let r): ours[key(UInt16(c), server, r.opaque)] = r
                case .topicsChanged: register()
                default: break
                }
            }
        }
        var compared = 0
        var mismatches: [String] = []
        for f in frames {
            let brokerSide = f.serverPort != 9876
            if f.toServer && !f.command.isResponse {
                if !brokerSide {
                    if f.command.code == RequestCode.registerBroker { continue }
                    if let r = ns.handle(f.command) { ours[key(f.clientPort, f.serverPort, r.opaque)] = r }
                    continue
                }
                collect(broker.tick(now: f.timeMillis), server: f.serverPort)
                let client = ClientRef(connection: Int(f.clientPort), remote: MessageHost(address: [127, 0, 0, 1], port: Int32(f.clientPort)))
                collect(broker.handle(f.command, from: client, now: f.timeMillis), server: f.serverPort)
            } else if !f.toServer && f.command.isResponse {
                if brokerSide { collect(broker.tick(now: f.timeMillis), server: f.serverPort) }
                guard let mine = ours[key(f.clientPort, f.serverPort, f.command.opaque)] else {
                    if f.serverPort == 9876 { continue }  // answers to the broker's own REGISTER_BROKER
                    mismatches.append("no answer of ours to opaque \(f.command.opaque) (real: \(f.command.codeName))")
                    continue
                }
                compared += 1
                let real = f.command
                var why: [String] = []
                if mine.code != real.code { why.append("code \(mine.code) vs \(real.code)") }
                if mine.remark != real.remark { why.append("remark \(mine.remark ?? "nil") vs \(real.remark ?? "nil")") }
                // Binary headers cannot tell an empty map from none.
                let binaryEmpty = real.serializeType == .rocketmq && (mine.extFields ?? ExtFields()).isEmpty && (real.extFields ?? ExtFields()).isEmpty
                if mine.extFields != real.extFields && !binaryEmpty { why.append("extFields \(mine.extFields.map { "\($0)" } ?? "nil") vs \(real.extFields.map { "\($0)" } ?? "nil")") }
                let realBody = real.body.map { Array($0.readableBytesView) } ?? []
                let myBody = mine.body.map { Array($0.readableBytesView) } ?? []
                if real.code == 0, realBody != myBody {
                    let realMsgs = real.body.map { StoredMessageDecoder.decodeAll($0).messages } ?? []
                    if !realMsgs.isEmpty {
                        var a = realMsgs, b = mine.body.map { StoredMessageDecoder.decodeAll($0).messages } ?? []
                        for i in a.indices { a[i].storeTimestamp = 0 }
                        for i in b.indices { b[i].storeTimestamp = 0 }
                        if a.map(encoded) != b.map(encoded) {
                            let d = zip(a, b).first { encoded($0) != encoded($1) }.map { x, y in
                                "real \(x.topic)#\(x.queueId)@\(x.queueOffset) phys \(x.physicalOffset) recon \(x.reconsumeTimes) born \(x.bornHost) sys \(x.sysFlag.rawValue) props \(x.propertiesText.debugDescription) / ours \(y.topic)#\(y.queueId)@\(y.queueOffset) phys \(y.physicalOffset) recon \(y.reconsumeTimes) born \(y.bornHost) sys \(y.sysFlag.rawValue) props \(y.propertiesText.debugDescription)"
                            } ?? "counts \(a.count) vs \(b.count)"
                            why.append("pull records differ: \(d)")
                        }
                    } else if ![RequestCode.heartBeat].contains(real.code) {
                        why.append("body \(String(decoding: myBody, as: UTF8.self)) vs \(String(decoding: realBody, as: UTF8.self))")
                    }
                }
                if !why.isEmpty { mismatches.append("opaque \(real.opaque) \(real.codeName): " + why.joined(separator: "; ")) }
            }
        }
        #expect(compared > 100)
        let report = "\(mismatches.count) of \(compared) answers differ:\n" + mismatches.prefix(15).joined(separator: "\n")
        #expect(mismatches.count <= allowed, "\(report)")
    }
}

/// A record re-encoded (store timestamp cleared by the caller), for comparison.
func encoded(_ m: StoredMessage) -> [UInt8] {
    var b = ByteBuffer()
    StoredMessageDecoder.encode(queueId: m.queueId, flag: m.flag, queueOffset: m.queueOffset, physicalOffset: m.physicalOffset,
                                sysFlag: m.sysFlag, bornTimestamp: m.bornTimestamp, bornHost: MessageHost(address: m.bornHost.address, port: 0),
                                storeTimestamp: m.storeTimestamp, storeHost: m.storeHost, reconsumeTimes: m.reconsumeTimes,
                                preparedTransactionOffset: m.preparedTransactionOffset, body: m.storedBody, topic: m.topic,
                                propertiesText: m.propertiesText, into: &b)
    return Array(b.readableBytesView)
}
