import Dispatch
import Foundation
import NIOCore
import RMQConsumer
#if canImport(Glibc)
import Glibc
#endif

/// The consume pool (Java's `consumeExecutor`): `threads` threads take delivered batches from one queue, in
/// the order they were submitted, and their outcomes go back to the consumer's event loop.
///
/// Built for many small batches (one message each by default): idle threads sleep on a condition variable
/// (a pthread mutex, which does not spin, so twenty idle threads on a two-core machine cost nothing), and the
/// outcomes that finish while the loop has not yet taken the previous ones are handed over together, in one
/// task on the loop, instead of one task (and one wake-up of the loop) per batch; `onOutcomesTaken` runs after
/// each such group, so the owner can feed the group to its state machine at once.
///
/// Deliveries (a batch of messages for the listener) are queued and answered as values: the pool runs its one
/// `listener` on them and hands `(delivery, status)` back to `onDelivered`. A job made of closures (`job`,
/// `submit(_:completion:)`) cost four closure contexts per batch, each allocated, reference-counted and freed,
/// a tenth of the consumer's CPU with one message per batch.
///
/// Wake-ups: at most one thread is being woken at a time. A submit wakes a sleeping thread only when no
/// wake-up is on its way, and a thread that takes a job with more jobs behind it wakes the next (the same
/// rule). A burst of fast jobs (a pull's 32 messages, a no-op listener) is then run by the one or two threads
/// that are up by the time the first wake-up lands, instead of waking a thread per job; slow jobs still get
/// every thread, one wake-up after the other, and a job that blocks never holds up the ones behind it, since
/// the thread that took it woke another first.
///
/// With `threads` 0 there are no threads: the jobs run on the loop itself, in one loop task for all that were
/// submitted meanwhile, right after the run of actions that submitted them. For listeners that never block
/// (a blocked listener would stall the loop: heartbeats, pulls, commits); it saves the two thread hand-overs of
/// each pull's messages (a futex wake-up each way, a context switch on a two-core machine).
final class ConsumePool: @unchecked Sendable {
    private let loop: any EventLoop
    private var mutex = pthread_mutex_t()
    private var work = pthread_cond_t()
    /// A delivered batch and when it was handed to the pool (nanoseconds, `CaptureTime`).
    struct Delivery: @unchecked Sendable {
        var messages: [DeliveredMessage]
        var started: Int64
    }
    private enum Work {
        case closure(Job)
        case delivery(Delivery)
    }
    private enum Outcome {
        case closure(() -> Void)
        case delivery(Delivery, ConsumeStatus)
    }
    /// What runs on the deliveries.
    private let listener: ConsumeListener?
    /// Submitted work; `head` is the next to run (the array is compacted when half of it has run).
    private var jobs: [Work] = []
    private var head = 0
    private var stopping = false
    /// Threads asleep on `work`, and whether one of them has been signalled and is not up yet.
    private var sleeping = 0
    private var wakeupComing = false
    /// Outcomes waiting for the loop, and whether a loop task to take them is already on its way.
    private var outcomes: [Outcome] = []
    private var handOverScheduled = false
    /// No threads: jobs run on the loop (`threads` 0); whether a loop task to run them is on its way.
    private let inline: Bool
    private var inlineRunScheduled = false
    /// Runs on the loop after each group of outcomes (set it before the first submit, on the loop).
    var onOutcomesTaken: (() -> Void)?
    /// Runs on the loop with the deliveries' outcomes, in order, before `onOutcomesTaken` (and before any
    /// closure outcome that came after them).
    var onDelivered: (([(Delivery, ConsumeStatus)]) -> Void)?
    private let exited = DispatchGroup()

    init(threads: Int, loop: any EventLoop, listener: ConsumeListener? = nil) {
        self.loop = loop
        self.listener = listener
        inline = threads == 0
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&work, nil)
        for i in 0..<max(0, threads) {
            exited.enter()
            let t = Thread { [self] in
                run()
                exited.leave()
            }
            t.name = "consume-\(i)"
            t.start()
        }
    }

    deinit {
        pthread_cond_destroy(&work)
        pthread_mutex_destroy(&mutex)
    }

    /// Runs `body` on a pool thread, then `completion` with its result on the loop. After `shutdown()` nothing
    /// runs and false is returned.
    @discardableResult
    func submit<T>(_ body: @escaping @Sendable () -> T, completion: @escaping (T) -> Void) -> Bool {
        submit([job(body, completion: completion)])
    }

    /// A job for `submit(_:)`: `body` on a pool thread, then `completion` with its result on the loop.
    typealias Job = @Sendable () -> Void
    func job<T>(_ body: @escaping @Sendable () -> T, completion: @escaping (T) -> Void) -> Job {
        let completion = UnsafeTransfer(completion)
        return { [self] in
            let result = UnsafeTransfer(body())
            handOver(.closure { completion.value(result.value) })
        }
    }

    /// Queues `jobs` in order under one lock with at most one wake-up (a pull's 32 deliveries cost one lock
    /// and one signal, not 32 of each, each contended by the threads already taking jobs).
    @discardableResult
    func submit(_ jobs: [Job]) -> Bool {
        guard !jobs.isEmpty else { return true }
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        guard !stopping else { return false }
        for j in jobs { self.jobs.append(.closure(j)) }
        wakeOneIfNoneComing()
        return true
    }

    /// Inline: every job queued so far, in order, on the loop.
    private func runInline() {
        pthread_mutex_lock(&mutex)
        let taken = jobs[head...]
        jobs.removeAll(keepingCapacity: true)
        head = 0
        inlineRunScheduled = false
        let stopped = stopping
        pthread_mutex_unlock(&mutex)
        guard !stopped else { return }
        for work in taken { perform(work) }
    }

    private func perform(_ work: Work) {
        switch work {
        case .closure(let job):
            job()
        case .delivery(let d):
            handOver(.delivery(d, listener!(d.messages)))
        }
    }

    /// Queues deliveries for `listener` (given at init), in order, as `submit(_:)` queues jobs.
    @discardableResult
    func submit(deliveries: [Delivery]) -> Bool {
        guard !deliveries.isEmpty else { return true }
        precondition(listener != nil, "a pool without a listener takes no deliveries")
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        guard !stopping else { return false }
        for d in deliveries { jobs.append(.delivery(d)) }
        wakeOneIfNoneComing()
        return true
    }

    /// Under the mutex: signals one sleeping thread unless a wake-up is already on its way; without threads,
    /// schedules the loop task that runs the queued jobs unless one is on its way.
    private func wakeOneIfNoneComing() {
        if inline {
            if !inlineRunScheduled {
                inlineRunScheduled = true
                loop.execute { [self] in runInline() }
            }
            return
        }
        if !wakeupComing && sleeping > 0 {
            wakeupComing = true
            pthread_cond_signal(&work)
        }
    }

    /// Stops the threads once the jobs already taken have run; jobs not yet taken are dropped (as a stopped
    /// executor's queue). Returns when every thread has exited.
    func shutdown() async {
        pthread_mutex_lock(&mutex)
        stopping = true
        jobs.removeAll()
        head = 0
        pthread_cond_broadcast(&work)
        pthread_mutex_unlock(&mutex)
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            exited.notify(queue: .global()) { c.resume() }
        }
    }

    private func run() {
        while true {
            pthread_mutex_lock(&mutex)
            while head == jobs.count && !stopping {
                sleeping += 1
                pthread_cond_wait(&work, &mutex)
                sleeping -= 1
                wakeupComing = false
            }
            if stopping {
                pthread_mutex_unlock(&mutex)
                return
            }
            let work = jobs[head]
            head += 1
            if head == jobs.count {
                jobs.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 1024 && head * 2 >= jobs.count {
                jobs.removeFirst(head)
                head = 0
            }
            // More jobs behind this one: the next thread is woken before this job runs (it may block).
            if head < jobs.count { wakeOneIfNoneComing() }
            pthread_mutex_unlock(&mutex)
            perform(work)
        }
    }

    /// Queues an outcome for the loop; the first one of a group schedules the task that runs them all.
    private func handOver(_ outcome: Outcome) {
        pthread_mutex_lock(&mutex)
        outcomes.append(outcome)
        let schedule = !handOverScheduled
        handOverScheduled = true
        pthread_mutex_unlock(&mutex)
        if schedule { loop.execute { [self] in takeOutcomes() } }
    }

    private func takeOutcomes() {
        pthread_mutex_lock(&mutex)
        let taken = outcomes
        outcomes = []
        handOverScheduled = false
        pthread_mutex_unlock(&mutex)
        var delivered: [(Delivery, ConsumeStatus)] = []
        for o in taken {
            switch o {
            case .delivery(let d, let status):
                delivered.append((d, status))
            case .closure(let c):
                if !delivered.isEmpty {
                    onDelivered?(delivered)
                    delivered.removeAll()
                }
                c()
            }
        }
        if !delivered.isEmpty { onDelivered?(delivered) }
        onOutcomesTaken?()
    }
}

/// Carries a value across a `@Sendable` boundary where the pool's own locking makes the hand-over safe: the
/// completion is created and run on the loop, the result made on one thread and read on the loop after it.
struct UnsafeTransfer<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
