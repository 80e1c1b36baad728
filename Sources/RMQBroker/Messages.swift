import NIOCore
import RocketMQRemoting

/// One message to store.
struct NewMessage {
    var topic: String
    var queueId: Int32
    var flag: Int32
    var sysFlag: Int32
    /// The body as stored (a batch message's: a slice of the request's bytes, not a copy).
    var body: ArraySlice<UInt8>
    var properties: [(key: String, value: String)]
    /// The stored properties text; when nil, written from `properties` in HashMap order.
    var propertiesText: String?
    /// Written after the text (a batch's own properties, with the separator they need before them).
    var propertiesSuffix = ""
    var bornTimestamp: Int64
    var bornHost: MessageHost
    var reconsumeTimes: Int32
    /// Delivered from SCHEDULE_TOPIC_XXXX: its DELAY property is history, not a new delay.
    var fromSchedule = false
}

struct AppendResult {
    var physicalOffset: Int64
    var queueOffset: Int64
}

enum PullOutcome {
    case response(RemotingCommand)
    case held
}

/// Response extFields as Java writes them: with JSON headers the whole map in HashMap order; with ROCKETMQ
/// binary headers the header's fields in declaration order, then the keys added to the map (capture cap5).
/// Java HashMap.put on an insertion-ordered list: replaces in place, or appends.
func putProperty(_ props: inout [(key: String, value: String)], _ key: String, _ value: String) {
    if let i = props.firstIndex(where: { $0.key == key }) { props[i].value = value } else { props.append((key, value)) }
}

func responseFields(_ declared: [(key: String, value: String)], extras: [(key: String, value: String)], binary: Bool) -> ExtFields {
    binary ? ExtFields(declared + JavaHashMapOrder.ordered(extras)) : ExtFields(JavaHashMapOrder.ordered(declared + extras))
}

extension BrokerState {
    // MARK: - Append

    /// Appends a record to the commit log (queued in `pendingRecords`) and its consume queue; wakes matching
    /// held pulls. Messages with a delay level go to SCHEDULE_TOPIC_XXXX as the real CommitLog does.
    mutating func append(_ m: NewMessage, now: Int64) -> AppendResult? {
        // The 4.9.4 record format has a one-byte topic length (127 at most): longer retry/DLQ topics of long group
        // names are refused rather than written broken.
        guard m.topic.utf8.count <= 127 else { return nil }
        var m = m
        let tranType = m.sysFlag & 0xC
        if !m.fromSchedule, tranType == 0 || tranType == 0x8, let d = m.properties.last(where: { $0.key == "DELAY" }).flatMap({ Int32($0.value) }), d > 0,
           !m.topic.hasPrefix(BrokerTopics.scheduleTopic) {
            let level = min(d, Int32(config.delayLevelMillis.count))
            if level != d { putProperty(&m.properties, "DELAY", String(level)) }
            putProperty(&m.properties, "REAL_TOPIC", m.topic)
            putProperty(&m.properties, "REAL_QID", String(m.queueId))
            m.propertiesText = nil
            m.propertiesSuffix = ""
            m.topic = BrokerTopics.scheduleTopic
            m.queueId = level - 1
        }
        let key = QueueKey(topic: m.topic, queueId: m.queueId)
        let queueOffset = queues[key]?.maxOffset ?? 0
        var text = m.propertiesText ?? hashMapProperties(m.properties)
        // The record holds the properties length in 16 bits and the body within the message size limit.
        guard text.utf8.count + m.propertiesSuffix.utf8.count <= Int(Int16.max), m.body.count <= config.maxMessageSize else { return nil }
        let entry = text.withUTF8 { storeRecord(m, text: UnsafeRawBufferPointer($0), key: key, queueOffset: queueOffset, now: now) }
        // Appended in place: a copy of the queue taken out of the table and put back would copy every entry
        // (copy on write), making each send cost as much as the whole queue.
        queues[key, default: ConsumeQueue()].append(entry)
        wakeArrived(key, tagsCode: entry.tagsCode, now: now)
        return AppendResult(physicalOffset: entry.physicalOffset, queueOffset: queueOffset)
    }

    /// Writes `m`'s record at the end of the commit log: straight into the pending commit-log bytes, the cache
    /// taking a copy of it from there, its index entry queued for the store. Returns the queue entry, which the
    /// caller appends to the queue `key`.
    private mutating func storeRecord(_ m: NewMessage, text: UnsafeRawBufferPointer, key: QueueKey, queueOffset: Int64,
                                      now: Int64) -> QueueEntry {
        let physical = commitLogOffset, start = pendingRecords.writerIndex
        let tags = Self.encodeRecord(m, text: text, queueOffset: queueOffset, physical: physical, now: now,
                                     storeHost: config.storeHost, into: &pendingRecords)
        let size = pendingRecords.writerIndex - start
        cache.append(pendingRecords.getSlice(at: start, length: size)!, at: physical)
        commitLogOffset += Int64(size)
        let entry = QueueEntry(physicalOffset: physical, size: Int32(size), tagsCode: tagsCode(tags), storeTimestamp: now)
        pendingEntries.append(IndexedEntry(queue: key, queueOffset: queueOffset, entry: entry))
        return entry
    }

    /// Appends a batch's messages (`records` of the request's `bytes`, each with its properties suffix) to one
    /// queue, as `append` appends one: the queue looked up once, each record written straight into the pending
    /// commit-log bytes, the held pulls woken once the whole batch is in (a held pull gets one full answer, as
    /// the real broker's reput dispatch finds the batch written, instead of the first message alone). Batch
    /// messages take no delay level (the 4.9.4 client refuses one). Adds each message id to `ids`, comma-separated;
    /// returns the first queue offset, or nil (nothing appended) when a record is too long or the topic's name is.
    mutating func appendBatch(_ records: [BatchMessageRecord.Layout], suffixes: [String], bytes: [UInt8], topic: String, queueId: Int32,
                              sysFlag: Int32, bornTimestamp: Int64, bornHost: MessageHost, reconsumeTimes: Int32, now: Int64,
                              ids: inout [UInt8]) -> Int64? {
        guard topic.utf8.count <= 127 else { return nil }
        for (r, suffix) in zip(records, suffixes) where r.properties.count + suffix.utf8.count > Int(Int16.max) || r.body.count > config.maxMessageSize {
            return nil
        }
        let key = QueueKey(topic: topic, queueId: queueId)
        let first = queues[key]?.maxOffset ?? 0
        var entries: [QueueEntry] = []
        entries.reserveCapacity(records.count)
        var codes: [Int64] = []
        bytes.withUnsafeBytes { raw in
            for (i, (r, suffix)) in zip(records, suffixes).enumerated() {
                let m = NewMessage(topic: topic, queueId: queueId, flag: r.flag, sysFlag: sysFlag, body: bytes[r.body], properties: [],
                                   propertiesText: nil, propertiesSuffix: suffix, bornTimestamp: bornTimestamp, bornHost: bornHost,
                                   reconsumeTimes: reconsumeTimes)
                let entry = storeRecord(m, text: UnsafeRawBufferPointer(rebasing: raw[r.properties]), key: key,
                                        queueOffset: first + Int64(i), now: now)
                if !codes.contains(entry.tagsCode) { codes.append(entry.tagsCode) }
                entries.append(entry)
                if !ids.isEmpty { ids.append(0x2C) }
                MessageId.append(host: config.storeHost, physicalOffset: entry.physicalOffset, to: &ids)
            }
        }
        // In place, as in append(_:now:).
        queues[key, default: ConsumeQueue()].append(contentsOf: entries)
        for code in codes { wakeArrived(key, tagsCode: code, now: now) }
        return first
    }

    /// Writes `m`'s record with the properties `text` (UTF-8) and its suffix into `out`; returns its TAGS: the
    /// last of the whole text, the suffix's if it has one (the two parts never share a property).
    static func encodeRecord(_ m: NewMessage, text: UnsafeRawBufferPointer, queueOffset: Int64, physical: Int64, now: Int64,
                             storeHost: MessageHost, into out: inout ByteBuffer) -> String? {
        m.body.withUnsafeBytes { body in
            StoredMessageDecoder.encode(queueId: m.queueId, flag: m.flag, queueOffset: queueOffset, physicalOffset: physical,
                                        // The host-width bits follow the real addresses, whatever the client sent.
                                        sysFlag: MessageSysFlag(rawValue: m.sysFlag & ~0x30), bornTimestamp: m.bornTimestamp,
                                        bornHost: m.bornHost, storeTimestamp: now, storeHost: storeHost, reconsumeTimes: m.reconsumeTimes,
                                        body: body, topic: m.topic, properties: text, propertiesSuffix: m.propertiesSuffix, into: &out)
        }
        return (m.propertiesSuffix.isEmpty ? nil : MessageProperties.value(of: "TAGS", in: m.propertiesSuffix))
            ?? MessageProperties.value(of: "TAGS", inUTF8: text)
    }

    /// Loads a record read back from the commit log at start-up: its queue entry (the record itself stays in the
    /// cold storage, which must be set first: entries beyond `hotEntriesPerQueue` are read back from it).
    @discardableResult
    public mutating func restore(record: ByteBuffer) throws -> IndexedEntry {
        let batch = StoredMessageDecoder.decodeAll(record, context: "commit log record")
        guard let m = batch.messages.first, batch.error == nil else {
            throw batch.error ?? RemotingDecodingError("commit log record", .record(index: 0, reason: "empty"))
        }
        let key = QueueKey(topic: m.topic, queueId: m.queueId)
        let entry = QueueEntry(physicalOffset: m.physicalOffset, size: m.totalSize, tagsCode: tagsCode(m.tags), storeTimestamp: m.storeTimestamp)
        // In place, as in append(_:now:).
        if queues[key] == nil { queues[key] = ConsumeQueue(minOffset: m.queueOffset) }
        queues[key]!.append(entry)
        if coldStorage != nil, queues[key]!.hot.count >= 2 * config.hotEntriesPerQueue { queues[key]!.keepNewest(config.hotEntriesPerQueue) }
        commitLogOffset = max(commitLogOffset, m.physicalOffset + Int64(m.totalSize))
        if topics[m.topic] == nil && !m.topic.hasPrefix(BrokerTopics.scheduleTopic) {
            let n = max(4, m.queueId + 1)
            topics[m.topic] = TopicConfig(topicName: m.topic, readQueueNums: n, writeQueueNums: n)
        }
        return IndexedEntry(queue: key, queueOffset: m.queueOffset, entry: entry)
    }

    /// Restores committed offsets and schedule progress.
    public mutating func restore(offsets: [OffsetKey: Int64], scheduleOffsets: [Int32: Int64], topics restored: [TopicConfig]) {
        self.offsets = offsets
        self.scheduleOffsets = scheduleOffsets
        for t in restored { topics[t.topicName] = t }
    }

    /// The largest record a size word may claim: a message of `maxMessageSize` with the longest properties and topic.
    var maxRecordSize: Int { config.maxMessageSize + Int(Int16.max) + 512 }

    /// The stored record of a queue entry, from memory or the cold storage.
    func record(_ e: QueueEntry) -> ByteBuffer? {
        cache.read(physicalOffset: e.physicalOffset, size: Int(e.size)) ?? coldStorage?.readRecords([e]).first ?? nil
    }

    /// The entry at `offset` of a queue, from memory or the cold storage.
    func entry(_ key: QueueKey, at offset: Int64) -> QueueEntry? {
        guard let q = queues[key], offset >= q.minOffset, offset < q.maxOffset else { return nil }
        return q.hotEntry(at: offset) ?? coldStorage?.readEntries(key, from: offset, count: 1).first
    }

    /// CommitLog.lookMessageByOffset: the message whose record starts at this physical offset.
    func lookup(physicalOffset: Int64) -> StoredMessage? {
        let rec: ByteBuffer?
        if let size = cache.size(at: physicalOffset) {
            guard size > 0, size <= maxRecordSize else { return nil }
            rec = cache.read(physicalOffset: physicalOffset, size: size)
        } else {
            rec = coldStorage?.readRecord(physicalOffset: physicalOffset, maxSize: maxRecordSize)
        }
        guard let rec else { return nil }
        let batch = StoredMessageDecoder.decodeAll(rec)
        guard batch.error == nil, let m = batch.messages.first, m.physicalOffset == physicalOffset else { return nil }
        return m
    }

    /// Allocates and touches `pretouchBytes` of the record cache (bounded by the cache's own bound).
    public mutating func pretouchCache() {
        let bound = coldStorage == nil ? config.memoryRetentionBytes : config.recordCacheBytes
        cache.preallocate(bytes: min(config.pretouchBytes, bound))
    }

    /// Keeps memory within the configuration, on the clock (after the driver has written everything appended):
    /// memory only, the oldest records beyond `memoryRetentionBytes` are dropped with their queue entries; with a
    /// cold storage, the record cache is cut to `recordCacheBytes` and each queue to `hotEntriesPerQueue` entries.
    mutating func boundMemory() {
        if coldStorage == nil {
            guard cache.trim(toAtMost: config.memoryRetentionBytes), let first = cache.start else { return }
            var dropped = 0
            queues.modifyEachValue { q in
                let before = q.minOffset
                q.dropBefore(physicalOffset: first)
                dropped += Int(q.minOffset - before)
            }
            if droppedByRetention == 0 && dropped > 0 {
                pendingActions.append(.log("memory store full (\(config.memoryRetentionBytes >> 20) MiB): the oldest messages are dropped from now on (\(dropped) so far); --store keeps them"))
            }
            droppedByRetention += dropped
        } else {
            _ = cache.trim(toAtMost: config.recordCacheBytes)
            let keep = config.hotEntriesPerQueue
            queues.modifyEachValue { q in if q.hot.count > keep { q.keepNewest(keep) } }
        }
    }

    /// The records appended but not yet handed to the driver (tests).
    public mutating func takePendingRecords() -> ByteBuffer {
        defer { pendingRecords = ByteBuffer(); pendingEntries = [] }
        return pendingRecords
    }

    // MARK: - Send

    mutating func send(_ request: RemotingCommand, client: ClientRef, now: Int64) throws -> RemotingCommand {
        let v2 = request.code != RequestCode.sendMessage
        let h = try SendMessageRequestHeader(fields: request.allFields, v2: v2)
        let batch = request.code == RequestCode.sendBatchMessage
        let extras: [(key: String, value: String)] = [("MSG_REGION", config.regionId), ("TRACE_ON", config.traceOn ? "true" : "false")]
        let binary = request.serializeType == .rocketmq
        func fail(_ code: Int32, _ remark: String) -> RemotingCommand {
            reply(request, code, remark: remark, extFields: responseFields([], extras: extras, binary: binary))
        }
        func ok(msgId: String, queueId: Int32, queueOffset: Int64) -> RemotingCommand {
            reply(request, ResponseCode.success, extFields: responseFields([("msgId", msgId), ("queueId", String(queueId)),
                                                                           ("queueOffset", String(queueOffset))], extras: extras, binary: binary))
        }
        var topic = h.topic
        if let why = validateTopic(topic) { return fail(ResponseCode.systemError, why) }
        if BrokerTopics.notAllowedSend.contains(topic) {
            return fail(ResponseCode.noPermission, "Sending message to topic[\(topic)] is forbidden.")
        }
        // Transactions are not implemented: answered as a 4.9.4 broker with rejectTransactionMessage=true.
        if h.sysFlag & 0xC == 0x4 {
            return fail(ResponseCode.noPermission, "the broker[\(config.brokerAddress.split(separator: ":").first ?? "")] sending transaction message is forbidden")
        }
        if batch {
            if topic.utf8.count > 127 { return fail(13, "message topic length too long \(topic.utf8.count)") }
            if topic.hasPrefix(BrokerTopics.retryPrefix) { return fail(13, "batch request does not support retry group \(topic)") }
        }
        var tc = topics[topic]
        if tc == nil {
            if topic.hasPrefix(BrokerTopics.retryPrefix) {
                tc = systemTopic(topic, queues: 1, perm: Perm.read | Perm.write)
            } else {
                tc = autoCreateTopic(topic, defaultTopic: h.defaultTopic, queueNums: h.defaultTopicQueueNums)
            }
        }
        guard var topicConfig = tc else {
            return fail(ResponseCode.topicNotExist, "topic[\(topic)] not exist, apply first please!\(BrokerTopics.faqSuffix)")
        }
        if topicConfig.perm & Perm.write == 0 {
            return fail(ResponseCode.noPermission, "the topic[\(topic)] sending message is forbidden")
        }
        let valid = max(topicConfig.writeQueueNums, topicConfig.readQueueNums)
        if h.queueId >= valid {
            return fail(ResponseCode.systemError, "request queueId[\(h.queueId)] is illegal, \(topicConfig.javaDescription) Producer: \(client.remote)")
        }
        var queueId = h.queueId < 0 ? Int32.random(in: 0..<max(1, topicConfig.writeQueueNums)) : h.queueId
        let bodyBytes = request.body.map { Array($0.readableBytesView) } ?? []
        var props = MessageProperties.parse(h.properties ?? "")
        var reconsume = h.reconsumeTimes ?? 0
        // handleRetryAndDLQ: a retry message past its max reconsume times goes to the DLQ.
        if topic.hasPrefix(BrokerTopics.retryPrefix) {
            let group = String(topic.dropFirst(BrokerTopics.retryPrefix.count))
            let maxTimes = h.maxReconsumeTimes ?? config.maxReconsumeTimes
            if reconsume >= maxTimes {
                topic = BrokerTopics.dlqPrefix + group
                topicConfig = systemTopic(topic, queues: 1, perm: Perm.read | Perm.write)
                queueId = 0
            }
        }
        if batch {
            // Each message's body and properties are stored from where they are in the request's bytes.
            let records: [BatchMessageRecord.Layout]
            do {
                records = try bodyBytes.withUnsafeBytes { try BatchMessageRecord.scanAll($0) }
            } catch {
                return fail(13, "the batch body is illegal: \(error)")
            }
            if records.isEmpty { return fail(13, "the batch body is empty") }
            // The batch's own properties (WAIT included) follow each message's, as the 4.9.4 batch encoder does.
            var batchProps = props
            batchProps.append(("CLUSTER", config.clusterName))
            let batchText = hashMapProperties(batchProps)
            // The message ids, comma-separated, written as bytes and made one String at the end.
            var ids: [UInt8] = []
            ids.reserveCapacity(records.count * (MessageId.length(config.storeHost) + 1))
            // Each message's properties as sent, a separator unless they end with one, then the batch's
            // (MessageExtBatchEncoder.encode's needAppendLastPropertySeparator): the two suffixes made once.
            let separatedBatchText = batchText.isEmpty ? "" : "\u{02}" + batchText
            let suffixes = records.map { r -> String in
                !r.properties.isEmpty && !batchText.isEmpty && bodyBytes[r.properties.upperBound - 1] != 0x02 ? separatedBatchText : batchText
            }
            // Records whose properties exceed 16 bits are refused by appendBatch, with the same answer.
            if bodyBytes.count > config.maxMessageSize {
                return fail(13, "the message is illegal, maybe msg body or properties length not matched. msg body length limit 128k, msg properties length limit 32k.")
            }
            guard let first = appendBatch(records, suffixes: suffixes, bytes: bodyBytes, topic: topic, queueId: queueId, sysFlag: h.sysFlag,
                                          bornTimestamp: h.bornTimestamp, bornHost: client.remote, reconsumeTimes: reconsume,
                                          now: now, ids: &ids) else {
                return fail(13, "the message is illegal, maybe msg body or properties length not matched. msg body length limit 128k, msg properties length limit 32k.")
            }
            return ok(msgId: String(decoding: ids, as: UTF8.self), queueId: queueId, queueOffset: first)
        }
        if bodyBytes.count > config.maxMessageSize {
            return fail(13, "the message is illegal, maybe msg body or properties length not matched. msg body length limit 128k, msg properties length limit 32k.")
        }
        putProperty(&props, "CLUSTER", config.clusterName)
        // 4.9.4 takes WAIT out of the map to write the stored text, then puts it back (last); the delay path
        // writes the text again from the map, WAIT included.
        let wait = props.last { $0.key == "WAIT" }?.value
        props.removeAll { $0.key == "WAIT" }
        let delayed = (Int32(props.last { $0.key == "DELAY" }?.value ?? "") ?? 0) > 0
        if delayed, let wait { props.append(("WAIT", wait)) }
        let stored = props
        if reconsume < 0 { reconsume = 0 }
        guard let res = append(NewMessage(topic: topic, queueId: queueId, flag: h.flag, sysFlag: h.sysFlag, body: bodyBytes[...],
                                          properties: stored, propertiesText: nil, bornTimestamp: h.bornTimestamp,
                                          bornHost: client.remote, reconsumeTimes: reconsume), now: now) else {
            return fail(13, "the message is illegal, maybe msg body or properties length not matched. msg body length limit 128k, msg properties length limit 32k.")
        }
        return ok(msgId: MessageId.make(host: config.storeHost, physicalOffset: res.physicalOffset), queueId: queueId,
                  queueOffset: res.queueOffset)
    }

    // MARK: - Send back

    mutating func sendBack(_ request: RemotingCommand, client: ClientRef, now: Int64) throws -> RemotingCommand {
        let h = try ConsumerSendMsgBackRequestHeader(fields: request.allFields)
        var newTopic = BrokerTopics.retryPrefix + h.group
        var topicConfig = systemTopic(newTopic, queues: 1, perm: Perm.read | Perm.write)
        if topicConfig.perm & Perm.write == 0 {
            return reply(request, ResponseCode.noPermission, remark: "the topic[\(newTopic)] sending message is forbidden")
        }
        guard let orig = lookup(physicalOffset: h.offset) else {
            return reply(request, ResponseCode.systemError, remark: "look message by offset failed, \(h.offset)")
        }
        var props = orig.properties
        if !props.contains(where: { $0.key == "RETRY_TOPIC" }) { props.append(("RETRY_TOPIC", orig.topic)) }
        putProperty(&props, "WAIT", "false")
        var delayLevel = h.delayLevel
        var maxTimes = config.maxReconsumeTimes
        if let t = h.maxReconsumeTimes, request.version >= 85 /* V3_4_9 */ { maxTimes = t }
        if orig.reconsumeTimes >= maxTimes || delayLevel < 0 {
            newTopic = BrokerTopics.dlqPrefix + h.group
            topicConfig = systemTopic(newTopic, queues: 1, perm: Perm.read | Perm.write)
            putProperty(&props, "DELAY", "0")  // setDelayTimeLevel(0): no delay
        } else {
            if delayLevel == 0 { delayLevel = 3 + orig.reconsumeTimes }
            putProperty(&props, "DELAY", String(delayLevel))
        }
        let origin = props.last { $0.key == "ORIGIN_MESSAGE_ID" }?.value ?? ""
        putProperty(&props, "ORIGIN_MESSAGE_ID", origin.isEmpty ? orig.offsetMsgId : origin)
        guard append(NewMessage(topic: newTopic, queueId: 0, flag: orig.flag, sysFlag: orig.sysFlag.rawValue, body: orig.storedBody[...],
                                properties: props, propertiesText: nil, bornTimestamp: orig.bornTimestamp, bornHost: orig.bornHost,
                                reconsumeTimes: orig.reconsumeTimes + 1), now: now) != nil else {
            return reply(request, 13, remark: "the message is illegal, maybe msg body or properties length not matched. msg body length limit 128k, msg properties length limit 32k.")
        }
        _ = topicConfig
        return reply(request, ResponseCode.success)
    }

    // MARK: - Delayed delivery (ScheduleMessageService)

    mutating func deliverDueDelayed(now: Int64) {
        for (i, delay) in config.delayLevelMillis.enumerated() {
            let level = Int32(i + 1)
            let key = QueueKey(topic: BrokerTopics.scheduleTopic, queueId: level - 1)
            guard let q = queues[key] else { continue }
            // Memory only, the retention may have dropped what was not delivered yet: on from the oldest kept.
            var next = max(scheduleOffsets[level] ?? q.minOffset, q.minOffset)
            let wait = Int64(Double(delay) * config.delayScale)
            while let e = entry(key, at: next), e.storeTimestamp + wait <= now {
                if let rec = record(e), let m = StoredMessageDecoder.decodeAll(rec).messages.first {
                    // ScheduleMessageService keeps the stored text (DELAY, REAL_TOPIC, REAL_QID stay in it).
                    let realTopic = m.property("REAL_TOPIC") ?? m.topic
                    let realQid = Int32(m.property("REAL_QID") ?? "0") ?? 0
                    if append(NewMessage(topic: realTopic, queueId: realQid, flag: m.flag, sysFlag: m.sysFlag.rawValue, body: m.storedBody[...],
                                          properties: m.properties, propertiesText: m.propertiesText, bornTimestamp: m.bornTimestamp,
                                          bornHost: m.bornHost, reconsumeTimes: m.reconsumeTimes, fromSchedule: true), now: now) == nil {
                        pendingActions.append(.log("delayed message at \(BrokerTopics.scheduleTopic)#\(level - 1)@\(next) cannot be stored in \(realTopic): dropped"))
                    }
                }
                next += 1
                scheduleOffsets[level] = next
                offsetsDirty = true
            }
        }
    }

    // MARK: - Pull

    /// PullMessageProcessor.processRequest.
    mutating func pull(_ h: PullMessageRequestHeader, request: RemotingCommand, client: ClientRef, now: Int64, allowSuspend: Bool,
                       filter given: TagFilter?) -> PullOutcome {
        func err(_ code: Int32, _ remark: String) -> PullOutcome { .response(reply(request, code, remark: remark, extFields: ExtFields())) }
        // Read once: a long topic or group is made a String at each read of the header's field.
        let topic = h.topic
        guard let tc = topics[topic] else {
            return err(ResponseCode.topicNotExist, "topic[\(topic)] not exist, apply first please! \(BrokerTopics.faqSuffix)")
        }
        if tc.perm & Perm.read == 0 {
            return err(ResponseCode.noPermission, "the topic[\(topic)] pulling message is forbidden")
        }
        if h.queueId < 0 || h.queueId >= tc.readQueueNums {
            return err(ResponseCode.systemError,
                       "queueId[\(h.queueId)] is illegal, topic:[\(topic)] topicConfig.readQueueNums:[\(tc.readQueueNums)] consumer:[\(client.remote)]")
        }
        var filter: TagFilter
        if let given {
            filter = given
        } else if h.sysFlag.contains(.subscription) {
            let sub = SubscriptionData.tag(topic: topic, expression: h.subscription ?? "*", subVersion: h.subVersion)
            filter = TagFilter(h.expressionType?.uppercased() == "SQL92" ? nil : sub)
        } else {
            guard let g = groups[h.consumerGroup] else {
                return err(ResponseCode.subscriptionNotExist, "the consumer's group info not exist\(BrokerTopics.faqSuffix)")
            }
            guard let sub = g.subscriptions[topic] else {
                return err(ResponseCode.subscriptionNotExist, "the consumer's subscription not exist\(BrokerTopics.faqSuffix)")
            }
            if sub.subVersion < h.subVersion {
                return err(ResponseCode.subscriptionNotLatest, "the consumer's subscription not latest")
            }
            filter = TagFilter(sub)
        }
        let key = QueueKey(topic: topic, queueId: h.queueId)
        let r = getMessage(key, offset: h.queueOffset, maxMsgNums: Int(max(1, h.maxMsgNums)), filter: filter)
        let header = PullMessageResponseHeader(suggestWhichBrokerId: 0, nextBeginOffset: r.next, minOffset: r.min, maxOffset: r.max)
        var code: Int32
        switch r.status {
        case "FOUND": code = ResponseCode.success
        case "NO_MATCHED_MESSAGE", "MESSAGE_WAS_REMOVING": code = ResponseCode.pullRetryImmediately
        case "NO_MESSAGE_IN_QUEUE", "NO_MATCHED_LOGIC_QUEUE":
            code = h.queueOffset != 0 ? ResponseCode.pullOffsetMoved : ResponseCode.pullNotFound
        case "OFFSET_OVERFLOW_BADLY", "OFFSET_TOO_SMALL": code = ResponseCode.pullOffsetMoved
        default: code = ResponseCode.pullNotFound  // OFFSET_FOUND_NULL, OFFSET_OVERFLOW_ONE
        }
        // The piggy-backed commit: only on the first execution (allowSuspend), as the real broker does.
        if allowSuspend && h.sysFlag.contains(.commitOffset) {
            commit(group: h.consumerGroup, topic: topic, queueId: h.queueId, offset: h.commitOffset)
        }
        if code == ResponseCode.pullNotFound && allowSuspend && h.sysFlag.contains(.suspend) {
            let timeout = min(max(0, h.suspendTimeoutMillis), 86_400_000)  // at most a day: no overflow from hostile values
            held.append(HeldPull(client: client, request: request, header: h, key: key, filter: filter, suspendedAt: now, timeoutMillis: timeout))
            pendingActions.append(.hold(connection: client.connection, opaque: request.opaque, topic: topic, queueId: h.queueId,
                                        deadline: now + timeout))
            return .held
        }
        return .response(reply(request, code, remark: r.status,
                               extFields: responseFields(header.declaredFields, extras: [], binary: request.serializeType == .rocketmq),
                               body: code == ResponseCode.success ? r.body : nil))
    }

    /// DefaultMessageStore.getMessage: the matching records from `offset` on, concatenated as a pull body.
    func getMessage(_ key: QueueKey, offset: Int64, maxMsgNums: Int, filter: TagFilter)
        -> (status: String, next: Int64, min: Int64, max: Int64, body: ByteBuffer?) {
        guard let q = queues[key], q.maxOffset > 0 else {
            return ("NO_MESSAGE_IN_QUEUE", 0, 0, 0, nil)
        }
        let minO = q.minOffset, maxO = q.maxOffset
        if offset < minO { return ("OFFSET_TOO_SMALL", minO, minO, maxO, nil) }
        if offset == maxO { return ("OFFSET_OVERFLOW_ONE", offset, minO, maxO, nil) }
        if offset > maxO { return ("OFFSET_OVERFLOW_BADLY", minO == 0 ? minO : maxO, minO, maxO, nil) }
        let scanLimit = max(16000 / 20, maxMsgNums)
        // Entries older than those in memory come from the cold storage, as many as the scan may look at.
        var cold: [QueueEntry] = []
        if offset < q.hotStart, let coldStorage {
            cold = coldStorage.readEntries(key, from: offset, count: Int(min(Int64(scanLimit), q.hotStart - offset)))
        }
        var picked: [(offset: Int64, entry: QueueEntry)] = []
        var bytes = 0
        var o = offset
        var scanned = 0
        while o < maxO, scanned < scanLimit {
            let i = Int(o - offset)
            guard let e = i < cold.count ? cold[i] : q.hotEntry(at: o) else { break }
            if picked.count >= maxMsgNums { break }
            if !picked.isEmpty && (bytes + Int(e.size) > config.maxTransferBytes || picked.count >= config.maxTransferCount) { break }
            scanned += 1
            o += 1
            if !filter.matches(e.tagsCode) { continue }
            picked.append((o - 1, e))
            bytes += Int(e.size)
        }
        if picked.isEmpty {
            // An entry neither in memory nor readable: MESSAGE_WAS_REMOVING (retried at once), not skipped.
            if scanned == 0 && o < maxO { return ("MESSAGE_WAS_REMOVING", o, minO, maxO, nil) }
            return ("NO_MATCHED_MESSAGE", o, minO, maxO, nil)
        }
        var body = ByteBuffer()
        body.reserveCapacity(bytes)
        // Records older than the cache come first (ascending physical offsets): read back in one go.
        let cacheStart = cache.start ?? commitLogOffset
        let coldCount = picked.firstIndex { $0.entry.physicalOffset >= cacheStart } ?? picked.count
        var got = 0
        if coldCount > 0 {
            for r in coldStorage?.readRecords(picked[..<coldCount].map(\.entry)) ?? [] {
                guard var r else { break }
                body.writeBuffer(&r)
                got += 1
            }
        }
        if got == coldCount {
            for p in picked[coldCount...] {
                guard cache.copy(physicalOffset: p.entry.physicalOffset, size: Int(p.entry.size), into: &body) else { break }
                got += 1
            }
        }
        if got == 0 { return ("MESSAGE_WAS_REMOVING", offset, minO, maxO, nil) }
        // What could not be read is not skipped: the next pull starts there.
        if got < picked.count { o = picked[got].offset }
        return ("FOUND", o, minO, maxO, body)
    }

    // MARK: - Long polling

    /// A message arrived in `key`: wake the held pulls it satisfies (PullRequestHoldService.notifyMessageArriving).
    mutating func wakeArrived(_ key: QueueKey, tagsCode: Int64?, now: Int64) {
        guard held.contains(where: { $0.key == key }) else { return }
        let maxO = queues[key]?.maxOffset ?? 0
        var keep: [HeldPull] = []
        var wake: [HeldPull] = []
        for h in held {
            if h.key == key && maxO > h.header.queueOffset && h.filter.matches(tagsCode) {
                wake.append(h)
            } else {
                keep.append(h)
            }
        }
        held = keep
        for h in wake {
            if case .response(let r) = pull(h.header, request: h.request, client: h.client, now: now, allowSuspend: false, filter: h.filter) {
                pendingActions.append(.wake(connection: h.client.connection, r))
            }
        }
    }

    /// The periodic check: anything new, or the hold time is over.
    mutating func checkHeld(now: Int64) -> [BrokerAction] {
        var out: [BrokerAction] = []
        var keep: [HeldPull] = []
        for h in held {
            let maxO = queues[h.key]?.maxOffset ?? 0
            if maxO > h.header.queueOffset || now >= h.suspendedAt + h.timeoutMillis {
                if case .response(let r) = pull(h.header, request: h.request, client: h.client, now: now, allowSuspend: false, filter: h.filter) {
                    out.append(.wake(connection: h.client.connection, r))
                }
            } else {
                keep.append(h)
            }
        }
        held = keep
        return out
    }
}

extension Dictionary {
    /// Each value changed in place. Not `for i in values.indices { values[i]... }`: the indices hold the values
    /// view, a second reference to the storage, so the first change copied the whole dictionary and then, value
    /// by value, the storage of each value changed (a consume queue's ring of entries: a megabyte of fresh
    /// memory, on every clock tick).
    mutating func modifyEachValue(_ body: (inout Value) -> Void) {
        var i = values.startIndex
        while i != values.endIndex {
            body(&values[i])
            values.formIndex(after: &i)
        }
    }
}
