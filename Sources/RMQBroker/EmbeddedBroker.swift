import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RMQTraceModel
import RocketMQRemoting
import RocketMQRemotingNIO

public struct EmbeddedBrokerConfiguration: Sendable {
    public var host = "127.0.0.1"
    /// 0 = an ephemeral port (see `EmbeddedBroker.nameServerPort`).
    public var nameServerPort = 9876
    public var brokerPort = 10911
    /// The VIP channel (Java's fastListenPort, broker port − 2): the same broker on a second port, for clients
    /// with sendMessageWithVIPChannel on (the default of clients before 4.5). nil: none.
    public var vipPort: Int? = nil
    /// Topics created at start-up (4 queues unless said).
    public var topics: [TopicConfig] = []
    /// nil: memory only.
    public var storeDirectory: String?
    public var fsync: FsyncPolicy = .always
    public var broker = BrokerConfiguration()
    public var observer: (any FrameObserver)?
    public var maxConnections = 1024
    public var maxFrameLength = RemotingFrame.defaultMaxFrameLength
    /// Clock tick: delayed messages, held-pull checks, expiry, interval fsync.
    public var tickMillis: Int64 = 100

    public init() {}
}

/// Wall-clock ms.
func nowMillis() -> Int64 { CaptureTime.now().nanoseconds / 1_000_000 }

extension MessageHost {
    init(_ e: Endpoint) {
        switch e.address {
        case .v4(let a): self.init(ipv4: a, port: Int32(e.port))
        case .v6(let hi, let lo): self.init(ipv6High: hi, low: lo, port: Int32(e.port))
        }
    }
}

/// Everything mutable of the embedded broker, behind one lock: requests are applied one at a time, and the
/// commit-log writes happen in physical-offset order before the answers that depend on them.
final class BrokerCore: @unchecked Sendable {
    var broker: BrokerState
    var nameServer = NameServerState()
    var connections: [Int: RemotingConnection] = [:]
    var serializeTypes: [Int: SerializeType] = [:]
    var store: MessageStore?
    var notifyOpaque: Int32 = 0
    var offsetsDirty = false
    var lastOffsetsWrite: Int64 = 0
    let logger: Logger
    let fsync: FsyncPolicy

    init(broker: BrokerState, store: MessageStore?, fsync: FsyncPolicy, logger: Logger) {
        self.broker = broker
        self.store = store
        self.fsync = fsync
        self.logger = logger
    }

    func registerWithNameServer() {
        let c = broker.config
        nameServer.registerBroker(cluster: c.clusterName, brokerName: c.brokerName, brokerId: c.brokerId, address: c.brokerAddress,
                                  topics: Array(broker.topics.values))
    }

    /// Channel I/O to do once the lock is released (a write can fail and close the channel at once, which
    /// calls back into the handler).
    enum Effect {
        case send(RemotingConnection, RemotingCommand)
        case close(RemotingConnection, String)
    }

    static func perform(_ effects: [Effect]) {
        for e in effects {
            switch e {
            case .send(let c, let cmd): c.send(cmd)
            case .close(let c, let why): c.close(reason: why)
            }
        }
    }

    func execute(_ actions: [BrokerAction], now: Int64) -> [Effect] {
        var effects: [Effect] = []
        var storeFailed: String?
        for a in actions {
            switch a {
            case .persist(let records, let entries):
                guard let store else { continue }
                do { try store.append(records, entries: entries, now: now) } catch {
                    storeFailed = "\(error)"
                    logger.error("store: \(error); the sends of this request are answered SYSTEM_ERROR")
                }
            case .respond(let id, var cmd), .wake(let id, var cmd):
                if let why = storeFailed {
                    cmd.code = ResponseCode.systemError
                    cmd.remark = "store write failed: \(why)"
                    cmd.body = nil
                }
                if let c = connections[id] { effects.append(.send(c, cmd)) }
            case .notifyConsumerIdsChanged(let ids, let group):
                for id in ids {
                    guard let conn = connections[id] else { continue }
                    notifyOpaque &+= 1
                    let cmd = RemotingCommand.request(code: RequestCode.notifyConsumerIdsChanged, opaque: notifyOpaque,
                                                      extFields: ConsumerGroupHeader(consumerGroup: group).extFields, oneway: true,
                                                      serializeType: serializeTypes[id] ?? .json)
                    effects.append(.send(conn, cmd))
                }
            case .expire(let id, let clientID):
                if let c = connections[id] { effects.append(.close(c, "client \(clientID) sent no heartbeat for \(broker.config.clientExpiryMillis / 1000) s")) }
            case .persistOffsets:
                offsetsDirty = true
                if fsync == .always { flushOffsets(now: now) }
            case .topicsChanged:
                registerWithNameServer()
                if let store {
                    do { try store.writeTopics(Array(broker.topics.values)) } catch { logger.error("store: \(error)") }
                }
            case .log(let line):
                logger.info("\(line)")
            case .hold(let id, let opaque, let topic, let queueId, let deadline):
                logger.debug("held pull #\(id) opaque \(opaque) \(topic)#\(queueId) until \(deadline)")
            }
        }
        return effects
    }

    /// Writes the committed offsets when they changed: on the store's thread with the interval policy (`background`),
    /// else here, after whatever that thread still has to write.
    func flushOffsets(now: Int64, background: Bool = true) {
        guard offsetsDirty, let store else { offsetsDirty = false; return }
        if background && fsync != .always && store.syncInBackground {
            // Written on the store's thread, not under the broker's lock (the offsets are a copy-on-write value).
            store.writeOffsetsInBackground(broker.offsets, schedule: broker.scheduleOffsets)
            offsetsDirty = false
            lastOffsetsWrite = now
            return
        }
        store.waitForBackground()
        do {
            try store.writeOffsets(broker.offsets, schedule: broker.scheduleOffsets)
            offsetsDirty = false
            lastOffsetsWrite = now
        } catch {
            logger.error("store: \(error)")
        }
    }

    func tick(now: Int64) -> [Effect] {
        let effects = execute(broker.tick(now: now), now: now)
        if let store {
            do { try store.tick(now: now) } catch { logger.error("store: \(error)") }
            if offsetsDirty && now - lastOffsetsWrite >= 1000 { flushOffsets(now: now) }
        }
        return effects
    }
}

struct BrokerRequestHandler: RemotingRequestHandler {
    let core: SpinningLockedBox<BrokerCore>

    func connectionOpened(_ connection: RemotingConnection) {
        core.withLockedValue { $0.connections[connection.id] = connection }
    }

    func received(_ command: RemotingCommand, on connection: RemotingConnection) {
        if command.isResponse { return }
        let effects = core.withLockedValue { c in
            c.serializeTypes[connection.id] = command.serializeType
            let now = nowMillis()
            let actions = c.broker.handle(command, from: ClientRef(connection: connection.id, remote: MessageHost(connection.remote)), now: now)
            return c.execute(actions, now: now)
        }
        BrokerCore.perform(effects)
    }

    func connectionClosed(_ connection: RemotingConnection, reason: String) {
        let effects = core.withLockedValue { c in
            c.connections[connection.id] = nil
            c.serializeTypes[connection.id] = nil
            let now = nowMillis()
            return c.execute(c.broker.connectionClosed(connection.id, now: now), now: now)
        }
        BrokerCore.perform(effects)
    }
}

struct NameServerRequestHandler: RemotingRequestHandler {
    let core: SpinningLockedBox<BrokerCore>

    func received(_ command: RemotingCommand, on connection: RemotingConnection) {
        if command.isResponse { return }
        if let r = core.withLockedValue({ $0.nameServer.handle(command) }) { connection.send(r) }
    }
}

public struct ListenError: Error, CustomStringConvertible {
    public var description: String
}

/// A name server and one broker in this process, on SwiftNIO.
public final class EmbeddedBroker: Sendable {
    let core: SpinningLockedBox<BrokerCore>
    public let nameServer: RemotingServer
    public let broker: RemotingServer
    /// The VIP-channel listener, when configured.
    public let vip: RemotingServer?
    let ticker: NIOLockedValueBox<RepeatedTask?>
    public let logger: Logger
    public let configuration: EmbeddedBrokerConfiguration
    public let storeNotes: [String]

    public var nameServerPort: Int { nameServer.localPort }
    public var brokerPort: Int { broker.localPort }
    public var nameServerAddress: String { "\(configuration.host):\(nameServerPort)" }
    public var brokerAddress: String { core.withLockedValue { $0.broker.config.brokerAddress } }

    init(core: SpinningLockedBox<BrokerCore>, nameServer: RemotingServer, broker: RemotingServer, vip: RemotingServer?,
         ticker: RepeatedTask?, logger: Logger, configuration: EmbeddedBrokerConfiguration, storeNotes: [String]) {
        self.core = core
        self.nameServer = nameServer
        self.broker = broker
        self.vip = vip
        self.ticker = NIOLockedValueBox(ticker)
        self.logger = logger
        self.configuration = configuration
        self.storeNotes = storeNotes
    }

    /// Starts both servers (ports 0 for ephemeral ones) and registers the broker with the name server.
    public static func start(configuration: EmbeddedBrokerConfiguration, group: any EventLoopGroup,
                             logger: Logger = Logger(label: "rmq-trace.broker")) async throws -> EmbeddedBroker {
        var state = BrokerState(config: configuration.broker)
        var store: MessageStore?
        var notes: [String] = []
        if let dir = configuration.storeDirectory {
            let s = MessageStore(directory: dir, policy: configuration.fsync)
            s.maxRecordSize = state.maxRecordSize
            s.syncInBackground = true
            state.coldStorage = s
            let contents = try s.open { try state.restore(record: $0) }
            for n in contents.notes { logger.warning("\(n)") }
            notes = contents.notes
            state.restore(offsets: contents.offsets, scheduleOffsets: contents.scheduleOffsets, topics: contents.topics)
            logger.info("store \(dir): \(contents.recordCount) messages, \(contents.offsets.count) committed offsets, \(contents.topics.count) topics restored (fsync \(configuration.fsync == .always ? "always" : "interval"))")
            store = s
        }
        for t in configuration.topics { state.updateTopic(t) }
        state.pretouchCache()
        if state.cache.spareBytes > 0 { logger.info("message cache: \(state.cache.spareBytes >> 20) MiB allocated and touched at start-up") }
        let core = SpinningLockedBox(BrokerCore(broker: state, store: store, fsync: configuration.fsync, logger: logger))
        let counter = ConnectionCounter()
        let log: @Sendable (String) -> Void = { line in logger.warning("\(line)") }
        func listening<T>(_ what: String, _ port: Int, _ f: () async throws -> T) async throws -> T {
            do { return try await f() } catch {
                throw ListenError(description: "cannot listen on \(configuration.host):\(port) (\(what)): \(error)")
            }
        }
        let brokerServer = try await listening("broker", configuration.brokerPort) { try await RemotingServer.start(
            configuration: RemotingServerConfiguration(host: configuration.host, port: configuration.brokerPort,
                                                       maxFrameLength: configuration.maxFrameLength,
                                                       maxConnections: configuration.maxConnections, role: .broker,
                                                       observer: configuration.observer, log: log, counter: counter),
            group: group, handler: BrokerRequestHandler(core: core)) }
        let port = brokerServer.localPort
        let nsServer: RemotingServer
        do {
            nsServer = try await listening("name server", configuration.nameServerPort) { try await RemotingServer.start(
                configuration: RemotingServerConfiguration(host: configuration.host, port: configuration.nameServerPort,
                                                           maxFrameLength: configuration.maxFrameLength,
                                                           maxConnections: configuration.maxConnections, role: .nameServer,
                                                           observer: configuration.observer, log: log, counter: counter),
                group: group.next(), handler: NameServerRequestHandler(core: core)) }
        } catch {
            await brokerServer.close()
            throw error
        }
        var vipServer: RemotingServer?
        if let vp = configuration.vipPort {
            do {
                vipServer = try await listening("broker VIP channel", vp) { try await RemotingServer.start(
                    configuration: RemotingServerConfiguration(host: configuration.host, port: vp,
                                                               maxFrameLength: configuration.maxFrameLength,
                                                               maxConnections: configuration.maxConnections, role: .broker,
                                                               observer: configuration.observer, log: log, counter: counter),
                    group: group, handler: BrokerRequestHandler(core: core)) }
            } catch {
                await brokerServer.close()
                await nsServer.close()
                throw error
            }
        }
        let advertised = (configuration.host == "0.0.0.0" || configuration.host == "::") ? "127.0.0.1" : configuration.host
        core.withLockedValue { c in
            c.broker.config.brokerAddress = "\(advertised):\(port)"
            let ip = advertised.split(separator: ".").compactMap { UInt8($0) }
            c.broker.config.storeHost = MessageHost(address: ip.count == 4 ? ip : [127, 0, 0, 1], port: Int32(port))
            c.registerWithNameServer()
            if let store = c.store { try? store.writeTopics(Array(c.broker.topics.values)) }
        }
        let tick = configuration.tickMillis
        let task = group.next().scheduleRepeatedTask(initialDelay: .milliseconds(tick), delay: .milliseconds(tick)) { _ in
            BrokerCore.perform(core.withLockedValue { $0.tick(now: nowMillis()) })
        }
        return EmbeddedBroker(core: core, nameServer: nsServer, broker: brokerServer, vip: vipServer, ticker: task, logger: logger,
                              configuration: configuration, storeNotes: notes)
    }

    /// Stops cleanly: held pulls are answered, the store flushed, connections and servers closed.
    public func shutdown() async {
        ticker.withLockedValue { $0?.cancel(); $0 = nil }
        let (conns, effects): ([RemotingConnection], [BrokerCore.Effect]) = core.withLockedValue { c in
            let now = nowMillis()
            let effects = c.execute(c.broker.shutdown(now: now), now: now)
            c.offsetsDirty = true
            c.flushOffsets(now: now, background: false)
            c.store?.close(now: now)
            return (Array(c.connections.values), effects)
        }
        BrokerCore.perform(effects)
        // Let the answers reach the sockets before closing.
        if !conns.isEmpty { try? await Task.sleep(for: .milliseconds(100)) }
        await broker.close()
        await vip?.close()
        await nameServer.close()
        for conn in conns {
            conn.close(reason: "broker shut down")
            try? await conn.channel.closeFuture.get()
        }
    }

    /// A copy of the broker state (tests).
    public var state: BrokerState { core.withLockedValue { $0.broker } }
    public var nameServerState: NameServerState { core.withLockedValue { $0.nameServer } }
}
