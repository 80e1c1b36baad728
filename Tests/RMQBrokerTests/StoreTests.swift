import Foundation
import NIOCore
@testable import RMQBroker
import RocketMQRemoting
import Testing

func tempDir(_ name: String) -> String {
    let d = NSTemporaryDirectory() + "rmq-broker-test-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try? FileManager.default.removeItem(atPath: d)
    return d
}

@Suite struct StoreTests {
    /// Messages and offsets written through a state, read back into a new state.
    @Test func restartRestoresMessagesOffsetsAndTopics() throws {
        let dir = tempDir("restart")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = MessageStore(directory: dir, policy: .always)
        _ = try store.open()
        var b = BrokerState()
        _ = b.handle(createTopic("Kept", queues: 2), from: clientA, now: t0)
        var records: [ByteBuffer] = []
        for i in 0..<5 {
            let a = b.handle(sendV2(topic: "Kept", queueId: Int32(i % 2), body: "m\(i)", tags: "T"), from: clientA, now: t0 + Int64(i))
            records += a.persisted
        }
        try store.append(records, now: t0)
        b.commit(group: "g", topic: "Kept", queueId: 1, offset: 2)
        try store.writeOffsets(b.offsets, schedule: [3: 7])
        try store.writeTopics(Array(b.topics.values))
        store.close(now: t0)

        let again = MessageStore(directory: dir, policy: .always)
        let c = try again.open()
        #expect(c.notes.isEmpty)
        #expect(c.records.count == 5)
        var b2 = BrokerState()
        for r in c.records { try b2.restore(record: r) }
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
        _ = try store.open()
        var b = BrokerState()
        var records: [ByteBuffer] = []
        for i in 0..<3 { records += b.handle(sendV2(topic: "T", body: "message \(i)"), from: clientA, now: t0).persisted }
        try store.append(records, now: t0)
        store.close(now: t0)
        // Chop `cut` bytes off the last record, as a crash in the middle of a write leaves it.
        let path = dir + "/commitlog.dat"
        let full = try Data(contentsOf: URL(fileURLWithPath: path))
        try full.prefix(full.count - cut).write(to: URL(fileURLWithPath: path))
        let again = MessageStore(directory: dir, policy: .always)
        let c = try again.open()
        #expect(c.records.count == 2)
        #expect(c.notes.count == 1 && c.notes[0].contains("torn or corrupt tail"))
        let kept = records[0].readableBytes + records[1].readableBytes
        #expect(again.size == Int64(kept))
        again.close(now: t0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)).count == kept)
    }

    @Test func corruptBodyIsCut() throws {
        let dir = tempDir("crc")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = MessageStore(directory: dir, policy: .interval(millis: 10))
        _ = try store.open()
        var b = BrokerState()
        var records: [ByteBuffer] = []
        for i in 0..<2 { records += b.handle(sendV2(topic: "T", body: "message \(i)"), from: clientA, now: t0).persisted }
        try store.append(records, now: t0)
        try store.tick(now: t0 + 20)
        store.close(now: t0)
        let path = dir + "/commitlog.dat"
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        // Flip a byte of the second record's body (just before its topic length byte).
        let second = records[0].readableBytes
        let bodyEnd = second + records[1].readableBytes - 2 - MessageProperties.encode([("CLUSTER", "DefaultCluster")]).utf8.count - 1 - 1 - 1
        data[bodyEnd] ^= 0xFF
        try data.write(to: URL(fileURLWithPath: path))
        let c = try MessageStore(directory: dir, policy: .always).open()
        #expect(c.records.count == 1)
        #expect(c.notes.first?.contains("CRC") == true || c.notes.first?.contains("decode") == true)
    }
}
