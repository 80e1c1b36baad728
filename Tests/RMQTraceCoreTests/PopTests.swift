import Testing
import NIOCore
import RocketMQRemoting
import RMQTraceModel
import RMQTraceCore
import RMQTestSupport

// RocketMQ 5.x POP consumption as the analyzer sees it (frames synthesized from the 5.x header classes).

private func pop(_ c: inout Conversation, _ conn: Int, queueId: Int32, from offset: Int64, count: Int, invisibleMs: Int64) {
    let r = c.request(conn, RequestCode.popMessage,
                      PopMessageRequestHeader(consumerGroup: "pg", topic: "T", queueId: queueId, maxMsgNums: 32, invisibleTime: invisibleMs,
                                              pollTime: 15_000, bornTime: 1_764_000_000_000).extFields)
    c.answer(conn, r, ResponseCode.success, remark: "FOUND",
             ext: PopMessageResponseHeader(popTime: 1_764_000_000_000, invisibleTime: invisibleMs, reviveQid: 0, restNum: 0).extFields,
             body: ScenarioBuilder.messages(topic: "T", queueId: queueId, from: offset, count: count))
}

private func ack(_ c: inout Conversation, _ conn: Int, queueId: Int32, offset: Int64) {
    c.exchange(conn, RequestCode.ackMessage,
               AckMessageRequestHeader(consumerGroup: "pg", topic: "T", queueId: queueId, extraInfo: "0 0 \(offset)", offset: offset).extFields)
}

@Test func popAckAndInvisibleTime() {
    var c = Conversation()
    let b = c.connect(client: "10.0.0.60:40000", server: "10.0.0.2:8080")
    pop(&c, b, queueId: 1, from: 10, count: 4, invisibleMs: 5_000)   // offsets 10..13, invisible 5 s
    ack(&c, b, queueId: 1, offset: 10)                               // on time
    c.exchange(b, RequestCode.changeMessageInvisibleTime,
               ChangeInvisibleTimeRequestHeader(consumerGroup: "pg", topic: "T", queueId: 1, extraInfo: "x", offset: 11, invisibleTime: 60_000).extFields)
    c.wait(seconds: 6)
    ack(&c, b, queueId: 1, offset: 11)                               // extended: on time
    ack(&c, b, queueId: 1, offset: 12)                               // late
    ack(&c, b, queueId: 1, offset: 99)                               // never popped
    // 13 is never acked and its invisible time is over by the end.
    let (events, findings, _) = track(c)
    let frames = events.compactMap { if case .frame(let f) = $0 { return f } else { return nil } }
    #expect(frames.first?.phase == .pop)
    #expect(frames.contains { $0.phase == .ack } && frames.contains { $0.phase == .changeInvisible })
    #expect(frames[1].messageOffsets?.map(\.offset) == [10, 11, 12, 13])
    #expect(findings.contains { if case .ackNeverPopped("pg", "T", 1, [MessageOffset(queueId: 1, offset: 99)]) = $0.detail { return true } else { return false } })
    #expect(findings.contains {
        if case .invisibleTimeExpired("pg", "T", 1, 1, let ex) = $0.detail { return ex == [MessageOffset(queueId: 1, offset: 12), MessageOffset(queueId: 1, offset: 13)] }
        return false
    }, "\(findings.map(\.message))")
}

@Test func popCodesInTheBinaryHeaderAreSixteenBits() throws {
    // The ROCKETMQ binary header writes the code as a 16-bit value: 200050 travels as 3442.
    let cmd = RemotingCommand.request(code: RequestCode.popMessage, opaque: 5,
                                      extFields: PopMessageRequestHeader(consumerGroup: "pg", topic: "T", maxMsgNums: 1, invisibleTime: 1,
                                                                         pollTime: 1, bornTime: 1).extFields, serializeType: .rocketmq)
    let decoded = try RemotingFrame.decode(RemotingFrame.encode(cmd))
    #expect(decoded.code == RequestCode.popMessage)
}

@Test func batchAckCountsEachOffsetOfItsBitSet() {
    var c = Conversation()
    let b = c.connect(client: "10.0.0.60:40000", server: "10.0.0.2:8080")
    pop(&c, b, queueId: 2, from: 20, count: 3, invisibleMs: 60_000)   // offsets 20..22
    // Acks 20 and 22, and 25, never popped; a retry-topic ack is not matched against this topic's pops.
    let body = BatchAckMessageRequestBody(brokerName: "broker-a", acks: [
        BatchAck(consumerGroup: "pg", topic: "T", startOffset: 20, queueId: 2, popTime: 1_764_000_000_000, invisibleTime: 60_000, ackedOffsets: [20, 22, 25]),
        BatchAck(consumerGroup: "pg", topic: "T", retry: "1", startOffset: 0, queueId: 2, popTime: 1, invisibleTime: 60_000, ackedOffsets: [3]),
    ])
    c.exchange(b, RequestCode.batchAckMessage, body: Array(body.json.compactText.utf8))
    let (events, findings, _) = track(c)
    let ack = events.compactMap { if case .frame(let f) = $0, f.command.code == RequestCode.batchAckMessage { return f } else { return nil } }.first
    #expect(ack?.phase == .ack)
    if case .batchAck(let decoded)? = ack?.body {
        #expect(decoded.acks.map(\.ackedOffsets) == [[20, 22, 25], [3]])
    } else {
        Issue.record("batch ack body not decoded: \(String(describing: ack?.body))")
    }
    #expect(findings.contains { if case .ackNeverPopped("pg", "T", 1, [MessageOffset(queueId: 2, offset: 25)]) = $0.detail { return true } else { return false } },
            "\(findings.map(\.message))")
    #expect(!findings.contains { $0.kind == "invisible-time-expired" })
}

@Test func fiveXBodiesDecode() throws {
    // fastjson2 writes a BitSet as the array of its toByteArray() bytes (signed), or as base64 with
    // WriteByteArrayAsBase64; long field names are accepted too.
    let asArray = #"{"acks":[{"b":[5,-128],"c":"pg","it":60000,"pt":1,"q":1,"rq":0,"so":100,"t":"T"}],"brokerName":"broker-a"}"#
    let asBase64 = #"{"acks":[{"bitSet":"BYA=","consumerGroup":"pg","startOffset":100,"queueId":1,"topic":"T"}]}"#
    for text in [asArray, asBase64] {
        let cmd = RemotingCommand.request(code: RequestCode.batchAckMessage, opaque: 1, body: ByteBuffer(string: text))
        guard case .batchAck(let b) = try DecodedBody.decode(cmd) else { Issue.record("not a batch ack"); continue }
        #expect(b.acks.first?.ackedOffsets == [100, 102, 115], "\(text)")
    }
    let qa = #"{"clientId":"c1","consumerGroup":"pg","messageModel":"CLUSTERING","strategyName":"AVG","topic":"T"}"#
    guard case .queryAssignment(let q) = try DecodedBody.decode(RemotingCommand.request(code: RequestCode.queryAssignment, opaque: 2,
                                                                                        body: ByteBuffer(string: qa))) else {
        Issue.record("not a query assignment"); return
    }
    #expect(q == QueryAssignmentRequestBody(topic: "T", consumerGroup: "pg", clientId: "c1", strategyName: "AVG", messageModel: "CLUSTERING"))
    #expect(q.json.compactText == qa)
    let answer = #"{"messageQueueAssignments":[{"attachments":{},"messageQueue":{"brokerName":"broker-a","queueId":3,"topic":"T"},"mode":"POP"}]}"#
    let req = RemotingCommand.request(code: RequestCode.queryAssignment, opaque: 2)
    let resp = RemotingCommand.response(to: req, code: 0, body: ByteBuffer(string: answer))
    guard case .assignments(let a) = try DecodedBody.decode(resp, requestCode: RequestCode.queryAssignment) else { Issue.record("no assignments"); return }
    #expect(a == [MessageQueueAssignment(queue: MessageQueue(topic: "T", brokerName: "broker-a", queueId: 3), mode: "POP")])
    #expect(QueryAssignmentResponseBody.json(a).compactText == answer)
    let mode = #"{"consumerGroup":"pg","mode":"POP","popShareQueueNum":1,"topic":"T"}"#
    guard case .requestMode(let m) = try DecodedBody.decode(RemotingCommand.request(code: RequestCode.setMessageRequestMode, opaque: 3,
                                                                                     body: ByteBuffer(string: mode))) else {
        Issue.record("not a request mode"); return
    }
    #expect(m == SetMessageRequestModeRequestBody(topic: "T", consumerGroup: "pg", mode: "POP", popShareQueueNum: 1))
    #expect(m.json.compactText == mode)
    // Hostile: a bit set of a million bytes is cut to the bound; a bad base64 string is no bit set.
    let huge = #"{"acks":[{"b":"# + "[" + Array(repeating: "1", count: 100_000).joined(separator: ",") + #"],"c":"g","t":"T"}]}"#
    if case .batchAck(let b) = try DecodedBody.decode(RemotingCommand.request(code: RequestCode.batchAckMessage, opaque: 4, body: ByteBuffer(string: huge))) {
        #expect(b.acks[0].bits.count == BatchAck.maxBitSetBytes)
    }
    let bad = #"{"acks":[{"b":"!!","c":"g","t":"T"}]}"#
    if case .batchAck(let b) = try DecodedBody.decode(RemotingCommand.request(code: RequestCode.batchAckMessage, opaque: 5, body: ByteBuffer(string: bad))) {
        #expect(b.acks[0].ackedOffsets.isEmpty)
    }
}
