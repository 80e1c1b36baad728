import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RMQTraceModel
import RocketMQRemoting

/// One accepted connection, as the request handler sees it.
public final class RemotingConnection: Sendable, Hashable, CustomStringConvertible {
    public let id: Int
    public let remote: Endpoint
    public let local: Endpoint
    public let channel: any Channel
    /// While the connection's handler reads a burst of frames (on the channel's loop), answers are written and
    /// flushed once at its end (`channelReadComplete`): one socket write for every request of the burst.
    private let burst = NIOLockedValueBox(ReadBurst())

    init(id: Int, channel: any Channel) {
        self.id = id
        self.channel = channel
        self.remote = Endpoint(channel.remoteAddress)
        self.local = Endpoint(channel.localAddress)
    }

    public var eventLoop: any EventLoop { channel.eventLoop }

    /// Writes and flushes a command (a response, or a request the server sends to the client).
    public func send(_ command: RemotingCommand) {
        let deferFlush = channel.eventLoop.inEventLoop && burst.withLockedValue { $0.deferFlush() }
        if deferFlush {
            channel.write(command, promise: nil)
        } else {
            channel.writeAndFlush(command, promise: nil)
        }
    }

    /// A read burst begins (on the loop).
    func beginReading() { burst.withLockedValue { $0.begin() } }

    /// The burst ended: whether anything written during it awaits a flush.
    func endReading() -> Bool { burst.withLockedValue { $0.end() } }

    /// Writes a command and completes when it was handed to the socket.
    public func sendAndWait(_ command: RemotingCommand) -> EventLoopFuture<Void> {
        channel.writeAndFlush(command)
    }

    public func close() { close(reason: "closed by the server") }

    /// Closes the connection; `reason` is what the observer's `.closed` event and the handler are told.
    public func close(reason: String) {
        closeReason.withLockedValue { if $0 == nil { $0 = reason } }
        channel.close(promise: nil)
    }

    let closeReason = NIOLockedValueBox<String?>(nil)

    public var description: String { "#\(id) \(remote)" }
    public static func == (a: RemotingConnection, b: RemotingConnection) -> Bool { a.id == b.id }
    public func hash(into h: inout Hasher) { h.combine(id) }
}

/// What a server does with the requests that arrive. Called on the connection's event loop.
public protocol RemotingRequestHandler: Sendable {
    func connectionOpened(_ connection: RemotingConnection)
    /// A request, oneway or (rarely) response frame from the peer. Answer with `connection.send`.
    func received(_ command: RemotingCommand, on connection: RemotingConnection)
    func connectionClosed(_ connection: RemotingConnection, reason: String)
}

extension RemotingRequestHandler {
    public func connectionOpened(_ connection: RemotingConnection) {}
    public func connectionClosed(_ connection: RemotingConnection, reason: String) {}
}

public struct RemotingServerConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// Largest frame accepted, length word included (Java: 16 MiB).
    public var maxFrameLength: Int
    /// Connections beyond this are closed as soon as they are accepted.
    public var maxConnections: Int
    /// What this server is, for the observer's `.opened` events.
    public var role: Role
    public var observer: (any FrameObserver)?
    /// One line per problem (bad input, refused connection).
    public var log: @Sendable (String) -> Void
    /// Numbers connections; share one between servers to keep ids unique.
    public var counter: ConnectionCounter

    public init(host: String = "127.0.0.1", port: Int = 0, maxFrameLength: Int = RemotingFrame.defaultMaxFrameLength,
                maxConnections: Int = 1024, role: Role, observer: (any FrameObserver)? = nil,
                log: @escaping @Sendable (String) -> Void = { FileErrorLog.write($0) }, counter: ConnectionCounter = ConnectionCounter()) {
        self.host = host
        self.port = port
        self.maxFrameLength = maxFrameLength
        self.maxConnections = maxConnections
        self.role = role
        self.observer = observer
        self.log = log
        self.counter = counter
    }
}

public enum FileErrorLog {
    public static func write(_ line: String) {
        var s = line
        s.append("\n")
        let bytes = Array(s.utf8)
        _ = bytes.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}

/// A remoting server: accepts connections, decodes frames, hands them to the handler, writes what it sends.
public final class RemotingServer: Sendable {
    public let channel: any Channel
    public let configuration: RemotingServerConfiguration
    let active: NIOLockedValueBox<Int>

    /// The port the server listens on (the real one when configured with port 0).
    public var localPort: Int { channel.localAddress?.port ?? 0 }
    public var localAddress: SocketAddress? { channel.localAddress }

    init(channel: any Channel, configuration: RemotingServerConfiguration, active: NIOLockedValueBox<Int>) {
        self.channel = channel
        self.configuration = configuration
        self.active = active
    }

    public var activeConnections: Int { active.withLockedValue { $0 } }

    public static func start(configuration: RemotingServerConfiguration, group: any EventLoopGroup,
                             handler: any RemotingRequestHandler) async throws -> RemotingServer {
        let active = NIOLockedValueBox(0)
        let config = configuration
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                let id = config.counter.next()
                let reporter = ConnectionReporter(observer: config.observer, id: id)
                let connection = RemotingConnection(id: id, channel: channel)
                return channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(ByteToMessageHandler(SizedFrameDecoder(maxFrameLength: config.maxFrameLength)))
                    try sync.addHandler(RemotingFrameWriter(report: { cmd, size in reporter.frame(cmd, size: size, direction: .toClient) }))
                    try sync.addHandler(ServerConnectionHandler(connection: connection, reporter: reporter, handler: handler,
                                                                config: config, active: active))
                }
            }
        let channel = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        return RemotingServer(channel: channel, configuration: configuration, active: active)
    }

    public func close() async {
        try? await channel.close()
    }
}

final class ServerConnectionHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = SizedCommand

    let connection: RemotingConnection
    let reporter: ConnectionReporter
    let handler: any RemotingRequestHandler
    let config: RemotingServerConfiguration
    let active: NIOLockedValueBox<Int>
    var closeReason: String?
    var counted = false
    var refused = false

    init(connection: RemotingConnection, reporter: ConnectionReporter, handler: any RemotingRequestHandler,
         config: RemotingServerConfiguration, active: NIOLockedValueBox<Int>) {
        self.connection = connection
        self.reporter = reporter
        self.handler = handler
        self.config = config
        self.active = active
    }

    func channelActive(context: ChannelHandlerContext) {
        let n = active.withLockedValue { $0 += 1; return $0 }
        counted = true
        reporter.opened(client: connection.remote, server: connection.local, role: config.role)
        if n > config.maxConnections {
            refused = true
            closeReason = "refused: \(config.maxConnections) connections already open (max-connections)"
            config.log("\(config.role.rawValue) \(connection.local): refused connection #\(connection.id) from \(connection.remote): \(config.maxConnections) connections already open")
            context.close(promise: nil)
            return
        }
        handler.connectionOpened(connection)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        reporter.frame(frame.command, size: frame.size, direction: .toServer)
        if refused { return }
        connection.beginReading()
        handler.received(frame.command, on: connection)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if connection.endReading() { context.flush() }
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // The answers to the frames read before the error go out before the connection closes.
        if connection.endReading() { context.flush() }
        let what: String
        if let e = error as? RemotingDecodingError {
            what = "bad input: \(e)"
        } else if error is ByteToMessageDecoderError {
            what = "bad input: \(error)"
        } else if let e = error as? IOError, e.errnoCode == ECONNRESET || e.errnoCode == EPIPE {
            // An ordinary way for a client to go: no warning.
            if closeReason == nil { closeReason = "reset by the client" }
            context.close(promise: nil)
            return
        } else if let e = error as? IOError {
            what = "I/O error: \(e)"
        } else {
            what = "error: \(error)"
        }
        if closeReason == nil {
            closeReason = what
            config.log("\(config.role.rawValue) \(connection.local): connection #\(connection.id) from \(connection.remote): \(what); closing this connection")
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if counted { active.withLockedValue { $0 -= 1 }; counted = false }
        let reason = closeReason ?? connection.closeReason.withLockedValue { $0 } ?? "closed by the client"
        reporter.closed(reason)
        if !refused { handler.connectionClosed(connection, reason: reason) }
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? ChannelEvent, e == .inputClosed {
            if closeReason == nil { closeReason = "closed by the client" }
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
