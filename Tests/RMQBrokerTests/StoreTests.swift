import Foundation
import Glibc
import NIOCore
@testable import RMQBroker
import RocketMQRemoting
import Testing

func tempDir(_ name: String) -> String {
    let d = NSTemporaryDirectory() + "rmq-broker-test-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try? FileManager.default.removeItem(atPath: d)
    return d
}

/// Executes a state's persist actions as the broker's driver does.
func persist(_ actions: [BrokerAction], to store: MessageStore) throws {
    for case .persist(let records, let entries) in actions { try store.append(records, entries: entries, now: t0) }
}

/// Sends `count` messages of `bodyBytes` each (message `i`'s body the digit `i % 10` repeated) through a new state
/// into `store`, `after` run after each; returns their records in order.
func persistSends(_ count: Int, topic: String, bodyBytes: Int, to store: MessageStore,
                  after: () -> Void = {}) throws -> [ByteBuffer] {
    var b = BrokerState()
    var records: [ByteBuffer] = []
    for i in 0..<count {
        let a = b.handle(sendV2(topic: topic, body: String(repeating: "\(i % 10)", count: bodyBytes)), from: clientA, now: t0)
        records += a.persisted
        try persist(a, to: store)
        after()
    }
    return records
}

/// Every record reads back from `store` at its position (the records laid end to end from 0).
func expectReadBack(_ records: [ByteBuffer], from store: MessageStore, maxSize: Int,
                    sourceLocation: SourceLocation = #_sourceLocation) {
    var at: Int64 = 0
    for r in records {
        #expect(store.readRecord(physicalOffset: at, maxSize: maxSize) == r, sourceLocation: sourceLocation)
        at += Int64(r.readableBytes)
    }
}

@Suite struct StoreTests {
    /// Messages and offsets written through a state, read back into a new state.
    @Test func restartRestoresMessagesOffsetsAndTopics() throws {
        let dir = tempDir("restart")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = MessageStore(directory: dir, policy: .always)
        _ = try store.open { _ in Issue.record("an empty store restores nothing"); throw StoreError("unexpected") }
        var b = BrokerState()
        _ = b.handle(createTopic("Kept", queues: 2), from: clientA, now: t0)
        for i in 0..<5 {
            let a = b.handle(sendV2(topic: "Kept", queueId: Int32(i % 2), body: "m\(i)", tags: "T"), from: clientA, now: t0 + Int64(i))
            try persist(a, to: store)
        }
        b.commit(group: "g", topic: "Kept", queueId: 1, offset: 2)
        try store.writeOffsets(b.offsets, schedule: [3: 7])
        try store.writeTopics(Array(b.topics.values))
        store.close(now: t0)

        let again = MessageStore(directory: dir, policy: .always)
        var b2 = BrokerState()
        b2.coldStorage = again
        let c = try again.open { try b2.restore(record: $0) }
        #expect(c.notes.isEmpty)
        #expect(c.recordCount == 5)
        b2.restore(offsets: c.offsets, scheduleOffsets: c.scheduleOffsets, topics: c.topics)
        #expect(b2.queues[QueueKey(topic: "Kept", queueId: 0)]?.maxOffset == 3)
        #expect(b2.queues[QueueKey(topic: "Kept", queueId: 1)]?.maxOffset == 2)
        #expect(b2.offsets[OffsetKey(group: "g", topic: "Kept", queueId: 1)] == 2)
        #expect(b2.scheduleOffsets[3] == 7)
        #expect(b2.topics["Kept"]?.writeQueueNums == 2)
        #expect(b2.commitLogOffset == b.commitLogOffset)
        // New records continue the commit log.
        let next = b2.handle(sendV2(topic: "Kept", queueId: 0, body: "m5"), from: clientA, now: t0)
        #expect(next.only?.fields["queueOffset"] == "3")
        #expect(MessageId.decode(next.only!.fields["msgId"]!)?.physicalOffset == b.commitLogOffset)
        again.close(now: t0)
    }

    @Test(arguments: [1, 10, 50, 90])
    func tornTailIsCut(cut: Int) throws {
        let dir = tempDir("torn")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = MessageStore(directory: dir, policy: .always)
        _ = try store.open { _ in throw StoreError("unexpected record") }
        var b = BrokerState()
        var records: [ByteBuffer] = []
        for i in 0..<3 {
            let a = b.handle(sendV2(topic: "T", body: "message \(i)"), from: clientA, now: t0)
            records += a.persisted
            try persist(a, to: store)
        }
        store.close(now: t0)
        // Chop `cut` bytes off the last record, as a crash in the middle of a write leaves it.
        let path = dir + "/commitlog.dat"
        let full = try Data(contentsOf: URL(fileURLWithPath: path))
        try full.prefix(full.count - cut).write(to: URL(fileURLWithPath: path))
        let again = MessageStore(directory: dir, policy: .always)
        var b2 = BrokerState()
        let c = try again.open { try b2.restore(record: $0) }
        #expect(c.recordCount == 2)
        #expect(c.notes.count == 1 && c.notes[0].contains("torn or corrupt tail"))
        let kept = records[0].readableBytes + records[1].readableBytes
        #expect(again.size == Int64(kept))
        again.close(now: t0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)).count == kept)
    }

    /// A store written through windows of a few pages (each record copied into the mapping), left without
    /// `close` as a kill -9 leaves it: the file runs on in zeros past the last record.
    static func unclosedStore(_ dir: String, records count: Int) throws -> (MessageStore, [ByteBuffer]) {
        let store = MessageStore(directory: dir, policy: .interval(millis: 1_000))
        store.maxRecordSize = 4096
        store.windowBytes = 3 * 4096
        _ = try store.open { _ in throw StoreError("unexpected record") }
        var b = BrokerState()
        var records: [ByteBuffer] = []
        for i in 0..<count {
            let a = b.handle(sendV2(topic: "W", queueId: Int32(i % 4), body: "message \(i) " + String(repeating: "x", count: i % 97)),
                             from: clientA, now: t0)
            records += a.persisted
            try persist(a, to: store)
        }
        return (store, records)
    }

    /// Drops the store's mapping and file without closing it (no cut, no sync), as a killed process does.
    static func abandon(_ store: MessageStore) {
        store.unmapWindow()
        Glibc.close(store.fd)
    }

    @Test func recordsCrossingWindowsReadBackAndSurviveAnUnclosedStop() throws {
        let dir = tempDir("window")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (store, records) = try Self.unclosedStore(dir, records: 300)
        let total = records.reduce(0) { $0 + $1.readableBytes }
        #expect(total > 4 * store.windowBytes)
        // Read back while running: from the window, and with pread from before it.
        var at: Int64 = 0
        for r in records {
            #expect(store.readRecord(physicalOffset: at, maxSize: 4096) == r)
            at += Int64(r.readableBytes)
        }
        let onDisk = try FileManager.default.attributesOfItem(atPath: store.commitLogPath)[.size] as! Int
        #expect(onDisk > total, "the window's end is allocated")
        Self.abandon(store)

        let again = MessageStore(directory: dir, policy: .always)
        var b2 = BrokerState()
        let c = try again.open { try b2.restore(record: $0) }
        #expect(c.recordCount == 300)
        #expect(c.notes.isEmpty, "zeros after the last record are not a tear: \(c.notes)")
        #expect(again.size == Int64(total))
        again.close(now: t0)
        #expect(try FileManager.default.attributesOfItem(atPath: again.commitLogPath)[.size] as? Int == total)
    }

    /// A window smaller than the largest record is made large enough for it (a record is copied whole into one).
    @Test func aWindowTooSmallForTheLargestRecordGrows() throws {
        let dir = tempDir("small-window")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = MessageStore(directory: dir, policy: .always)
        store.maxRecordSize = 64 * 1024
        store.windowBytes = 4096
        _ = try store.open { _ in throw StoreError("unexpected record") }
        #expect(store.mappedBytes >= 64 * 1024 + 2 * MessageStore.pageSize && store.mappedBytes % MessageStore.pageSize == 0)
        let records = try persistSends(6, topic: "L", bodyBytes: 30_000, to: store)
        expectReadBack(records, from: store, maxSize: 64 * 1024)
        store.close(now: t0)
        let again = MessageStore(directory: dir, policy: .always)
        var b2 = BrokerState()
        #expect(try again.open { try b2.restore(record: $0) }.recordCount == 6)
        again.close(now: t0)
    }

    @Test func aTornRecordBeforeTheZerosIsCut() throws {
        let dir = tempDir("torn-window")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (store, records) = try Self.unclosedStore(dir, records: 40)
        let kept = records.dropLast().reduce(0) { $0 + $1.readableBytes }
        // The last record half copied: its second half zeros, as a kill in the middle of the copy leaves it.
        let half = records.last!.readableBytes / 2
        memset(store.window! + Int(Int64(kept + half) - store.windowBase), 0, records.last!.readableBytes - half)
        Self.abandon(store)

        let again = MessageStore(directory: dir, policy: .always)
        var b2 = BrokerState()
        let c = try again.open { try b2.restore(record: $0) }
        #expect(c.recordCount == 39)
        #expect(c.notes.count == 1 && c.notes[0].contains("torn or corrupt tail at byte \(kept)"), "\(c.notes)")
        #expect(again.size == Int64(kept))
        again.close(now: t0)
    }

    /// The interval fsync and the offsets on the store's own thread: the tick returns without waiting for it, a
    /// second fsync is not started while the first runs, close waits for them, and what was appended and the last
    /// offsets are there after a restart.
    @Test func intervalSyncRunsInTheBackground() throws {
        let dir = tempDir("bgsync")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = MessageStore(directory: dir, policy: .interval(millis: 10))
        store.syncInBackground = true
        _ = try store.open { _ in throw StoreError("unexpected record") }
        var b = BrokerState()
        for i in 0..<50 {
            try persist(b.handle(sendV2(topic: "B", body: "m\(i)"), from: clientA, now: t0), to: store)
            try store.tick(now: t0 + 20 * Int64(i + 1))
        }
        #expect(store.lastSync > t0)
        // Offsets written on the store's thread, in order: the last one queued is the one on disk.
        for o in 1...20 { store.writeOffsetsInBackground([OffsetKey(group: "g", topic: "B", queueId: 0): Int64(o)], schedule: [:]) }
        store.close(now: t0 + 2_000)
        #expect(store.background.withLockedValue { !$0.running && $0.failure == nil })
        let again = MessageStore(directory: dir, policy: .always)
        var b2 = BrokerState()
        let c = try again.open { try b2.restore(record: $0) }
        #expect(c.recordCount == 50 && c.notes.isEmpty)
        #expect(c.offsets == [OffsetKey(group: "g", topic: "B", queueId: 0): 20])
        again.close(now: t0)
    }

    /// The syncs cover the bytes appended since the last one (`MessageStore.syncRange`: msync of a mapping of
    /// that range, not an fsync of the whole file and of the next window made ready ahead): with `.always` after
    /// every append, with the interval policy on the store's thread; a range that cannot be mapped falls back
    /// to an fsync of the file, whose failure names the file.
    @Test func syncsCoverWhatWasAppendedSinceTheLastOne() throws {
        for policy in [FsyncPolicy.always, .interval(millis: 10)] {
            let dir = tempDir("sync-range")
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let store = MessageStore(directory: dir, policy: policy)
            store.syncInBackground = true
            store.windowBytes = 8192
            _ = try store.open { _ in throw StoreError("unexpected record") }
            #expect(store.background.withLockedValue { $0.synced } == 0)
            var b = BrokerState()
            for i in 0..<40 {
                try persist(b.handle(sendV2(topic: "S", body: String(repeating: "x", count: 300 + i)), from: clientA, now: t0), to: store)
                try store.tick(now: t0 + 20 * Int64(i + 1))
                store.waitForBackground()
                let synced = store.background.withLockedValue { $0.synced }
                #expect(synced == store.size)
            }
            try store.tick(now: t0 + 10_000)
            store.waitForBackground()
            #expect(store.background.withLockedValue { $0.synced == store.size && $0.failure == nil })
            store.close(now: t0 + 10_000)
            let again = MessageStore(directory: dir, policy: .always)
            var b2 = BrokerState()
            #expect(try again.open { try b2.restore(record: $0) }.recordCount == 40)
            #expect(again.background.withLockedValue { $0.synced } == again.size)
            again.close(now: t0)
        }
        #expect(MessageStore.syncRange(fd: -1, from: 5, to: 5, path: "x") == nil)
        let failure = MessageStore.syncRange(fd: -1, from: 0, to: 100, path: "/nowhere/commitlog.dat")
        #expect(failure?.hasPrefix("fsync /nowhere/commitlog.dat: ") == true, "\(failure ?? "nil")")
    }

    /// With the store's own thread, the next window of the commit log is mapped and populated there once the
    /// records pass the middle of the current one, and the appends go on in it: every record reads back, in the
    /// window and after a restart, and the file is cut to the records on close.
    @Test func theNextWindowIsMadeReadyInTheBackground() throws {
        let dir = tempDir("next-window")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = MessageStore(directory: dir, policy: .interval(millis: 10))
        store.syncInBackground = true
        store.maxRecordSize = 16 * 1024
        store.windowBytes = 4096
        _ = try store.open { _ in throw StoreError("unexpected record") }
        // After each send, the store's thread done with what was asked of it: the next window is ready when needed.
        let records = try persistSends(60, topic: "W", bodyBytes: 2_500, to: store, after: store.waitForBackground)
        let total = records.reduce(0) { $0 + $1.readableBytes }
        #expect(total > 5 * store.windowSize)
        #expect(store.preparedWindowsTaken >= 4, "windows taken: \(store.preparedWindowsTaken)")
        expectReadBack(records, from: store, maxSize: 16 * 1024)
        store.close(now: t0)
        let size = (try FileManager.default.attributesOfItem(atPath: store.commitLogPath)[.size] as? NSNumber)?.intValue
        #expect(size == total)
        let again = MessageStore(directory: dir, policy: .always)
        var b2 = BrokerState()
        let c = try again.open { try b2.restore(record: $0) }
        #expect(c.recordCount == 60 && c.notes.isEmpty)
        again.close(now: t0)
    }

    @Test func corruptBodyIsCut() throws {
        let dir = tempDir("crc")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = MessageStore(directory: dir, policy: .interval(millis: 10))
        _ = try store.open { _ in throw StoreError("unexpected record") }
        var b = BrokerState()
        var records: [ByteBuffer] = []
        for i in 0..<2 {
            let a = b.handle(sendV2(topic: "T", body: "message \(i)"), from: clientA, now: t0)
            records += a.persisted
            try persist(a, to: store)
        }
        try store.tick(now: t0 + 20)
        store.close(now: t0)
        let path = dir + "/commitlog.dat"
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        // Flip a byte of the second record's body (just before its topic length byte).
        let second = records[0].readableBytes
        let bodyEnd = second + records[1].readableBytes - 2 - MessageProperties.encode([("CLUSTER", "DefaultCluster")]).utf8.count - 1 - 1 - 1
        data[bodyEnd] ^= 0xFF
        try data.write(to: URL(fileURLWithPath: path))
        var b2 = BrokerState()
        let c = try MessageStore(directory: dir, policy: .always).open { try b2.restore(record: $0) }
        #expect(c.recordCount == 1)
        #expect(c.notes.first?.contains("CRC") == true || c.notes.first?.contains("decode") == true)
    }
}

/// Memory is bounded by configuration: the record cache and retention of the memory-only store, and the records
/// and queue entries read back from the store once they have left memory.
@Suite struct BoundedMemoryTests {
    static let body = String(repeating: "x", count: 20_000)

    /// Segments dropped by a trim are kept (up to `spareLimit`) and taken by the next appends, with the memory
    /// they had; a segment that a copy of the cache still holds is not reused, so the copy reads what it held.
    @Test func trimmedSegmentsAreReusedUnlessACopyHoldsThem() throws {
        var cache = RecordCache()
        cache.segmentBytes = 1024
        cache.spareLimit = 3 * 1024
        func record(_ i: Int) -> ByteBuffer { ByteBuffer(bytes: [UInt8](repeating: UInt8(i & 0xFF), count: 200)) }
        var at: Int64 = 0
        func append(_ range: Range<Int>) { for i in range { cache.append(record(i), at: at); at += 200 } }
        append(0..<25)  // 5 records a segment: 5 segments
        #expect(cache.segments.count == 5 && cache.heldBytes == 5 * 1024)
        // Alone: the dropped segments are kept (three of the four: the limit) and the next appends take them.
        let trimmed = cache.trim(toAtMost: 1024)
        #expect(trimmed && cache.segments.count == 1)
        #expect(cache.spareBytes == 3 * 1024 && cache.spare.count == 3)
        let kept = Set(cache.spare.map { UInt(bitPattern: $0.bytes) })
        append(25..<40)
        #expect(cache.spareBytes == 0 && cache.spare.isEmpty)
        #expect(Set(cache.segments.suffix(3).map { UInt(bitPattern: $0.bytes) }) == kept)
        for i in 20..<40 { #expect(cache.read(physicalOffset: Int64(i * 200), size: 200) == record(i)) }
        // A copy of the state holds the segments: none is kept for reuse, and the copy reads what it held.
        let copy = cache
        let trimmedAgain = cache.trim(toAtMost: 1024)
        #expect(trimmedAgain && cache.spareBytes == 0)
        append(40..<60)
        for i in 20..<40 { #expect(copy.read(physicalOffset: Int64(i * 200), size: 200) == record(i)) }
        for i in 40..<60 { #expect(cache.read(physicalOffset: Int64(i * 200), size: 200) == record(i)) }
        // Spares kept before a copy is made are the copy's too: neither takes them, each writes memory of its own.
        let trimmedOnceMore = cache.trim(toAtMost: 1024)
        #expect(trimmedOnceMore && cache.spareBytes == 3 * 1024)
        var other = cache
        append(60..<75)
        var otherAt = at - 15 * 200
        for i in 100..<115 { other.append(record(i), at: otherAt); otherAt += 200 }
        for i in 60..<75 { #expect(cache.read(physicalOffset: Int64(i * 200), size: 200) == record(i)) }
        for i in 100..<115 { #expect(other.read(physicalOffset: Int64((i - 40) * 200), size: 200) == record(i)) }
        let mine = Set(cache.segments.suffix(3).map { UInt(bitPattern: $0.bytes) })
        #expect(mine.isDisjoint(with: other.segments.suffix(3).map { UInt(bitPattern: $0.bytes) }))
    }

    /// `pretouchBytes` of the cache are allocated and touched at start-up, within the cache's bound, and the first
    /// sends' records go into them.
    @Test func pretouchedSegmentsTakeTheFirstRecords() throws {
        var cfg = BrokerConfiguration()
        cfg.pretouchBytes = 3 << 20
        var b = BrokerState(config: cfg)
        b.pretouchCache()
        #expect(b.cache.spareBytes == 3 << 20 && b.cache.spare.count == 3)
        let first = UInt(bitPattern: b.cache.spare.last!.bytes)
        let a = b.handle(sendV2(topic: "P", body: "first"), from: clientA, now: t0)
        #expect(b.cache.spare.count == 2 && UInt(bitPattern: b.cache.segments[0].bytes) == first)
        let found = b.handle(pullReq(group: "g", topic: "P", offset: 0, flags: [.subscription], subscription: "*"), from: clientA, now: t0).only!
        #expect(found.code == 0 && found.messages.first.map { String(decoding: $0.body.bytes ?? [], as: UTF8.self) } == "first")
        #expect(a.persisted.count == 1)
        // Bounded by the cache: with a cold storage, `recordCacheBytes`.
        cfg.recordCacheBytes = 1 << 20
        var cold = BrokerState(config: cfg)
        cold.coldStorage = MessageStore(directory: tempDir("pretouch"), policy: .always)
        cold.pretouchCache()
        #expect(cold.cache.spareBytes == 1 << 20)
    }

    /// The clock's trims change each queue in place: no value of the table is copied (a consume queue's ring of
    /// entries is up to a megabyte; a loop over `values.indices` copied every ring it changed, each tick).
    @Test func tableValuesAreChangedInPlace() {
        var table: [Int: [Int]] = [:]
        for k in 0..<8 { table[k] = Array(repeating: k, count: 10_000) }
        func storage() -> [Int: UInt] {
            table.mapValues { v in v.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) } }
        }
        let before = storage()
        table.modifyEachValue { $0[0] += 1 }
        #expect(storage() == before)
        #expect(table.values.allSatisfy { $0[0] == $0[1] + 1 })
    }

    @Test func memoryOnlyRetentionDropsTheOldestAndMovesMinOffset() throws {
        var cfg = BrokerConfiguration()
        cfg.memoryRetentionBytes = 2 << 20
        var b = BrokerState(config: cfg)
        for i in 0..<300 { _ = b.handle(sendV2(topic: "T", body: "\(i) " + Self.body), from: clientA, now: t0) }
        #expect(b.queues[QueueKey(topic: "T", queueId: 0)]?.minOffset == 0)
        let tick = b.tick(now: t0 + 1)
        let q = try #require(b.queues[QueueKey(topic: "T", queueId: 0)])
        #expect(q.minOffset > 200 && q.maxOffset == 300, "min \(q.minOffset)")
        #expect(b.droppedByRetention == Int(q.minOffset))
        #expect(b.cache.heldBytes <= 2 << 20)
        #expect(tick.contains { if case .log(let l) = $0 { return l.contains("memory store full") } else { return false } })
        // Pulling what was dropped: OFFSET_TOO_SMALL to the oldest kept, which is there.
        let small = b.handle(pullReq(group: "g", topic: "T", offset: 0, flags: [.subscription], subscription: "*"), from: clientA, now: t0).only!
        #expect(small.code == ResponseCode.pullOffsetMoved && small.remark == "OFFSET_TOO_SMALL" && small.fields["nextBeginOffset"] == String(q.minOffset))
        let found = b.handle(pullReq(group: "g", topic: "T", offset: q.minOffset, flags: [.subscription], subscription: "*"), from: clientA, now: t0).only!
        #expect(found.code == 0 && found.messages.first?.queueOffset == q.minOffset)
        #expect(found.messages.first.map { String(decoding: ($0.body.bytes ?? []).prefix(4), as: UTF8.self) } == "\(q.minOffset) x".prefix(4).description)
        // The log line comes once.
        for i in 0..<100 { _ = b.handle(sendV2(topic: "T", body: "\(i) " + Self.body), from: clientA, now: t0) }
        #expect(!b.tick(now: t0 + 2).contains { if case .log = $0 { return true } else { return false } })
    }

    /// Index entries wait in memory (the files are rebuilt from the commit log at start-up): a send writes only its
    /// record; the entries reach their file on the clock's tick, on a read of that index, or on close.
    @Test func indexEntriesAreWrittenOnTickReadOrClose() throws {
        let dir = tempDir("index")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = MessageStore(directory: dir, policy: .interval(millis: 1000))
        var b = BrokerState()
        b.coldStorage = store
        _ = try store.open { try b.restore(record: $0) }
        let key = QueueKey(topic: "Ix", queueId: 1)
        func indexFileSize() -> Int {
            (try? FileManager.default.attributesOfItem(atPath: dir + "/consumequeue/Ix/1")[.size] as? Int) ?? -1
        }
        func send(_ n: Int) throws {
            for i in 0..<n { try persist(b.handle(sendV2(topic: "Ix", queueId: 1, body: "m\(i)"), from: clientA, now: t0), to: store) }
        }
        try send(3)
        #expect(indexFileSize() == 8)  // the queue's first offset only
        #expect(store.readEntries(key, from: 0, count: 3).map(\.physicalOffset) == b.queues[key]!.hot.prefix(3).map(\.physicalOffset))
        #expect(indexFileSize() == 8 + 3 * QueueEntry.diskSize)
        try send(2)
        #expect(indexFileSize() == 8 + 3 * QueueEntry.diskSize)
        try store.tick(now: t0)
        #expect(indexFileSize() == 8 + 5 * QueueEntry.diskSize)
        try send(1)
        store.close(now: t0)
        #expect(indexFileSize() == 8 + 6 * QueueEntry.diskSize)
    }

    @Test func withAStoreOldRecordsAndEntriesAreReadBack() throws {
        let dir = tempDir("cold")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var cfg = BrokerConfiguration()
        cfg.recordCacheBytes = 1 << 20
        cfg.hotEntriesPerQueue = 8
        let store = MessageStore(directory: dir, policy: .interval(millis: 1000))
        var b = BrokerState(config: cfg)
        b.coldStorage = store
        _ = try store.open { try b.restore(record: $0) }
        var physical: [Int64] = []
        for i in 0..<200 {
            let a = b.handle(sendV2(topic: "T", queueId: Int32(i % 2), body: "\(i) " + Self.body, tags: i % 3 == 0 ? "A" : "B"),
                             from: clientA, now: t0 + Int64(i))
            physical.append(MessageId.decode(a.only!.fields["msgId"]!)!.physicalOffset)
            try persist(a, to: store)
        }
        _ = b.tick(now: t0 + 1000)
        let q0 = try #require(b.queues[QueueKey(topic: "T", queueId: 0)])
        #expect(q0.hot.count == 8 && q0.minOffset == 0 && q0.maxOffset == 100)
        #expect(b.cache.heldBytes <= 1 << 20 && !b.cache.holds(physical[0]))
        func pull(_ queue: Int32, from offset: Int64, tags: String = "*") -> RemotingCommand {
            b.handle(pullReq(group: "g", topic: "T", queueId: queue, offset: offset, flags: [.subscription], subscription: tags), from: clientA, now: t0).only!
        }
        // Every message of both queues, in order, read back in pulls that cross from the files into memory.
        for queue: Int32 in [0, 1] {
            var offset: Int64 = 0
            var seen: [Int] = []
            while offset < 100 {
                let r = pull(queue, from: offset)
                #expect(r.code == 0, "queue \(queue) offset \(offset): \(r.remark ?? "")")
                guard r.code == 0 else { break }
                for (i, m) in r.messages.enumerated() {
                    #expect(m.queueOffset == offset + Int64(i))
                    seen.append(Int(String(decoding: (m.body.bytes ?? []).prefix { $0 != 0x20 }, as: UTF8.self))!)
                }
                offset = Int64(r.fields["nextBeginOffset"]!)!
            }
            #expect(seen == Array(stride(from: Int(queue), to: 200, by: 2)))
        }
        // The tag filter works on entries read back.
        let a = pull(0, from: 0, tags: "A")
        #expect(a.messages.allSatisfy { $0.tags == "A" } && a.messages.first?.queueOffset == 0 && a.messages.count > 1)
        // Search by time over entries on disk and in memory; send-back of a message only on disk.
        let search = b.handle(req(RequestCode.searchOffsetByTimestamp, ["topic": "T", "queueId": "1", "timestamp": String(t0 + 51)]), from: clientA, now: t0).only!
        #expect(search.fields["offset"] == "25")
        let backActions = b.handle(req(RequestCode.consumerSendMsgBack, ["offset": String(physical[0]), "group": "g", "delayLevel": "0", "originMsgId": "x",
                                                                         "originTopic": "T", "unitMode": "false", "maxReconsumeTimes": "16"]), from: clientA, now: t0)
        try persist(backActions, to: store)
        #expect(backActions.only?.code == 0, "\(backActions.only?.remark ?? "")")
        #expect(backActions.persisted.first.flatMap { StoredMessageDecoder.decodeAll($0).messages.first?.storedBody.prefix(2) } == Array("0 ".utf8)[...])
        // A position that is not a record's start is refused, not decoded as one.
        let bad = b.handle(req(RequestCode.consumerSendMsgBack, ["offset": String(physical[0] + 8), "group": "g", "delayLevel": "0", "originMsgId": "x",
                                                                 "originTopic": "T", "unitMode": "false", "maxReconsumeTimes": "16"]), from: clientA, now: t0).only!
        #expect(bad.code == ResponseCode.systemError)
        store.close(now: t0)

        // After a restart: the same messages, the index files rebuilt, memory bounded during the restore.
        let again = MessageStore(directory: dir, policy: .always)
        var b2 = BrokerState(config: cfg)
        b2.coldStorage = again
        let c = try again.open { try b2.restore(record: $0) }
        #expect(c.recordCount == 201 && c.notes.isEmpty)
        #expect((b2.queues[QueueKey(topic: "T", queueId: 0)]?.hot.count ?? 0) < 16)
        let r = b2.handle(pullReq(group: "g", topic: "T", queueId: 1, offset: 0, flags: [.subscription], subscription: "*"), from: clientA, now: t0).only!
        #expect(r.code == 0 && r.messages.first?.queueOffset == 0 && r.messages.first?.physicalOffset == physical[1])
        again.close(now: t0)
    }
}
