import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RMQConsumer
import RMQTraceModel
import RocketMQRemoting
import RocketMQRemotingNIO
#if canImport(Glibc)
import Glibc
#endif

/// What the consume pool runs on each delivered batch (`consumeMessageBatchMaxSize` messages, 1 by default).
/// Called on one of the pool's threads; many batches run at once.
public typealias ConsumeListener = @Sendable ([DeliveredMessage]) -> ConsumeStatus

/// What the driver tells its owner besides the frames (those go to the observer).
public enum LiveConsumerEvent: Sendable {
    /// The state machine's `.log`.
    case log(String)
    /// The state machine's `.report`: something it could not do, or an answer worth attention.
    case problem(Problem)
    /// Something the driver itself could not do (a connection that did not open, a write that failed).
    case driver(String)
}

public struct LiveConsumerOptions: Sendable {
    /// Consume pool threads (Java `consumeThreadMin`/`Max`: 20); 0: the listener runs on the consumer's event loop,
    /// for listeners that never block.
    public var threads: Int = 20
    /// Every connection's frames, opening and closing (a `LiveTraceLog`, a `PcapFileRecorder`, a `FanOutObserver`).
    public var observer: (any FrameObserver)?
    /// Numbers connections; share one between consumers that log to one observer.
    public var counter = ConnectionCounter()
    public var connectTimeout: TimeAmount = .seconds(3)
    public var maxFrameLength = RemotingFrame.defaultMaxFrameLength
    public var onEvent: @Sendable (LiveConsumerEvent) -> Void = { _ in }
    /// Broadcasting mode: the state machine's `.persistLocalOffsets` (write them to the offset file).
    public var onPersistLocalOffsets: @Sendable ([MessageQueue: Int64]) -> Void = { _ in }

    public init() {}
}

public enum LiveConsumerError: Error, CustomStringConvertible, Sendable {
    /// No name server answered the route request of the topic at start.
    case nameServerUnreachable([String])
    case alreadyStarted

    public var description: String {
        switch self {
        case .nameServerUnreachable(let why): return "cannot reach the name server: " + why.joined(separator: "; ")
        case .alreadyStarted: return "the consumer was already started"
        }
    }
}

/// What the driver counted: consumption outcomes per queue.
public struct LiveConsumerStatistics: Sendable, Hashable {
    /// Messages the listener returned CONSUME_SUCCESS for, per queue.
    public var consumed: [MessageQueue: Int] = [:]
    /// Messages the listener returned RECONSUME_LATER for (or threw), per queue.
    public var failed: [MessageQueue: Int] = [:]
    /// Sum of the listener's time, ms.
    public var listenerMillis: Int64 = 0
    public var deliveredBatches = 0
    public init() {}
    public var consumedTotal: Int { consumed.values.reduce(0, +) }
    public var failedTotal: Int { failed.values.reduce(0, +) }
}

/// A push consumer on real sockets: `PushConsumerStateMachine` decides, this carries out its actions. All
/// state-machine access happens on one event loop (the one every connection of this consumer lives on); the
/// listener runs on a pool of `threads` threads and its outcome comes back to that loop as `consumed(...)`.
///
/// Connections are opened lazily, one per address, when the machine first sends there; requests are
/// written in the order the machine asked for them, each with the machine's timeout; broker requests
/// (NOTIFY_CONSUMER_IDS_CHANGED, GET_CONSUMER_RUNNING_INFO, …) go in with `receivedRequest`, and a
/// connection that closes with `connectionClosed`.
public final class LiveConsumer: Sendable {
    public let loop: any EventLoop
    let core: Core
    public let clientID: String

    /// - Parameter group: the event loop group; the consumer takes one loop of it for itself.
    public init(configuration: ConsumerConfiguration, options: LiveConsumerOptions = LiveConsumerOptions(),
                group: any EventLoopGroup, listener: @escaping ConsumeListener) {
        loop = group.next()
        core = Core(loop: loop, machine: PushConsumerStateMachine(configuration: configuration), options: options, listener: listener)
        clientID = core.clientID
    }

    /// Starts the consumer and waits until it runs (routes asked, heartbeats answered, first rebalance begun).
    /// Throws `nameServerUnreachable` when no name server answers the topic's route request; the consumer is
    /// then shut down (call `shutdown()` to wait for it).
    public func start() async throws {
        let core = self.core
        let promise = loop.makePromise(of: Void.self)
        loop.execute { core.start(promise) }
        try await promise.futureResult.get()
    }

    /// The shutdown of Ctrl-C, `--duration` and `--max-messages`: no more pulls, in-flight messages finished
    /// (or, after `shutdownAwaitConsumption`, left uncommitted), every offset persisted, UNREGISTER_CLIENT at
    /// every broker, connections closed. Returns what could not be done. Safe to call more than once.
    @discardableResult
    public func shutdown() async -> ShutdownReport {
        let core = self.core
        loop.execute { core.shutdown() }
        let report = (try? await core.finished.futureResult.get()) ?? ShutdownReport()
        await core.waitClosed()
        return report
    }

    /// Completes when the consumer finished (after `shutdown()`).
    public var finished: EventLoopFuture<ShutdownReport> { core.finished.futureResult }

    public var statistics: LiveConsumerStatistics {
        get async { try! await loop.submit { [core] in core.stats }.get() }
    }

    /// Reads the state machine on its loop (tests, summaries).
    public func withMachine<T: Sendable>(_ body: @escaping @Sendable (PushConsumerStateMachine) -> T) async -> T {
        try! await loop.submit { [core] in body(core.machine) }.get()
    }
}

/// Everything mutable, touched only on `loop`.
final class Core: @unchecked Sendable {
    let loop: any EventLoop
    var machine: PushConsumerStateMachine
    let options: LiveConsumerOptions
    let listener: ConsumeListener
    let pool: ConsumePool
    let clientID: String
    let finished: EventLoopPromise<ShutdownReport>

    enum Outgoing {
        case request(RemotingCommand, RequestID, Duration)
        case oneway(RemotingCommand)
        case respond(RemotingCommand)
    }
    enum Connection {
        case connecting([Outgoing])
        case ready(RemotingClient)
    }
    var connections: [Address: Connection] = [:]
    var closeFutures: [EventLoopFuture<Void>] = []
    var timers: [UInt64: Scheduled<Void>] = [:]
    var nextTimer: UInt64 = 0
    var startPromise: EventLoopPromise<Void>?
    var startFailures: [String] = []
    var done = false
    var stats = LiveConsumerStatistics()
    var poolStopped = false

    init(loop: any EventLoop, machine: PushConsumerStateMachine, options: LiveConsumerOptions, listener: @escaping ConsumeListener) {
        self.loop = loop
        self.machine = machine
        self.options = options
        self.listener = listener
        self.clientID = machine.clientID
        pool = ConsumePool(threads: options.threads, loop: loop, listener: listener)
        finished = loop.makePromise(of: ShutdownReport.self)
        pool.onOutcomesTaken = { [weak self] in self?.feedConsumed() }
        pool.onDelivered = { [weak self] outcomes in self?.delivered(outcomes) }
    }

    static func now() -> Timestamp { Timestamp(millisecondsSinceEpoch: CaptureTime.now().nanoseconds / 1_000_000) }

    /// Feeds one input to the machine and carries out its actions.
    func handle(_ input: (inout PushConsumerStateMachine, Timestamp) -> [ConsumerAction]) {
        loop.preconditionInEventLoop()
        let actions = input(&machine, Self.now())
        execute(actions)
        checkStarted()
    }

    func start(_ promise: EventLoopPromise<Void>) {
        guard machine.phase == .idle else { promise.fail(LiveConsumerError.alreadyStarted); return }
        startPromise = promise
        handle { m, now in m.start(now: now) }
    }

    func shutdown() {
        if let p = startPromise {
            startPromise = nil
            p.fail(LiveConsumerError.nameServerUnreachable(startFailures.isEmpty ? ["shut down while starting"] : startFailures))
        }
        handle { m, now in m.shutdown(now: now) }
    }

    private func checkStarted() {
        guard let p = startPromise else { return }
        switch machine.phase {
        case .running:
            startPromise = nil
            p.succeed(())
        case .finished, .drainingConsumption, .unregistering:
            startPromise = nil
            p.fail(LiveConsumerError.nameServerUnreachable(startFailures))
        default:
            break
        }
    }

    // MARK: - Actions

    func execute(_ actions: [ConsumerAction]) {
        // Deliveries go to the pool together, once the run of actions that made them is done (or before an
        // action that must come after them).
        var jobs: [ConsumePool.Delivery] = []
        defer { submitJobs(&jobs) }
        for a in actions {
            switch a {
            case .deliver, .send, .sendOneway, .respond, .schedule, .log: break
            default: submitJobs(&jobs)
            }
            switch a {
            case .send(let to, let command, let id, let timeout):
                send(.request(command, id, timeout), to: to)
            case .sendOneway(let to, let command):
                send(.oneway(command), to: to)
            case .respond(let to, let command):
                send(.respond(command), to: to)
            case .schedule(let timer, let after):
                schedule(timer, after: after)
            case .deliver(_, let messages):
                if let d = delivery(messages) { jobs.append(d) }
            case .consumeDirectly(let id, let message):
                consumeDirectly(id, message)
            case .persistLocalOffsets(let offsets):
                options.onPersistLocalOffsets(offsets)
            case .log(let line):
                options.onEvent(.log(line))
            case .report(let problem):
                noteStartupProblem(problem)
                options.onEvent(.problem(problem))
            case .closeConnections:
                closeAll()
            case .finished(let report):
                finish(report)
            }
        }
    }

    /// A name server that fails the topic's route request at start: when every one has, the consumer cannot go
    /// on (it has no broker to talk to).
    private func noteStartupProblem(_ p: Problem) {
        guard startPromise != nil, case .nameServerFailed(let a, let topic, let reason) = p, topic == machine.configuration.topic else { return }
        startFailures.append("\(a): \(reason)")
        if startFailures.count >= machine.configuration.nameServers.count {
            let p = startPromise!
            startPromise = nil
            p.fail(LiveConsumerError.nameServerUnreachable(startFailures))
        }
    }

    private func schedule(_ timer: RMQConsumer.Timer, after: Duration) {
        guard !done else { return }
        let key = nextTimer
        nextTimer += 1
        let task = loop.scheduleTask(in: .nanoseconds(after.nanosecondsClamped)) { [self] in
            timers[key] = nil
            guard !done else { return }
            handle { m, now in m.tick(timer, now: now) }
        }
        timers[key] = task
    }

    private func submitJobs(_ jobs: inout [ConsumePool.Delivery]) {
        guard !jobs.isEmpty else { return }
        pool.submit(deliveries: jobs)
        jobs.removeAll()
    }

    /// A delivered batch for the pool (its listener runs on it; the outcome comes back to `delivered`).
    private func delivery(_ messages: [DeliveredMessage]) -> ConsumePool.Delivery? {
        stats.deliveredBatches += 1
        guard !poolStopped else { return nil }
        return ConsumePool.Delivery(messages: messages, started: CaptureTime.now().nanoseconds)
    }

    /// The outcomes of delivered batches (on the loop, in order): counted, and queued for the machine.
    private func delivered(_ outcomes: [(ConsumePool.Delivery, ConsumeStatus)]) {
        let now = CaptureTime.now().nanoseconds
        // The counts per queue: one table update per run of messages of one queue and status, across deliveries
        // (with Java's default batch of one message, a delivery per message: the table's hashing of the queue's
        // topic and broker name was paid for every message).
        var run: (queue: MessageQueue, success: Bool, count: Int)? = nil
        func count() {
            guard let r = run else { return }
            if r.success { stats.consumed[r.queue, default: 0] += r.count } else { stats.failed[r.queue, default: 0] += r.count }
        }
        for (d, status) in outcomes {
            stats.listenerMillis += (now - d.started) / 1_000_000
            let success = status == .success
            for m in d.messages {
                let q = m.queue
                if let r = run, r.success == success, r.queue == q {
                    run!.count += 1
                } else {
                    count()
                    run = (q, success, 1)
                }
            }
            // Fed to the machine with the rest of the pool's group (`feedConsumed`), in order.
            if let last = consumedOutcomes.last, last.status == status {
                consumedOutcomes[consumedOutcomes.count - 1].messages += d.messages
            } else {
                consumedOutcomes.append((d.messages, status))
            }
        }
        count()
    }

    /// Outcomes of the pool's current group, consecutive ones of one status merged: one `consumed` input per
    /// run of equal outcomes instead of one per batch (the machine treats a merged list as the batches in turn).
    private var consumedOutcomes: [(messages: [DeliveredMessage], status: ConsumeStatus)] = []

    /// Feeds the pool's latest group of outcomes to the machine (on the loop, after the group ran).
    func feedConsumed() {
        guard !consumedOutcomes.isEmpty else { return }
        let outcomes = consumedOutcomes
        consumedOutcomes = []
        for o in outcomes {
            handle { m, now in m.consumed(o.messages, status: o.status, now: now) }
        }
    }

    private func consumeDirectly(_ id: DirectConsumeID, _ message: DeliveredMessage) {
        let listener = self.listener
        let started = CaptureTime.now().nanoseconds
        pool.submit({ listener([message]) }) { [self] status in
            let spent = (CaptureTime.now().nanoseconds - started) / 1_000_000
            feedConsumed()
            handle { m, now in m.consumedDirectly(id, status: status, spentMilliseconds: spent, now: now) }
        }
    }

    // MARK: - Connections

    private func send(_ o: Outgoing, to address: Address) {
        switch connections[address] {
        case .ready(let client):
            write(o, on: client, to: address)
        case .connecting(var queued):
            queued.append(o)
            connections[address] = .connecting(queued)
        case nil:
            if done {
                dropped(o, to: address, why: "the consumer is closing")
                return
            }
            connections[address] = .connecting([o])
            connect(address)
        }
    }

    private func connect(_ address: Address) {
        let isNameServer = machine.configuration.nameServers.contains(address)
        var config = RemotingClientConfiguration(maxFrameLength: options.maxFrameLength, connectTimeout: options.connectTimeout,
                                                 serverRole: isNameServer ? .nameServer : .broker, observer: options.observer,
                                                 counter: options.counter, log: { [options] line in options.onEvent(.driver(line)) })
        config.onServerRequest = { [self] request in
            // On this loop already (the channel's), but the machine is entered from the loop's queue, not
            // from inside the channel pipeline.
            self.loop.execute { self.handle { m, now in m.receivedRequest(request, from: address, now: now) } }
            return nil
        }
        let (host, port) = Self.split(address)
        let loop = self.loop
        Task { [self] in
            do {
                let client = try await RemotingClient.connect(host: host, port: port, group: loop, configuration: config)
                loop.execute { self.connected(client, to: address) }
            } catch {
                loop.execute { self.connectFailed(address, error: error) }
            }
        }
    }

    static func split(_ a: Address) -> (String, Int) {
        let s = a.hostPort
        guard let i = s.lastIndex(of: ":"), let port = Int(s[s.index(after: i)...]) else { return (s, 0) }
        var host = String(s[..<i])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host, port)
    }

    private func connected(_ client: RemotingClient, to address: Address) {
        guard case .connecting(let queued) = connections[address] else {
            // Closed meanwhile (shutdown).
            closeFutures.append(client.channel.close())
            return
        }
        connections[address] = .ready(client)
        closeFutures.append(client.closeFuture)
        client.closeFuture.whenComplete { [self] _ in
            loop.execute { self.closed(client, address: address) }
        }
        for o in queued { write(o, on: client, to: address) }
    }

    private func connectFailed(_ address: Address, error: any Error) {
        guard case .connecting(let queued) = connections[address] else { return }
        connections[address] = nil
        let why = "cannot connect to \(address): \(Self.describe(error))"
        options.onEvent(.driver(why))
        for o in queued {
            if case .request(_, let id, _) = o {
                handle { m, now in m.requestFailed(id, reason: .other(why), now: now) }
            } else {
                dropped(o, to: address, why: why)
            }
        }
        handle { m, now in m.connectionClosed(address, now: now) }
    }

    private func closed(_ client: RemotingClient, address: Address) {
        guard case .ready(let c) = connections[address], c === client else { return }
        connections[address] = nil
        guard !done else { return }
        handle { m, now in m.connectionClosed(address, now: now) }
    }

    private func dropped(_ o: Outgoing, to address: Address, why: String) {
        switch o {
        case .request(let c, let id, _):
            options.onEvent(.driver("\(RequestCode.name(c.code)) to \(address) not sent: \(why)"))
            handle { m, now in m.requestFailed(id, reason: .other(why), now: now) }
        case .oneway(let c):
            options.onEvent(.driver("\(RequestCode.name(c.code)) (oneway) to \(address) not sent: \(why)"))
        case .respond(let c):
            options.onEvent(.driver("answer \(ResponseCode.name(c.code)) to \(address) not sent: \(why)"))
        }
    }

    private func write(_ o: Outgoing, on client: RemotingClient, to address: Address) {
        switch o {
        case .request(let command, let id, let timeout):
            client.requestFuture(command, timeout: .nanoseconds(timeout.nanosecondsClamped)).whenComplete { [self] result in
                switch result {
                case .success(let response):
                    handle { m, now in m.received(response: response, for: id, now: now) }
                case .failure(let error):
                    let reason: FailureReason
                    switch error as? RemotingClientError {
                    case .timeout?: reason = .timeout
                    case .connectionClosed?: reason = .connectionLost
                    case nil: reason = .other(Self.describe(error))
                    }
                    handle { m, now in m.requestFailed(id, reason: reason, now: now) }
                }
            }
        case .oneway(let command):
            client.onewayFuture(command).whenFailure { [options] error in
                options.onEvent(.driver("\(RequestCode.name(command.code)) (oneway) to \(address): \(Self.describe(error))"))
            }
        case .respond(let command):
            client.writeCommand(command).whenFailure { [options] error in
                options.onEvent(.driver("answer to \(address): \(Self.describe(error))"))
            }
        }
    }

    /// A short text for connection errors ("connection refused", "connect timeout").
    static func describe(_ error: any Error) -> String {
        if let e = error as? NIOConnectionError {
            if let first = e.connectionErrors.first { return describe(first.error) }
            if let dns = e.dnsAError ?? e.dnsAAAAError { return "cannot resolve \(e.host): \(dns)" }
            return "cannot connect to \(e.host):\(e.port)"
        }
        if let e = error as? IOError { return String(cString: strerror(e.errnoCode)).lowercased() }
        if let e = error as? ChannelError, case .connectTimeout = e { return "connect timeout" }
        return "\(error)"
    }

    private func closeAll() {
        done = true
        for (a, c) in connections {
            switch c {
            case .ready(let client): closeFutures.append(client.channel.close())
            case .connecting(let queued): for o in queued { dropped(o, to: a, why: "the consumer is closing") }
            }
        }
        connections = [:]
    }

    private func finish(_ report: ShutdownReport) {
        done = true
        for t in timers.values { t.cancel() }
        timers = [:]
        if let p = startPromise {
            startPromise = nil
            p.fail(LiveConsumerError.nameServerUnreachable(startFailures))
        }
        finished.succeed(report)
    }

    /// After `finished`: every connection closed, the pool stopped.
    func waitClosed() async {
        let futures: [EventLoopFuture<Void>] = (try? await loop.submit { [self] in closeFutures }.get()) ?? []
        for f in futures { try? await f.get() }
        try? await loop.submit { [self] in poolStopped = true }.get()
        await pool.shutdown()
    }
}

extension Duration {
    var nanosecondsClamped: Int64 {
        let (s, atto) = components
        let (m, o) = s.multipliedReportingOverflow(by: 1_000_000_000)
        if o { return .max }
        return m + atto / 1_000_000_000
    }
}
