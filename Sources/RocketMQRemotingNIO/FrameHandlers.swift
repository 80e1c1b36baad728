import NIOCore
import RMQTraceModel
import RocketMQRemoting

/// A decoded frame with its size on the wire (length word included).
public struct SizedCommand: Sendable, Hashable {
    public var command: RemotingCommand
    public var size: Int
    public init(command: RemotingCommand, size: Int) {
        self.command = command
        self.size = size
    }
}

/// `RemotingFrameDecoder` that also reports each frame's size, for observers. Wrap it in
/// `ByteToMessageHandler`; the maximum frame size is checked from the first 8 bytes.
public struct SizedFrameDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = SizedCommand
    var inner: RemotingFrameDecoder

    public init(maxFrameLength: Int = RemotingFrame.defaultMaxFrameLength) {
        inner = RemotingFrameDecoder(maxFrameLength: maxFrameLength)
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> SizedCommand? {
        let before = buffer.readerIndex
        guard let cmd = try inner.decode(buffer: &buffer) else { return nil }
        return SizedCommand(command: cmd, size: buffer.readerIndex - before)
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> SizedCommand? {
        let before = buffer.readerIndex
        guard let cmd = try inner.decodeLast(buffer: &buffer, seenEOF: seenEOF) else { return nil }
        return SizedCommand(command: cmd, size: buffer.readerIndex - before)
    }
}

/// Encodes outbound commands straight into the channel's outbound buffer and reports them to the observer.
public final class RemotingFrameWriter: ChannelOutboundHandler, @unchecked Sendable {
    public typealias OutboundIn = RemotingCommand
    public typealias OutboundOut = ByteBuffer

    let report: (@Sendable (RemotingCommand, Int) -> Void)?

    public init(report: (@Sendable (RemotingCommand, Int) -> Void)? = nil) { self.report = report }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let cmd = unwrapOutboundIn(data)
        var buf = context.channel.allocator.buffer(capacity: 256 + cmd.bodyLength)
        RemotingFrame.encode(cmd, into: &buf)
        report?(cmd, buf.readableBytes)
        context.write(wrapOutboundOut(buf), promise: promise)
    }
}

/// Numbers connections 1, 2, 3… across everything that shares one counter (a server, or a broker's two
/// servers and its clients).
public final class ConnectionCounter: Sendable {
    private let value = NIOLockedValueBox(0)
    public init() {}
    public func next() -> Int { value.withLockedValue { $0 += 1; return $0 } }
}

/// Reports what crosses a connection to an optional observer.
/// The flush rule both sides follow: while a handler reads a burst of frames (from the first `channelRead` to
/// `channelReadComplete`, on the channel's loop), what is written on the loop waits for one flush at the burst's
/// end, so the answers to one read's requests, or the requests one read's answers set off, leave in one socket
/// write instead of one each.
struct ReadBurst: Sendable {
    private var reading = false
    private var unflushed = false

    mutating func begin() { reading = true }

    /// A write is about to be made on the loop: true when its flush waits for the burst's end (noted as owed).
    mutating func deferFlush() -> Bool {
        if reading { unflushed = true }
        return reading
    }

    /// The burst ended (or the connection failed): whether a flush is owed.
    mutating func end() -> Bool {
        defer { (reading, unflushed) = (false, false) }
        return unflushed
    }
}

struct ConnectionReporter: Sendable {
    let observer: (any FrameObserver)?
    let id: Int

    func opened(client: Endpoint, server: Endpoint, role: Role?) {
        observer?.observe(.opened(ObservedConnection(id: id, client: client, server: server, serverRole: role, time: .now())))
    }
    func frame(_ cmd: RemotingCommand, size: Int, direction: FrameDirection) {
        observer?.observe(.frame(ObservedFrame(connection: id, direction: direction, time: .now(), command: cmd, size: size)))
    }
    func closed(_ reason: String) {
        observer?.observe(.closed(connection: id, reason: reason, time: .now()))
    }
}

extension Endpoint {
    /// The endpoint of a socket address (IPv4 and IPv6; anything else as 0.0.0.0:0).
    public init(_ address: SocketAddress?) {
        guard let address else { self.init(address: .v4(0), port: 0); return }
        let port = UInt16(clamping: address.port ?? 0)
        switch address {
        case .v4(let a):
            let raw = UInt32(bigEndian: a.address.sin_addr.s_addr)
            self.init(address: .v4(raw), port: port)
        case .v6(let a):
            var bytes = [UInt8](repeating: 0, count: 16)
            withUnsafeBytes(of: a.address.sin6_addr) { raw in for i in 0..<16 { bytes[i] = raw[i] } }
            var hi: UInt64 = 0, lo: UInt64 = 0
            for i in 0..<8 { hi = hi << 8 | UInt64(bytes[i]) }
            for i in 8..<16 { lo = lo << 8 | UInt64(bytes[i]) }
            self.init(address: .v6(hi, lo), port: port)
        default:
            self.init(address: .v4(0), port: 0)
        }
    }
}

import NIOConcurrencyHelpers
