// The frames the codec benchmarks decode, shared by the package-benchmark target (CodecBenchmarks) and the
// plain ContinuousClock runner (codec-speed, used for profiling without the malloc interposer).

import NIOCore
import RocketMQRemoting

/// Frames decoded per benchmark iteration; must equal `scalingFactor`.
public let framesPerIteration = 1_000
/// Records in a FOUND pull response body.
public let recordsPerResponse = 32

public enum Fixtures {
    /// A PULL_MESSAGE request as the 4.9.4 Java push consumer sends it: version 401, a realistic group and
    /// topic, COMMIT_OFFSET|SUSPEND|SUBSCRIPTION, a 13-digit subVersion (the subscription's timestamp).
    public static func pullRequest(_ serializeType: SerializeType) -> (command: RemotingCommand, frame: ByteBuffer) {
        let header = PullMessageRequestHeader(
            consumerGroup: "GID_order-service_payment-consumer",
            topic: "TOPIC_order-service_payment-events",
            queueId: 3, queueOffset: 1_284_663, maxMsgNums: 32,
            sysFlag: [.commitOffset, .suspend, .subscription], commitOffset: 1_284_631,
            suspendTimeoutMillis: 15_000, subscription: "TagA || TagB || TagC",
            subVersion: 1_718_012_345_678, expressionType: "TAG")
        let cmd = RemotingCommand.request(code: RequestCode.pullMessage, opaque: 184_467, extFields: header.extFields,
                                          version: MQVersion.v4_9_4, serializeType: serializeType)
        return (cmd, RemotingFrame.encode(cmd))
    }

    /// A FOUND (SUCCESS) answer to `request` carrying `recordsPerResponse` small stored records.
    public static func foundResponse(to request: RemotingCommand) -> ByteBuffer {
        var body = ByteBuffer()
        let bornHost = MessageHost(address: [10, 12, 4, 71], port: 53_412)
        let storeHost = MessageHost(address: [10, 12, 8, 20], port: 10_911)
        for i in 0..<recordsPerResponse {
            // ≈100-byte JSON-ish payload, as a small business event would be.
            var payload = Array(#"{"orderId":"ORD-2024-000\#(4_200 + i)","amount":129.90,"currency":"EUR","status":"PAID","#.utf8)
            while payload.count < 99 { payload.append(UInt8(ascii: " ")) }
            payload.append(UInt8(ascii: "}"))
            let uniqKey = "0A0C0447D0A418B4AAC2" + String(0x1A2B_3C00 + i, radix: 16, uppercase: true)
            let props = MessageProperties.encode([
                (key: "KEYS", value: "ORD-2024-000\(4_200 + i)"),
                (key: "UNIQ_KEY", value: uniqKey),
                (key: "WAIT", value: "true"),
                (key: "TAGS", value: i % 2 == 0 ? "TagA" : "TagB"),
            ])
            StoredMessageDecoder.encode(
                queueId: 3, queueOffset: 1_284_663 + Int64(i), physicalOffset: 9_876_543_210 + Int64(i) * 260,
                bornTimestamp: 1_718_012_345_000 + Int64(i), bornHost: bornHost,
                storeTimestamp: 1_718_012_345_010 + Int64(i), storeHost: storeHost,
                body: payload, topic: "TOPIC_order-service_payment-events", propertiesText: props, into: &body)
        }
        let header = PullMessageResponseHeader(suggestWhichBrokerId: 0, nextBeginOffset: 1_284_695,
                                               minOffset: 0, maxOffset: 1_290_112)
        let response = RemotingCommand.response(to: request, code: ResponseCode.success, remark: "FOUND",
                                                extFields: header.extFields, body: body)
        return RemotingFrame.encode(response)
    }
}

/// What a request decodes to in the benchmarks: the typed header, and what Java's reference returns from it
/// (`h.getQueueOffset() + h.getConsumerGroup().length()`), so the consumer group is made a String as there.
public struct RequestSummary {
    public var header: PullMessageRequestHeader
    public var value: Int64
    @inlinable public init(header: PullMessageRequestHeader, value: Int64) {
        self.header = header
        self.value = value
    }
}

/// Decodes one request frame to its typed header: `RemotingFrame.decode` (the command with its fields kept as
/// byte ranges of the frame) + the typed header decoded from them on demand; then reads what Java's case reads.
/// (The typed header's String fields longer than 15 bytes stay spans of the frame until read: the group is.)
@inlinable @inline(__always)
public func decodeRequest(_ frame: ByteBuffer) throws -> RequestSummary {
    let h = try RemotingFrame.decode(frame).header(PullMessageRequestHeader.self)
    return RequestSummary(header: h, value: h.queueOffset + Int64(h.consumerGroup.utf8.count))
}

/// `decodeRequest`, then every String field of the header read (the group, topic, subscription and
/// expression type): the cost when all of them are wanted.
@inlinable @inline(__always)
public func decodeRequestReadingAll(_ frame: ByteBuffer) throws -> Int64 {
    let h = try RemotingFrame.decode(frame).header(PullMessageRequestHeader.self)
    return h.queueOffset + Int64(h.consumerGroup.utf8.count + h.topic.utf8.count
        + (h.subscription?.utf8.count ?? 0) + (h.expressionType?.utf8.count ?? 0))
}

/// What a FOUND response decodes to in the benchmarks: the header, the records, and fields of the last
/// record (Java's reference reads the tags of the last message).
public struct FoundSummary: Equatable {
    public var header: PullMessageResponseHeader
    public var records: Int
    public var offsetSum: Int64
    public var lastTags: String?
    @inlinable public init(header: PullMessageResponseHeader, records: Int, offsetSum: Int64, lastTags: String?) {
        self.header = header
        self.records = records
        self.offsetSum = offsetSum
        self.lastTags = lastTags
    }
}

/// Decodes one FOUND response frame: command, typed header, and every stored record as a view (each record
/// validated as the eager decoder validates it; fixed fields read in place; the last record's tags).
@inlinable @inline(__always)
public func decodeResponse(_ frame: ByteBuffer) throws -> FoundSummary {
    let cmd = try RemotingFrame.decode(frame)
    guard case .pullMessageResponse(let header)? = try cmd.typedHeader(requestCode: RequestCode.pullMessage) else {
        fatalError("not a PULL_MESSAGE response")
    }
    var records = StoredMessageRecords(cmd.body ?? ByteBuffer())
    var n = 0
    var sum: Int64 = 0
    var last: StoredMessageView? = nil
    while let r = try records.next() {
        n += 1
        sum &+= r.queueOffset
        last = r
    }
    return FoundSummary(header: header, records: n, offsetSum: sum, lastTags: last?.tags)
}

/// The same FOUND response with every record decoded eagerly (`StoredMessageDecoder.decodeAll`: body copied,
/// topic and properties text as Strings, CRC checked; the properties are parsed only when read, where Java's
/// MessageDecoder builds their map at once).
@inlinable @inline(__always)
public func decodeResponseEager(_ frame: ByteBuffer) throws -> (PullMessageResponseHeader, StoredMessageBatch) {
    let cmd = try RemotingFrame.decode(frame)
    guard case .pullMessageResponse(let header)? = try cmd.typedHeader(requestCode: RequestCode.pullMessage) else {
        fatalError("not a PULL_MESSAGE response")
    }
    return (header, StoredMessageDecoder.decodeAll(cmd.body ?? ByteBuffer()))
}

/// The eager path, for comparison: `RemotingFrame.decode`, then the `ExtFields` map built, then
/// `TypedHeader.decodeRequest` from the map.
@inlinable @inline(__always)
public func decodeRequestViaExtFields(_ frame: ByteBuffer) throws -> PullMessageRequestHeader {
    let cmd = try RemotingFrame.decode(frame)
    guard case .pullMessage(let header)? = try TypedHeader.decodeRequest(code: cmd.code, extFields: cmd.extFields) else {
        fatalError("not a PULL_MESSAGE request")
    }
    return header
}

/// Fails loudly (before any measurement) if a fixture does not decode as expected.
public func checkFixtures() {
    for type in [SerializeType.json, .rocketmq] {
        let (cmd, frame) = Fixtures.pullRequest(type)
        let summary = try! decodeRequest(frame)
        let h = summary.header
        precondition(summary.value == 1_284_663 + 34 && h.consumerGroup == "GID_order-service_payment-consumer")
        precondition(try! decodeRequestReadingAll(frame) == 1_284_663 + 34 + 34 + 20 + 3)
        precondition(h.queueOffset == 1_284_663 && h.subVersion == 1_718_012_345_678 && h.extra.isEmpty)
        precondition(h == (try! decodeRequestViaExtFields(frame)))
        let response = Fixtures.foundResponse(to: cmd)
        let found = try! decodeResponse(response)
        precondition(found.header.nextBeginOffset == 1_284_695 && found.records == recordsPerResponse && found.lastTags == "TagB")
        let (rh2, batch2) = try! decodeResponseEager(response)
        precondition(rh2 == found.header && batch2.error == nil && batch2.messages.count == recordsPerResponse)
        precondition(batch2.messages.allSatisfy(\.crcMatches) && batch2.messages[0].tags == "TagA")
    }
}
