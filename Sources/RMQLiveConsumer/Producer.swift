import NIOConcurrencyHelpers
import NIOCore
import RMQConsumer
import RMQTraceModel
import RocketMQRemoting
import RocketMQRemotingNIO
#if canImport(Glibc)
import Glibc
#endif

/// One message to produce.
public struct OutgoingMessage: Sendable {
    public var body: [UInt8]
    public var tags: String?
    public var keys: String?
    public init(body: [UInt8], tags: String? = nil, keys: String? = nil) {
        self.body = body
        self.tags = tags
        self.keys = keys
    }
}

public struct ProducerError: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

/// A small producer for demos, tests and benchmarks: the topic's route from the name server, then
/// SEND_MESSAGE_V2 (one message) or SEND_BATCH_MESSAGE (several, one queue) to the master of each queue, the
/// queues taken in turn. No retries: an error answer throws.
public final class SimpleProducer: Sendable {
    public let group: String
    let nameServer: RemotingClient
    let brokers: [String: RemotingClient]
    /// Writable queues of the topic, sorted.
    public let queues: [MessageQueue]
    public let topic: String
    let loop: any EventLoop
    private let uniquePrefix: String
    private let nextUnique = NIOLockedValueBox(0)

    init(group: String, topic: String, nameServer: RemotingClient, brokers: [String: RemotingClient], queues: [MessageQueue],
         loop: any EventLoop) {
        self.group = group
        self.topic = topic
        self.nameServer = nameServer
        self.brokers = brokers
        self.queues = queues
        self.loop = loop
        // Java's UNIQ_KEY layout in spirit: IP, pid, start time, counter (32 hex digits).
        uniquePrefix = "7F000001" + Self.hex(UInt64(getpid()), width: 4)
            + Self.hex(UInt64(CaptureTime.now().nanoseconds / 1_000_000), width: 8)
    }

    /// The low `width` hex digits of `v`, upper case, zero-padded, written in place.
    static func hex(_ v: UInt64, width: Int) -> String {
        String(unsafeUninitializedCapacity: width) { out in
            var w = RecordWriter(base: UnsafeMutableRawPointer(out.baseAddress!))
            w.putHex(v, width: width)
            return width
        }
    }

    /// A fresh UNIQ_KEY (the message id consumers see).
    public func makeUniqueKey() -> String {
        let n = reserveUniqueKeys(1)
        return String(unsafeUninitializedCapacity: uniqueKeyLength) { out in
            var w = RecordWriter(base: UnsafeMutableRawPointer(out.baseAddress!))
            putUniqueKey(n, to: &w)
            return w.offset
        }
    }

    /// Reserves `count` consecutive UNIQ_KEY counters (one lock for a batch); returns the first.
    func reserveUniqueKeys(_ count: Int) -> Int { nextUnique.withLockedValue { $0 += count; return $0 - count + 1 } }

    /// UNIQ_KEY number `n`: the prefix, then the counter as 12 hex digits (its low 48 bits).
    private func putUniqueKey(_ n: Int, to w: inout RecordWriter) {
        w.put(uniquePrefix)
        w.putHex(UInt64(truncatingIfNeeded: n), width: 12)
    }

    /// The length of a UNIQ_KEY.
    private var uniqueKeyLength: Int { uniquePrefix.utf8.count + 12 }

    /// The properties text of `m` with UNIQ_KEY number `unique`, written at the end of `out`: KEYS, UNIQ_KEY,
    /// WAIT, TAGS, joined as `MessageProperties.encode` joins them (no trailing separator).
    func writeProperties(_ m: OutgoingMessage, unique: Int, into out: inout ByteBuffer) {
        let n = propertiesLength(m)
        out.writeWithUnsafeMutableBytes(minimumWritableBytes: n) { raw in
            var w = RecordWriter(base: raw.baseAddress!)
            writeProperties(m, unique: unique, to: &w)
            precondition(w.offset == n, "properties length")
            return n
        }
    }

    /// The length of `writeProperties`' text for `m`.
    func propertiesLength(_ m: OutgoingMessage) -> Int {
        (m.keys.map { 6 + $0.utf8.count } ?? 0) + 9 + uniqueKeyLength + 10 + (m.tags.map { 6 + $0.utf8.count } ?? 0)
    }

    /// `writeProperties` into memory reserved for exactly `propertiesLength(m)` bytes.
    private func writeProperties(_ m: OutgoingMessage, unique: Int, to w: inout RecordWriter) {
        if let k = m.keys {
            w.put("KEYS\u{1}")
            w.put(k)
            w.put(UInt8(0x02))
        }
        w.put("UNIQ_KEY\u{1}")
        putUniqueKey(unique, to: &w)
        w.put("\u{2}WAIT\u{1}true")
        if let t = m.tags {
            w.put("\u{2}TAGS\u{1}")
            w.put(t)
        }
    }

    /// One record of a SEND_BATCH_MESSAGE body for `m` with UNIQ_KEY number `unique`, written at the end of `out`
    /// with one reservation of exactly its size (`BatchMessageRecord.write(flag:body:propertiesLength:...)`): a
    /// record costs one checked access to the buffer instead of eleven, most of the producer's own work per message.
    func writeBatchRecord(_ m: OutgoingMessage, unique: Int, into out: inout ByteBuffer) {
        m.body.withUnsafeBytes { body in
            BatchMessageRecord.write(flag: 0, body: body, propertiesLength: propertiesLength(m), into: &out) {
                writeProperties(m, unique: unique, to: &$0)
            }
        }
    }

    public static func connect(nameServer: String, topic: String, group: String = "rmq-trace-producer", on loop: any EventLoop,
                               observer: (any FrameObserver)? = nil, counter: ConnectionCounter = ConnectionCounter()) async throws -> SimpleProducer {
        let (h, p) = Core.split(Address(nameServer))
        let ns = try await RemotingClient.connect(host: h, port: p, group: loop,
                                                  configuration: RemotingClientConfiguration(serverRole: .nameServer, observer: observer, counter: counter))
        let route: TopicRouteData
        do {
            route = try await Self.route(of: topic, from: ns)
        } catch {
            await ns.close()
            throw error
        }
        var brokers: [String: RemotingClient] = [:]
        var queues: [MessageQueue] = []
        for b in route.brokerDatas {
            guard let master = b.masterAddress else { continue }
            let (bh, bp) = Core.split(Address(master))
            brokers[b.brokerName] = try await RemotingClient.connect(host: bh, port: bp, group: loop,
                configuration: RemotingClientConfiguration(serverRole: .broker, observer: observer, counter: counter))
        }
        for q in route.queueDatas where brokers[q.brokerName] != nil {
            for i in 0..<q.writeQueueNums { queues.append(MessageQueue(topic: topic, brokerName: q.brokerName, queueId: i)) }
        }
        queues.sort()
        guard !queues.isEmpty else { throw ProducerError(description: "\(topic) has no writable queue") }
        return SimpleProducer(group: group, topic: topic, nameServer: ns, brokers: brokers, queues: queues, loop: loop)
    }

    /// Creates (or updates) `topic` with `queues` read and write queues on every master of the default topic's
    /// route (UPDATE_AND_CREATE_TOPIC, perm RW, as `mqadmin updateTopic -c` does), then waits until the name server
    /// routes it.
    public static func createTopic(nameServer: String, topic: String, queues: Int32, on loop: any EventLoop,
                                   timeout: Duration = .seconds(10)) async throws {
        let (h, p) = Core.split(Address(nameServer))
        let ns = try await RemotingClient.connect(host: h, port: p, group: loop, configuration: RemotingClientConfiguration(serverRole: .nameServer))
        do {
            try await createTopic(topic, queues: queues, nameServer: ns, on: loop, timeout: timeout)
            await ns.close()
        } catch {
            await ns.close()
            throw error
        }
    }

    /// GET_ROUTEINFO_BY_TOPIC; an answer other than a route throws, naming its code and remark.
    static func route(of topic: String, from ns: RemotingClient) async throws -> TopicRouteData {
        let r = try await ns.request(RemotingCommand.request(code: RequestCode.getRouteInfoByTopic, opaque: 0,
                                                             extFields: GetRouteInfoRequestHeader(topic: topic).extFields))
        guard r.code == ResponseCode.success, let body = r.body else {
            throw ProducerError(description: "route of \(topic): \(ResponseCode.name(r.code)) \(r.remark ?? "")")
        }
        return try body.withUnsafeReadableBytes { try TopicRouteData.decode($0) }
    }

    static func createTopic(_ topic: String, queues: Int32, nameServer ns: RemotingClient, on loop: any EventLoop, timeout: Duration) async throws {
        let def = try await route(of: "TBW102", from: ns)
        let masters = def.brokerDatas.compactMap(\.masterAddress)
        if masters.isEmpty { throw ProducerError(description: "TBW102's route has no master") }
        for m in masters {
            let (bh, bp) = Core.split(Address(m))
            let b = try await RemotingClient.connect(host: bh, port: bp, group: loop, configuration: RemotingClientConfiguration(serverRole: .broker))
            let header = CreateTopicRequestHeader(topic: topic, readQueueNums: queues, writeQueueNums: queues, perm: 6, topicSysFlag: 0)
            let r = try await b.request(RemotingCommand.request(code: RequestCode.updateAndCreateTopic, opaque: 0, extFields: header.extFields))
            await b.close()
            guard r.code == ResponseCode.success else {
                throw ProducerError(description: "UPDATE_AND_CREATE_TOPIC \(topic) at \(m): \(ResponseCode.name(r.code)) \(r.remark ?? "")")
            }
        }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            // TOPIC_NOT_EXIST until the broker's registration reaches the name server; a connection error throws.
            do {
                _ = try await route(of: topic, from: ns)
                return
            } catch is ProducerError {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        throw ProducerError(description: "\(topic) created, but the name server did not route it within \(timeout)")
    }


    /// Sends one message (SEND_MESSAGE_V2) to `queue`; returns its queue offset.
    @discardableResult
    public func send(_ m: OutgoingMessage, to queue: MessageQueue) async throws -> Int64 {
        try await sendFuture(m, to: queue).get()
    }

    /// `send` without `async`: the answer is checked on the connection's event loop.
    func sendFuture(_ m: OutgoingMessage, to queue: MessageQueue) -> EventLoopFuture<Int64> {
        guard let b = brokers[queue.brokerName] else { return loop.makeFailedFuture(ProducerError(description: "no broker for \(queue)")) }
        var text = ByteBuffer()
        writeProperties(m, unique: reserveUniqueKeys(1), into: &text)
        let props = String(buffer: text)
        let h = SendMessageRequestHeader(producerGroup: group, topic: topic, queueId: queue.queueId,
                                         bornTimestamp: CaptureTime.now().nanoseconds / 1_000_000, properties: props)
        let req = RemotingCommand.request(code: RequestCode.sendMessageV2, opaque: 0, extFields: h.v2ExtFields, body: ByteBuffer(bytes: m.body))
        return b.requestFuture(req).flatMapThrowing { r in
            guard r.code == ResponseCode.success else {
                throw ProducerError(description: "SEND_MESSAGE_V2 to \(queue): \(ResponseCode.name(r.code)) \(r.remark ?? "")")
            }
            return (try? SendMessageResponseHeader(fields: r.allFields).queueOffset) ?? -1
        }
    }

    /// Messages `range` sent one after the other to the queues in turn, each as soon as the previous one is
    /// answered, on the connection's event loop: no hop to Swift concurrency between two sends (with one
    /// `await` per send, the wake-ups between the event loop and the concurrency pool cost more CPU than the
    /// sends themselves).
    func sendChain(_ range: Range<Int>, message: @escaping @Sendable (Int) -> OutgoingMessage) -> EventLoopFuture<Void> {
        guard let n = range.first else { return loop.makeSucceededVoidFuture() }
        return sendFuture(message(n), to: queues[n % queues.count]).flatMap { _ in
            self.sendChain(n + 1..<range.upperBound, message: message)
        }
    }

    /// Sends several messages to one queue in one SEND_BATCH_MESSAGE.
    public func sendBatch(_ ms: [OutgoingMessage], to queue: MessageQueue) async throws {
        try await sendBatchFuture(ms, to: queue).get()
    }

    /// `sendBatch` without `async`: the answer is checked on the connection's event loop.
    func sendBatchFuture(_ ms: [OutgoingMessage], to queue: MessageQueue) -> EventLoopFuture<Void> {
        send(batchRequest(ms, to: queue), to: queue)
    }

    /// The SEND_BATCH_MESSAGE request of `ms` for `queue`: the records written into one buffer, each message's
    /// properties in place.
    func batchRequest(_ ms: [OutgoingMessage], to queue: MessageQueue) -> RemotingCommand {
        var body = ByteBuffer()
        body.reserveCapacity(ms.reduce(0) { $0 + $1.body.count + 128 + ($1.keys?.utf8.count ?? 0) + ($1.tags?.utf8.count ?? 0) })
        let first = reserveUniqueKeys(ms.count)
        for (i, m) in ms.enumerated() { writeBatchRecord(m, unique: first + i, into: &body) }
        let h = SendMessageRequestHeader(producerGroup: group, topic: topic, queueId: queue.queueId,
                                         bornTimestamp: CaptureTime.now().nanoseconds / 1_000_000, batch: true)
        return RemotingCommand.request(code: RequestCode.sendBatchMessage, opaque: 0, extFields: h.v2ExtFields, body: body)
    }

    /// Sends a request made by `batchRequest` and checks its answer.
    func send(_ batch: RemotingCommand, to queue: MessageQueue) -> EventLoopFuture<Void> {
        guard let b = brokers[queue.brokerName] else { return loop.makeFailedFuture(ProducerError(description: "no broker for \(queue)")) }
        return b.requestFuture(batch, timeout: .seconds(10)).flatMapThrowing { r in
            guard r.code == ResponseCode.success else {
                throw ProducerError(description: "SEND_BATCH_MESSAGE to \(queue): \(ResponseCode.name(r.code)) \(r.remark ?? "")")
            }
        }
    }

    /// Batches of messages `range`, `batchSize` each, sent one after the other to the queues in turn (batch `i`
    /// to queue `i` modulo the queues), each as soon as the previous one is answered, on the connection's event
    /// loop, as `sendChain`. Returns, through `counted`, each batch's queue and size once it is acknowledged.
    /// One batch is in flight at a time; the next one's request is built while it is (`prepared`), so that it
    /// goes out as soon as the answer comes rather than after its records are encoded.
    func sendBatchChain(_ range: Range<Int>, batchSize: Int, index: Int, prepared: RemotingCommand? = nil,
                        counted: @escaping @Sendable (MessageQueue, Int) -> Void,
                        message: @escaping @Sendable (Int) -> OutgoingMessage) -> EventLoopFuture<Void> {
        guard let n = range.first else { return loop.makeSucceededVoidFuture() }
        let k = min(batchSize, range.count)
        let q = queues[index % queues.count]
        /// The request of batch `i`, which starts at message `first` of `range`.
        @Sendable func batch(_ first: Int, _ i: Int) -> RemotingCommand {
            batchRequest((first..<min(first + batchSize, range.upperBound)).map(message), to: queues[i % queues.count])
        }
        let answered = send(prepared ?? batch(n, index), to: q)
        let rest = n + k..<range.upperBound
        guard let m = rest.first else { return answered.map { counted(q, k) } }
        // Built in a loop task: a request written while the loop reads (this runs as the previous answer is read)
        // is flushed at the end of the read, which comes before the loop's tasks, so the batch just sent goes
        // out before the next one is encoded.
        let next = loop.submit { batch(m, index + 1) }
        return answered.and(next).flatMap { _, request in
            counted(q, k)
            return self.sendBatchChain(rest, batchSize: batchSize, index: index + 1, prepared: request, counted: counted, message: message)
        }
    }

    /// `count` messages spread over the queues in turn, tags `TagA`/`TagB`/`TagC` in turn, keys `key-N`, body
    /// `message N`; in batches of `batchSize` per queue when above 1. Returns how many went to each queue.
    @discardableResult
    public func produce(count: Int, batchSize: Int = 1, bodySize: Int? = nil, tags: [String] = ["TagA", "TagB", "TagC"]) async throws -> [MessageQueue: Int] {
        var perQueue: [MessageQueue: Int] = [:]
        @Sendable func message(_ n: Int) -> OutgoingMessage {
            let number = String(n)
            return OutgoingMessage(body: Self.body(number: number, size: bodySize), tags: tags.isEmpty ? nil : tags[n % tags.count],
                                   keys: "key-" + number)
        }
        if batchSize <= 1 {
            try await sendChain(0..<count, message: message).get()
            for n in 0..<count { perQueue[queues[n % queues.count], default: 0] += 1 }
        } else {
            // Counted on the event loop as each batch is acknowledged, read here once the chain has ended.
            let acknowledged = NIOLockedValueBox<[MessageQueue: Int]>([:])
            try await sendBatchChain(0..<count, batchSize: batchSize, index: 0, counted: { q, k in
                acknowledged.withLockedValue { $0[q, default: 0] += k }
            }, message: message).get()
            perQueue = acknowledged.withLockedValue { $0 }
        }
        return perQueue
    }

    /// "message N", cut or padded with dots to `size` (nil: as long as it is), written into one array (no
    /// String interpolated: the producer makes one for every message it sends).
    static func body(number: String, size: Int?) -> [UInt8] {
        let prefix: StaticString = "message "
        let length = prefix.utf8CodeUnitCount + number.utf8.count
        return [UInt8](unsafeUninitializedCapacity: size ?? length) { buf, count in
            var i = 0
            prefix.withUTF8Buffer { p in
                for b in p where i < buf.count { buf[i] = b; i += 1 }
            }
            for b in number.utf8 where i < buf.count { buf[i] = b; i += 1 }
            while i < buf.count { buf[i] = 0x2E; i += 1 }
            count = i
        }
    }

    public func close() async {
        for b in brokers.values { await b.close() }
        await nameServer.close()
    }
}
