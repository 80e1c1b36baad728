import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RMQConsumer
@testable import RMQLiveConsumer
import RocketMQRemoting
import Testing

// The consume pool's wake-up rule: one wake-up on its way at a time, and a thread that takes a job with more
// behind it wakes the next before running it. These tests pin what that rule must never cost: a job that blocks
// holds up no other job, slow jobs still run on many threads at once, and every outcome reaches the loop, in
// groups followed by `onOutcomesTaken`.
@Suite struct ConsumePoolTests {
    static let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    /// Waits (polling, up to 10 s) until `condition` holds.
    func eventually(_ condition: () -> Bool) async -> Bool {
        for _ in 0..<1000 {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return condition()
    }

    @Test func aBlockedJobHoldsUpNoOtherJob() async throws {
        let loop = Self.group.next()
        let pool = ConsumePool(threads: 4, loop: loop)
        let release = DispatchSemaphore(value: 0)
        let done = NIOLockedValueBox<[Int]>([])
        // A burst: the first job blocks until told; the 31 behind it must all run meanwhile.
        pool.submit({ release.wait(); return 0 }) { v in done.withLockedValue { $0.append(v) } }
        for i in 1...31 { pool.submit({ i }) { v in done.withLockedValue { $0.append(v) } } }
        #expect(await eventually { done.withLockedValue { $0.count } == 31 })
        #expect(done.withLockedValue { Set($0) } == Set(1...31))
        release.signal()
        #expect(await eventually { done.withLockedValue { $0.count } == 32 })
        await pool.shutdown()
    }

    @Test func slowJobsRunOnManyThreadsAtOnce() async throws {
        let loop = Self.group.next()
        let pool = ConsumePool(threads: 8, loop: loop)
        let running = NIOLockedValueBox((now: 0, most: 0))
        let finished = NIOLockedValueBox(0)
        for _ in 0..<16 {
            pool.submit({
                running.withLockedValue { $0.now += 1; $0.most = max($0.most, $0.now) }
                Thread.sleep(forTimeInterval: 0.05)
                running.withLockedValue { $0.now -= 1 }
            }) { finished.withLockedValue { $0 += 1 } }
        }
        #expect(await eventually { finished.withLockedValue { $0 } == 16 })
        // 16 jobs of 50 ms on 8 threads: all 8 were up together at some point.
        #expect(running.withLockedValue { $0.most } == 8)
        await pool.shutdown()
    }

    /// A list submitted at once (a pull's deliveries: one lock, one wake-up) still fans out to every thread, and
    /// a job of it that blocks holds up none of the others.
    @Test func aListSubmittedAtOnceFansOutToEveryThread() async throws {
        let loop = Self.group.next()
        let pool = ConsumePool(threads: 8, loop: loop)
        let release = DispatchSemaphore(value: 0)
        let running = NIOLockedValueBox((now: 0, most: 0))
        let finished = NIOLockedValueBox<[Int]>([])
        var jobs: [ConsumePool.Job] = [pool.job({ release.wait(); return 0 }) { v in finished.withLockedValue { $0.append(v) } }]
        for i in 1...16 {
            jobs.append(pool.job({
                running.withLockedValue { $0.now += 1; $0.most = max($0.most, $0.now) }
                Thread.sleep(forTimeInterval: 0.05)
                running.withLockedValue { $0.now -= 1 }
                return i
            }) { v in finished.withLockedValue { $0.append(v) } })
        }
        #expect(pool.submit(jobs))
        #expect(await eventually { finished.withLockedValue { $0.count } == 16 })
        #expect(finished.withLockedValue { Set($0) } == Set(1...16))
        // One thread is blocked; the other 7 ran the 16 slow jobs together.
        #expect(running.withLockedValue { $0.most } == 7)
        release.signal()
        #expect(await eventually { finished.withLockedValue { $0.count } == 17 })
        await pool.shutdown()
        #expect(!pool.submit([pool.job({ 1 }) { _ in }]))
    }

    @Test func outcomesReachTheLoopInGroupsFollowedByTheHook() async throws {
        let loop = Self.group.next()
        let pool = ConsumePool(threads: 3, loop: loop)
        // State of the loop, touched only on it.
        final class Seen: @unchecked Sendable { var outcomes = 0; var hooks = 0; var outcomesAtLastHook = 0 }
        let seen = Seen()
        try await loop.submit {
            pool.onOutcomesTaken = {
                loop.preconditionInEventLoop()
                seen.hooks += 1
                seen.outcomesAtLastHook = seen.outcomes
            }
        }.get()
        for i in 0..<500 {
            pool.submit({ i }) { _ in
                loop.preconditionInEventLoop()
                seen.outcomes += 1
            }
        }
        #expect(await eventually { (try? loop.submit { seen.outcomesAtLastHook }.wait()) == 500 })
        let (outcomes, hooks) = try await loop.submit { (seen.outcomes, seen.hooks) }.get()
        #expect(outcomes == 500)
        #expect(hooks >= 1 && hooks <= 500)
        await pool.shutdown()
    }

    /// Messages of queue 0 at the given offsets, as the state machine delivers them.
    static func messages(_ offsets: [Int64]) -> [DeliveredMessage] {
        let q = MessageQueue(topic: "T", brokerName: "broker-a", queueId: 0)
        var body = ByteBuffer()
        for o in offsets {
            StoredMessageDecoder.encode(queueId: 0, queueOffset: o, physicalOffset: 1000 + o, bornTimestamp: 1, bornHost: MessageHost(address: [10, 0, 0, 20], port: 50000),
                                        storeTimestamp: 2, storeHost: MessageHost(address: [10, 0, 0, 2], port: 10911), body: Array("m\(o)".utf8), topic: "T",
                                        propertiesText: MessageProperties.encode([(key: "TAGS", value: "A")]), into: &body)
        }
        return StoredMessageDecoder.decodeAll(body).messages.map {
            DeliveredMessage(queue: q, queueOffset: $0.queueOffset, topic: "T", tags: $0.tags, reconsumeTimes: 0, message: $0)
        }
    }

    /// Deliveries are values: the pool's listener runs on each, and the outcomes come back to `onDelivered` in
    /// submission order, before a closure job's completion submitted after them and before `onOutcomesTaken`.
    /// One thread, and none (threads 0: the listener runs on the loop itself, for listeners that never block).
    @Test(arguments: [1, 0]) func deliveriesRunTheListenerAndComeBackInOrder(threads: Int) async throws {
        let loop = Self.group.next()
        let seen = NIOLockedValueBox<[Int64]>([])
        let onLoop = NIOLockedValueBox<[Bool]>([])
        // Odd offsets fail, even ones succeed; a single thread keeps the run order the submission order.
        let pool = ConsumePool(threads: threads, loop: loop) { batch in
            onLoop.withLockedValue { $0.append(loop.inEventLoop) }
            seen.withLockedValue { $0 += batch.map(\.queueOffset) }
            return batch[0].queueOffset % 2 == 0 ? .success : .reconsumeLater
        }
        final class Log: @unchecked Sendable { var lines: [String] = [] }
        let log = Log()
        try await loop.submit {
            pool.onDelivered = { outcomes in
                for (d, status) in outcomes { log.lines.append("\(d.messages.map(\.queueOffset)) \(status == .success ? "ok" : "later")") }
            }
            pool.onOutcomesTaken = { log.lines.append("group") }
        }.get()
        let all = Self.messages([0, 1, 2, 3])
        try await loop.submit {
            #expect(pool.submit(deliveries: [ConsumePool.Delivery(messages: [all[0]], started: 0), ConsumePool.Delivery(messages: [all[1]], started: 0)]))
            pool.submit({ 7 }) { v in log.lines.append("closure \(v)") }
            #expect(pool.submit(deliveries: [ConsumePool.Delivery(messages: Array(all[2...]), started: 0)]))
        }.get()
        #expect(await eventually { (try? loop.submit { log.lines.filter { $0 != "group" }.count }.wait()) == 4 })
        let lines = try await loop.submit { log.lines.filter { $0 != "group" } }.get()
        #expect(lines == ["[0] ok", "[1] later", "closure 7", "[2, 3] ok"])
        #expect(seen.withLockedValue { $0 } == [0, 1, 2, 3])
        #expect(onLoop.withLockedValue { $0 } == Array(repeating: threads == 0, count: 3))
        #expect(try await loop.submit { log.lines.last }.get() == "group")
        await pool.shutdown()
        #expect(!pool.submit(deliveries: [ConsumePool.Delivery(messages: [all[0]], started: 0)]))
    }
}
