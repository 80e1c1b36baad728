import Testing
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
