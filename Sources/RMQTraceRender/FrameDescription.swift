import RMQTraceModel
import RMQTraceCore
import NIOCore
import RocketMQRemoting

/// Human-readable descriptions of single commands, shared by `rmq-trace frame`, the decode timeline's
/// verbose mode and the live consumer's log. Credentials are always redacted.
public enum FrameDescription {
    /// The request code a lone response most likely answers, from what it carries (for `rmq-trace frame`,
    /// which sees no request).
    public static func inferRequestCode(ofResponse cmd: RemotingCommand) -> Int32? {
        let ext = cmd.extFields ?? ExtFields()
        if ext["nextBeginOffset"] != nil || ext["suggestWhichBrokerId"] != nil { return RequestCode.pullMessage }
        if ext["msgId"] != nil && ext["queueOffset"] != nil { return RequestCode.sendMessageV2 }
        if ext["offset"] != nil { return RequestCode.queryConsumerOffset }
        guard let body = cmd.body, body.readableBytes > 0 else { return nil }
        let head = String(decoding: body.readableBytesView.prefix(24), as: UTF8.self)
        if head.hasPrefix(#"{"brokerDatas""#) { return RequestCode.getRouteInfoByTopic }
        if head.hasPrefix(#"{"consumerIdList""#) { return RequestCode.getConsumerListByGroup }
        if head.hasPrefix(#"{"lockOKMQSet""#) { return RequestCode.lockBatchMQ }
        if body.readableBytes >= 8, let magic = body.getInteger(at: body.readerIndex + 4, as: Int32.self),
           magic == StoredMessage.magicV1 || magic == StoredMessage.magicV2 {
            return RequestCode.pullMessage
        }
        return nil
    }

    public static func flagText(_ cmd: RemotingCommand) -> String {
        var parts: [String] = []
        if cmd.isResponse { parts.append("RESPONSE") }
        if cmd.isOneway { parts.append("ONEWAY") }
        if cmd.flag & ~3 != 0 { parts.append("0x" + String(cmd.flag & ~3, radix: 16)) }
        return parts.isEmpty ? "REQUEST" : parts.joined(separator: "|")
    }

    /// Printable text of body bytes: UTF-8 with control characters escaped (the property separators as
    /// `<01>`/`<02>`), cut at `limit` characters.
    public static func printable(_ bytes: some Collection<UInt8>, limit: Int = 200) -> String {
        Describe.escaped(Redaction.scrub(String(decoding: bytes, as: UTF8.self)), limit: limit)
    }

    public static func messageLines(_ m: StoredMessage, index: Int, indent: String = "  ") -> [String] {
        var lines = ["\(indent)message \(index): queueId=\(m.queueId) queueOffset=\(m.queueOffset) physicalOffset=\(m.physicalOffset) size=\(m.totalSize) magic=\(m.magicCode == StoredMessage.magicV2 ? "v2" : "v1")"]
        lines.append("\(indent)  topic=\(m.topic) tags=\(m.tags ?? "-") keys=\(m.keys ?? "-") msgId=\(m.msgId) offsetMsgId=\(m.offsetMsgId)")
        lines.append("\(indent)  born=\(m.bornTimestamp) \(m.bornHost) store=\(m.storeTimestamp) \(m.storeHost) reconsumeTimes=\(m.reconsumeTimes) sysFlag=\(m.sysFlag) flag=\(m.flag)")
        let crc = m.crcMatches ? "ok" : "MISMATCH (stored 0x\(String(UInt32(bitPattern: m.bodyCRC), radix: 16)))"
        switch m.body {
        case .bytes(let b):
            let inflated = m.sysFlag.contains(.compressed) ? ", inflated from \(m.storedBody.count) bytes" : ""
            lines.append("\(indent)  body (\(b.count) bytes\(inflated), crc \(crc)): \(printable(b))")
        case .compressed(let algo, let len):
            lines.append("\(indent)  body: \(algo.rawValue)-compressed, \(len) bytes stored (no \(algo.rawValue) decoder here), crc \(crc)")
        }
        if !m.properties.isEmpty {
            lines.append("\(indent)  properties: " + m.properties.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        }
        return lines
    }

    public static func bodyLines(_ body: DecodedBody) -> [String] {
        switch body {
        case .none: return ["body: none"]
        case .topicRoute(let r):
            var l = ["body: TopicRouteData"]
            for b in r.brokerDatas {
                l.append("  broker \(b.brokerName) cluster=\(b.cluster) addrs=" + b.brokerAddrs.map { "\($0.id)=\($0.address)" }.joined(separator: ","))
            }
            for q in r.queueDatas {
                l.append("  queues \(q.brokerName) read=\(q.readQueueNums) write=\(q.writeQueueNums) perm=\(q.perm) (\(q.permText)) topicSysFlag=\(q.topicSysFlag)\(q.spelledTopicSynFlag ? " (spelled topicSynFlag)" : "")")
            }
            if let o = r.orderTopicConf { l.append("  orderTopicConf=\(o)") }
            return l
        case .heartbeat(let h):
            var l = ["body: HeartbeatData clientID=\(h.clientID) producers=\(h.producerGroups.joined(separator: ","))"]
            for c in h.consumerDataSet {
                l.append("  consumer group=\(c.groupName) \(c.consumeType) \(c.messageModel) \(c.consumeFromWhere)")
                for s in c.subscriptionDataSet {
                    l.append("    subscribe \(s.topic) \(s.expressionType) \"\(s.subString)\" subVersion=\(s.subVersion)")
                }
            }
            return l
        case .consumerIdList(let ids): return ["body: consumerIdList (\(ids.count)): " + ids.joined(separator: ", ")]
        case .lockBatchRequest(let b):
            return ["body: LockBatchRequestBody group=\(b.consumerGroup) clientId=\(b.clientId) mqSet=" + b.mqSet.map(\.description).joined(separator: ",")]
        case .lockedQueues(let q): return ["body: lockOKMQSet=" + q.map(\.description).joined(separator: ",")]
        case .queryAssignment(let q):
            return ["body: QueryAssignmentRequestBody topic=\(q.topic) group=\(q.consumerGroup) clientId=\(q.clientId) strategy=\(q.strategyName ?? "-") model=\(q.messageModel ?? "-")"]
        case .assignments(let a):
            return ["body: QueryAssignmentResponseBody (\(a.count) queue\(a.count == 1 ? "" : "s"))"]
                + a.map { "  \($0.queue) mode=\($0.mode)" + ($0.attachments.isEmpty ? "" : " " + $0.attachments.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")) }
        case .requestMode(let m):
            return ["body: SetMessageRequestModeRequestBody topic=\(m.topic) group=\(m.consumerGroup) mode=\(m.mode) popShareQueueNum=\(m.popShareQueueNum)"]
        case .batchAck(let b):
            return ["body: BatchAckMessageRequestBody broker=\(b.brokerName ?? "-") (\(b.acks.count) ack\(b.acks.count == 1 ? "" : "s"))"]
                + b.acks.map { "  \($0.consumerGroup) \($0.topic)#\($0.queueId)\($0.retry == "1" ? " (retry)" : "") from \($0.startOffset): acked "
                    + $0.ackedOffsets.map(String.init).joined(separator: ",") + " popTime=\($0.popTime) invisibleTime=\($0.invisibleTime)" }
        case .messages(let batch):
            var l = ["body: \(batch.messages.count) stored message\(batch.messages.count == 1 ? "" : "s")"]
            for (i, m) in batch.messages.enumerated() { l += messageLines(m, index: i) }
            if let e = batch.error { l.append("  error: \(e)") }
            return l
        case .messageBody(let b): return ["body (\(b.count) bytes): \(printable(b))"]
        case .batch(let records):
            var l = ["body: batch of \(records.count) messages"]
            for (i, r) in records.enumerated() {
                l.append("  message \(i): flag=\(r.flag) " + r.properties.map { "\($0.key)=\($0.value)" }.joined(separator: " ") + " body=\(printable(r.body, limit: 80))")
            }
            return l
        case .json(let v): return ["body (JSON): \(v.compactText)"]
        case .raw(let b): return ["body (\(b.count) bytes): \(printable(b))"]
        }
    }

    /// The full description of one frame.
    public static func lines(_ cmd: RemotingCommand, frameSize: Int? = nil, requestCode: Int32? = nil) -> [String] {
        var l: [String] = []
        if let frameSize {
            l.append("frame: \(frameSize) bytes, \(cmd.serializeType) header, body \(cmd.bodyLength) bytes")
        }
        l.append("\(cmd.kind.rawValue) code=\(cmd.code) \(cmd.codeName) opaque=\(cmd.opaque) flag=\(cmd.flag) (\(flagText(cmd))) language=\(cmd.language) version=\(cmd.version) (\(MQVersion.name(cmd.version)))")
        if let r = cmd.remark { l.append("remark: \(Redaction.scrub(r, knownSecrets: (cmd.extFields ?? ExtFields()).entries.filter { Redaction.isSecret($0.key) }.map(\.value)))") }
        if let ext = cmd.extFields {
            l.append("extFields (\(ext.count)): " + ext.redacted().entries.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        }
        var reqCode = requestCode
        if cmd.isResponse && reqCode == nil {
            reqCode = inferRequestCode(ofResponse: cmd)
            if let r = reqCode { l.append("answers: \(RequestCode.name(r)) (inferred from the content; pass --request-code to choose)") }
        }
        do {
            let typed = cmd.isResponse
                ? try TypedHeader.decodeResponse(requestCode: reqCode ?? -1, responseCode: cmd.code, extFields: cmd.extFields)
                : try TypedHeader.decodeRequest(code: cmd.code, extFields: cmd.extFields)
            if let typed {
                l.append("header \(typed.javaName): " + typed.displayFields.map { "\($0.key)=\(Redaction.isSecret($0.key) ? Redaction.redact($0.value) : $0.value)" }.joined(separator: " "))
            }
        } catch {
            l.append("header: \(error)")
        }
        do {
            l += bodyLines(try DecodedBody.decode(cmd, requestCode: reqCode))
        } catch {
            l.append("body (\(cmd.bodyLength) bytes): \(error)")
        }
        return l
    }
}
