import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RMQTraceModel
import RocketMQRemoting

public enum RemotingClientError: Error, CustomStringConvertible, Sendable {
    case timeout(code: Int32, opaque: Int32, millis: Int64)
    case connectionClosed(String)

    public var description: String {
        switch self {
        case .timeout(let code, let opaque, let ms):
            return "no answer to \(RequestCode.name(code)) (opaque \(opaque)) within \(ms) ms"
        case .connectionClosed(let why): return "connection closed: \(why)"
        }
    }
}

public struct RemotingClientConfiguration: Sendable {
    public var maxFrameLength: Int
    public var defaultTimeout: TimeAmount
    public var connectTimeout: TimeAmount
    /// What the peer is, for the observer's `.opened` event.
    public var serverRole: Role?
    public var observer: (any FrameObserver)?
    public var counter: ConnectionCounter
    public var log: @Sendable (String) -> Void
    /// Requests the server sends to this client (NOTIFY_CONSUMER_IDS_CHANGED, GET_CONSUMER_RUNNING_INFO, …).
    /// The command returned, if any, is sent back as the answer (for non-oneway requests; its opaque and
    /// response flag are set here).
    public var onServerRequest: (@Sendable (RemotingCommand) -> RemotingCommand?)?

    public init(maxFrameLength: Int = RemotingFrame.defaultMaxFrameLength, defaultTimeout: TimeAmount = .seconds(3),
                connectTimeout: TimeAmount = .seconds(3), serverRole: Role? = nil, observer: (any FrameObserver)? = nil,
                counter: ConnectionCounter = ConnectionCounter(), log: @escaping @Sendable (String) -> Void = { FileErrorLog.write($0) },
                onServerRequest: (@Sendable (RemotingCommand) -> RemotingCommand?)? = nil) {
        self.maxFrameLength = maxFrameLength
        self.defaultTimeout = defaultTimeout
        self.connectTimeout = connectTimeout
        self.serverRole = serverRole
        self.observer = observer
        self.counter = counter
        self.log = log
        self.onServerRequest = onServerRequest
    }
}

/// A client connection: requests are matched to their responses by opaque, each with its own timeout.
public final class RemotingClient: Sendable {
    public let channel: any Channel
    let handler: ClientHandler
    let nextOpaque = NIOLockedValueBox<Int32>(0)
    public let configuration: RemotingClientConfiguration
    public let connectionID: Int

    init(channel: any Channel, handler: ClientHandler, configuration: RemotingClientConfiguration, id: Int) {
        self.channel = channel
        self.handler = handler
        self.configuration = configuration
        self.connectionID = id
    }

    public static func connect(host: String, port: Int, group: any EventLoopGroup,
                               configuration: RemotingClientConfiguration = RemotingClientConfiguration()) async throws -> RemotingClient {
        let id = configuration.counter.next()
        let reporter = ConnectionReporter(observer: configuration.observer, id: id)
        let handler = ClientHandler(reporter: reporter, config: configuration)
        let config = configuration
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(configuration.connectTimeout)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(ByteToMessageHandler(SizedFrameDecoder(maxFrameLength: config.maxFrameLength)))
                    try sync.addHandler(RemotingFrameWriter(report: { cmd, size in reporter.frame(cmd, size: size, direction: .toServer) }))
                    try sync.addHandler(handler)
                }
            }
            .connect(host: host, port: port).get()
        return RemotingClient(channel: channel, handler: handler, configuration: configuration, id: id)
    }

    func makeOpaque() -> Int32 { nextOpaque.withLockedValue { $0 &+= 1; return $0 } }

    /// Sends a request (its opaque is replaced by this client's counter) and waits for the answer.
    public func request(_ command: RemotingCommand, timeout: TimeAmount? = nil) async throws -> RemotingCommand {
        try await requestFuture(command, timeout: timeout).get()
    }

    /// Sends a oneway request (flag 2); completes when written.
    public func oneway(_ command: RemotingCommand) async throws {
        try await onewayFuture(command).get()
    }

    /// Writes raw bytes (tests: garbage).
    public func writeRaw(_ bytes: [UInt8]) async throws {
        // Below the frame writer: straight to the socket.
        var buf = channel.allocator.buffer(capacity: bytes.count)
        buf.writeBytes(bytes)
        let b = buf
        let channel = self.channel
        try await channel.eventLoop.flatSubmit {
            do {
                let ctx = try channel.pipeline.syncOperations.context(handlerType: RemotingFrameWriter.self)
                return ctx.writeAndFlush(NIOAny(b))
            } catch {
                return channel.eventLoop.makeFailedFuture(error)
            }
        }.get()
    }

    public var closeFuture: EventLoopFuture<Void> { channel.closeFuture }
    public var isActive: Bool { channel.isActive }

    public func close() async {
        try? await channel.close()
    }
}

final class ClientHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = SizedCommand
    typealias OutboundOut = RemotingCommand

    struct Pending {
        var promise: EventLoopPromise<RemotingCommand>
        var timer: Scheduled<Void>
    }
    let reporter: ConnectionReporter
    let config: RemotingClientConfiguration
    var pending: [Int32: Pending] = [:]
    var closedReason: String?
    /// A request written during a read burst (typically the next one a driver sends as soon as an answer
    /// arrives) is flushed at the burst's end, as the server side does with its answers.
    var burst = ReadBurst()

    init(reporter: ConnectionReporter, config: RemotingClientConfiguration) {
        self.reporter = reporter
        self.config = config
    }

    func register(_ cmd: RemotingCommand, promise: EventLoopPromise<RemotingCommand>, timeout: TimeAmount, channel: any Channel) {
        if let why = closedReason {
            promise.fail(RemotingClientError.connectionClosed(why))
            return
        }
        let opaque = cmd.opaque
        let code = cmd.code
        let timer = channel.eventLoop.scheduleTask(in: timeout) { [self] in
            if let p = pending.removeValue(forKey: opaque) {
                p.promise.fail(RemotingClientError.timeout(code: code, opaque: opaque, millis: timeout.nanoseconds / 1_000_000))
            }
        }
        pending[opaque] = Pending(promise: promise, timer: timer)
        let written: EventLoopFuture<Void>
        if channel.eventLoop.inEventLoop && burst.deferFlush() {
            written = channel.write(cmd)
        } else {
            written = channel.writeAndFlush(cmd)
        }
        written.whenFailure { [self] error in
            if let p = pending.removeValue(forKey: opaque) {
                p.timer.cancel()
                p.promise.fail(error)
            }
        }
    }

    func channelActive(context: ChannelHandlerContext) {
        reporter.opened(client: Endpoint(context.channel.localAddress), server: Endpoint(context.channel.remoteAddress),
                        role: config.serverRole)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        burst.begin()
        let frame = unwrapInboundIn(data)
        let cmd = frame.command
        reporter.frame(cmd, size: frame.size, direction: .toClient)
        if cmd.isResponse {
            if let p = pending.removeValue(forKey: cmd.opaque) {
                p.timer.cancel()
                p.promise.succeed(cmd)
            }
            return
        }
        if let answer = config.onServerRequest?(cmd), !cmd.isOneway {
            var a = answer
            a.opaque = cmd.opaque
            a.flag |= RemotingCommand.responseFlag
            if burst.deferFlush() {
                context.write(wrapOutboundOut(a), promise: nil)
            } else {
                context.writeAndFlush(wrapOutboundOut(a), promise: nil)
            }
        }
    }

    /// The end of a read burst: what was written during it goes out in one flush.
    func channelReadComplete(context: ChannelHandlerContext) {
        if burst.end() { context.flush() }
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // What the frames read before the error set off goes out before the connection closes (as the server).
        if burst.end() { context.flush() }
        if closedReason == nil {
            closedReason = "\(error)"
            config.log("client connection #\(reporter.id) to \(Endpoint(context.channel.remoteAddress)): \(error); closing this connection")
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        let why = closedReason ?? "closed"
        closedReason = why
        _ = burst.end()
        reporter.closed(why)
        let all = pending
        pending = [:]
        for (_, p) in all {
            p.timer.cancel()
            p.promise.fail(RemotingClientError.connectionClosed(why))
        }
        context.fireChannelInactive()
    }
}
