import RMQTraceModel
import RMQTraceCore
import RocketMQRemoting

/// Short texts for one exchange: the request's key fields and the answer. Shared by the text timeline and the
/// live consumer's log so that both read alike. Credentials are redacted.
public enum Describe {
    public static func time(_ t: CaptureTime) -> String {
        let ns = t.nanoseconds
        var secs = ns / 1_000_000_000
        var micros = (ns % 1_000_000_000) / 1000
        if micros < 0 { micros += 1_000_000; secs -= 1 }
        let day = ((secs % 86400) + 86400) % 86400
        // HH:MM:SS.uuuuuu written in place: 15 bytes, a small String (no allocation, no temporaries).
        return String(unsafeUninitializedCapacity: 15) { b in
            func two(_ v: Int64, _ at: Int) {
                b[at] = UInt8(truncatingIfNeeded: 48 + v / 10)
                b[at + 1] = UInt8(truncatingIfNeeded: 48 + v % 10)
            }
            two(day / 3600, 0)
            b[2] = UInt8(ascii: ":")
            two((day / 60) % 60, 3)
            b[5] = UInt8(ascii: ":")
            two(day % 60, 6)
            b[8] = UInt8(ascii: ".")
            var m = micros
            for i in stride(from: 14, through: 9, by: -1) {
                b[i] = UInt8(truncatingIfNeeded: 48 + m % 10)
                m /= 10
            }
            return 15
        }
    }

    /// Date and time, UTC, for headers: 2024-12-10 07:31:03 UTC.
    public static func dateTime(_ t: CaptureTime) -> String {
        let secs = t.nanoseconds / 1_000_000_000
        let days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400
        // civil from days (Howard Hinnant)
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        let tod = ((secs % 86400) + 86400) % 86400
        return "\(y)-\(pad2(m))-\(pad2(d)) \(pad2(tod / 3600)):\(pad2((tod / 60) % 60)):\(pad2(tod % 60)) UTC"
    }

    /// Seconds since the epoch with microseconds, as JSON number text.
    public static func epochSeconds(_ t: CaptureTime) -> String {
        let ns = t.nanoseconds
        let neg = ns < 0
        let a = neg ? -ns : ns
        return (neg ? "-" : "") + "\(a / 1_000_000_000).\(pad((a % 1_000_000_000) / 1000, 6))"
    }

    static func pad2(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
    static func pad(_ v: Int64, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }

    /// Latency as text: 0.412 ms, 15003 ms.
    public static func latency(_ nanos: Int64) -> String {
        let us = nanos / 1000
        if us < 10_000 { return "\(us / 1000).\(pad(us % 1000, 3)) ms" }
        return "\(us / 1000) ms"
    }

    static func queue(_ topic: String, _ q: Int32) -> String { "\(topic)#\(q)" }

    /// Key fields of a request.
    public static func requestFields(code: Int32, header: TypedHeader?, body: BodySummary, extFields: ExtFields?) -> String {
        var parts: [String] = []
        switch header {
        case .getRouteInfo(let h)?: parts.append("topic=\(h.topic)")
        case .unregisterClient(let h)?:
            parts.append("clientID=\(h.clientID)")
            if let g = h.consumerGroup { parts.append("consumerGroup=\(g)") }
            if let g = h.producerGroup { parts.append("producerGroup=\(g)") }
        case .getConsumerListByGroup(let h)?, .notifyConsumerIdsChanged(let h)?: parts.append("group=\(h.consumerGroup)")
        case .queryConsumerOffset(let h)?: parts.append("group=\(h.consumerGroup) \(queue(h.topic, h.queueId))")
        case .updateConsumerOffset(let h)?: parts.append("group=\(h.consumerGroup) \(queue(h.topic, h.queueId)) commit=\(h.commitOffset)")
        case .pullMessage(let h)?:
            var b: [UInt8] = []
            b.reserveCapacity(160)
            pullFields(h, into: &b)
            parts.append(String(lineBytes: b))
        case .sendMessage(let h, _)?:
            var s = "group=\(h.producerGroup) \(queue(h.topic, h.queueId))"
            let props = h.parsedProperties
            if let t = props.last(where: { $0.key == "TAGS" })?.value { s += " tags=\(t)" }
            if let k = props.last(where: { $0.key == "KEYS" })?.value { s += " keys=\(k)" }
            if let d = props.last(where: { $0.key == "DELAY" })?.value { s += " delay=\(d)" }
            if h.sysFlag & 1 != 0 { s += " compressed" }
            if case .messageBody(let n) = body { s += " body=\(n)B" }
            if case .other(let n) = body { s += " body=\(n)B" }
            parts.append(s)
        case .consumerSendMsgBack(let h)?:
            var s = "group=\(h.group) offset=\(h.offset) delayLevel=\(h.delayLevel)"
            if let t = h.originTopic { s += " originTopic=\(t)" }
            if let m = h.originMsgId { s += " msgId=\(m)" }
            parts.append(s)
        case .queueOffset(let h)?:
            var s = queue(h.topic, h.queueId)
            if let t = h.timestamp { s += " timestamp=\(t)" }
            parts.append(s)
        case .getConsumerRunningInfo(let h)?: parts.append("group=\(h.consumerGroup) clientId=\(h.clientId)")
        case .popMessage(let h)?:
            parts.append("group=\(h.consumerGroup) \(h.queueId < 0 ? "\(h.topic) (any queue)" : queue(h.topic, h.queueId)) max=\(h.maxMsgNums)"
                         + " invisible=\(h.invisibleTime)ms poll=\(h.pollTime)ms" + (h.order ? " orderly" : "") + (h.exp.map { " \(h.expType ?? "TAG") \"\($0)\"" } ?? ""))
        case .peekMessage(let h)?: parts.append("group=\(h.consumerGroup) \(queue(h.topic, h.queueId)) max=\(h.maxMsgNums)")
        case .ackMessage(let h)?: parts.append("group=\(h.consumerGroup) \(queue(h.topic, h.queueId)) offset=\(h.offset)")
        case .changeInvisibleTime(let h)?:
            parts.append("group=\(h.consumerGroup) \(queue(h.topic, h.queueId)) offset=\(h.offset) invisible=\(h.invisibleTime)ms")
        default:
            if let ext = extFields, !ext.isEmpty {
                parts.append(ext.redacted().entries.prefix(5).map { "\($0.key)=\(clip($0.value, 40))" }.joined(separator: " "))
            }
        }
        if let p = bodyFields(body) { parts.append(p) }
        return parts.count == 1 ? parts[0] : parts.joined(separator: " ")
    }

    /// The key fields a request's body adds (heartbeats, lock and assignment requests, acks), nil for others.
    static func bodyFields(_ body: BodySummary) -> String? {
        switch body {
        case .heartbeat(let hb):
            var s = "clientID=\(hb.clientID)"
            for c in hb.consumerDataSet {
                s += " consumer=\(c.groupName)(\(c.messageModel.prefix(1) == "B" ? "broadcast" : "cluster")," + c.subscriptionDataSet.map { "\($0.topic):\($0.subString)" }.joined(separator: ",") + ")"
            }
            let producers = hb.producerGroups.filter { $0 != "CLIENT_INNER_PRODUCER" }
            if !producers.isEmpty { s += " producers=\(producers.joined(separator: ","))" }
            return s
        case .lockRequest(let l): return "group=\(l.consumerGroup) queues=" + l.mqSet.map { queue($0.topic, $0.queueId) }.joined(separator: ",")
        case .queryAssignment(let q):
            return "group=\(q.consumerGroup) topic=\(q.topic) clientId=\(q.clientId)"
                + (q.strategyName.map { " strategy=\($0)" } ?? "") + (q.messageModel.map { " model=\($0)" } ?? "")
        case .requestMode(let m):
            return "group=\(m.consumerGroup) topic=\(m.topic) mode=\(m.mode)" + (m.popShareQueueNum > 0 ? " popShareQueueNum=\(m.popShareQueueNum)" : "")
        case .batchAck(let b):
            return ("acks=" + b.acks.prefix(8).map { a in
                let offsets = a.ackedOffsets
                return "\(a.consumerGroup) \(queue(a.topic, a.queueId))[\(offsets.count) from \(a.startOffset)"
                    + (offsets.isEmpty ? "" : ": \(offsets.prefix(6).map(String.init).joined(separator: ","))\(offsets.count > 6 ? ",…" : "")") + "]"
            }.joined(separator: " ") + (b.acks.count > 8 ? " +\(b.acks.count - 8) more" : ""))
        case .undecodable(let n, let e): return "body(\(n)B): \(e)"
        default: return nil
        }
    }

    /// `requestFields` appended to `b` after a space, when there are any (a PULL_MESSAGE's written directly).
    static func putRequestFields(code: Int32, header: TypedHeader?, body: BodySummary, into b: inout [UInt8]) {
        if case .pullMessage(let h)? = header, bodyFields(body) == nil {
            b.put(" " as StaticString)
            pullFields(h, into: &b)
            return
        }
        let s = requestFields(code: code, header: header, body: body, extFields: nil)
        if !s.isEmpty {
            b.put(" " as StaticString)
            b.put(s)
        }
    }

    /// The key fields of a PULL_MESSAGE request, as `requestFields` gives them, written as bytes (the timeline's
    /// most frequent line).
    static func pullFields(_ h: PullMessageRequestHeader, into b: inout [UInt8]) {
        b.put("group=" as StaticString)
        b.put(h.consumerGroup)
        b.put(" " as StaticString)
        b.put(h.topic)
        b.put("#", h.queueId)
        b.put(" offset=", h.queueOffset)
        if h.sysFlag.contains(.commitOffset) {
            b.put(" commit=", h.commitOffset)
        }
        b.put(" max=", h.maxMsgNums)
        b.put(" flags=" as StaticString)
        b.put(h.sysFlag.description)
        if let sub = h.subscription {
            b.put(" sub=\"" as StaticString)
            b.put(sub)
            b.put("\"" as StaticString)
        }
    }

    /// The answer of a PULL_MESSAGE, as `answer` gives it, written as bytes.
    static func pullAnswer(_ frame: FrameRecord, _ h: PullMessageResponseHeader, into b: inout [UInt8]) {
        let code = frame.command.code
        if let r = frame.command.remark, !r.isEmpty {
            if code != 0 {
                b.put(frame.command.codeName)
                b.put(" " as StaticString)
            }
            b.put(r)
        } else {
            b.put(frame.command.codeName)
        }
        if case .messages(let n, let first, let last, let clean) = frame.body {
            b.put(messages(n, first, last))
            if !clean { b.put(" (records do not fill the body)" as StaticString) }
        }
        b.put(" next=", h.nextBeginOffset)
        b.put(" min=", h.minOffset)
        b.put(" max=", h.maxOffset)
        if h.suggestWhichBrokerId != 0 {
            b.put(" suggestBroker=", h.suggestWhichBrokerId)
        }
    }

    /// At most `n` characters, control characters escaped (remarks carry newlines).
    static func clip(_ s: String, _ n: Int) -> String { escaped(s, limit: n) }

    /// Text safe for one output line: newline, return and tab as `\n \r \t`, RocketMQ's property separators
    /// 0x01/0x02 as `<01>`/`<02>`, other control characters as `\xNN`; cut at `limit` characters with `…`.
    public static func escaped(_ s: String, limit: Int) -> String {
        var out = ""
        var count = 0
        for scalar in s.unicodeScalars {
            if count >= limit { out += "…"; break }
            switch scalar.value {
            case 0x01: out += "<01>"
            case 0x02: out += "<02>"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0..<0x20, 0x7F: out += "\\x" + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
            count += 1
        }
        return out
    }

    /// The answer of a response.
    /// " N msgs first..last" of a stored-message body.
    static func messages(_ n: Int, _ first: Int64?, _ last: Int64?) -> String {
        " \(n) msg\(n == 1 ? "" : "s")" + (first.flatMap { f in last.map { " \(f)..\($0)" } } ?? "")
    }

    public static func answer(_ frame: FrameRecord) -> String {
        let cmd = frame.command
        var s = cmd.codeName
        switch frame.header {
        case .pullMessageResponse(let h)?:
            var b: [UInt8] = []
            b.reserveCapacity(96)
            pullAnswer(frame, h, into: &b)
            return String(lineBytes: b)
        case .offsetResponse(let h)?: return s + " offset=\(h.offset)"
        case .sendMessageResponse(let h)?: return s + " msgId=\(h.msgId) queueOffset=\(h.queueOffset)"
        case .popMessageResponse(let h)?:
            if case .messages(let n, let first, let last, _) = frame.body {
                s += messages(n, first, last)
            } else if let r = cmd.remark, !r.isEmpty {
                s += " \(r)"
            }
            return s + " invisible=\(h.invisibleTime)ms restNum=\(h.restNum)"
        case .changeInvisibleTimeResponse(let h)?: return s + " invisible=\(h.invisibleTime)ms popTime=\(h.popTime)"
        default: break
        }
        switch frame.body {
        case .route(let r):
            s += " brokers=" + r.brokerDatas.map { b in b.brokerName + "[" + b.brokerAddrs.map { "\($0.id)=\($0.address)" }.joined(separator: ",") + "]" }.joined(separator: " ")
            s += " queues=" + r.queueDatas.map { "\($0.brokerName):r\($0.readQueueNums)/w\($0.writeQueueNums)/\($0.permText)" }.joined(separator: ",")
        case .consumerIds(let ids): s += " \(ids.count) consumer\(ids.count == 1 ? "" : "s") [\(ids.joined(separator: ", "))]"
        case .lockedQueues(let q): s += " locked=" + q.map { queue($0.topic, $0.queueId) }.joined(separator: ",")
        case .assignments(let a):
            s += " assigned=" + (a.isEmpty ? "none" : a.map { "\(queue($0.queue.topic, $0.queue.queueId))(\($0.mode))" }.joined(separator: ","))
        case .messages(let n, let f, let l, _): s += messages(n, f, l)
        case .undecodable(let n, let e): s += " body(\(n)B): \(e)"
        default: break
        }
        if cmd.code != 0, let r = cmd.remark, !r.isEmpty { s += " \"\(clip(r, 100))\"" }
        if let e = frame.headerError { s += " [header: \(e)]" }
        return s
    }
}
