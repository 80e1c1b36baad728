import RocketMQRemoting

/// Which way a frame went on its connection: from the side that opened the connection (the client, for
/// remoting: producers, consumers, brokers registering with a name server) or towards it.
public enum FrameDirection: String, Hashable, Sendable {
    /// From the connecting side to the accepting side.
    case toServer = "to-server"
    /// From the accepting side back to the connecting side.
    case toClient = "to-client"

    public var reversed: FrameDirection { self == .toServer ? .toClient : .toServer }
}

/// What a source knows of a connection when it starts: who connected to whom, and what the accepting side is
/// when the source knows it (a capture guesses from ports; the live tools know).
public struct ObservedConnection: Hashable, Sendable {
    /// Unique within one run of a source, 1-based in order of appearance.
    public var id: Int
    /// The connecting side.
    public var client: Endpoint
    /// The accepting side.
    public var server: Endpoint
    /// What the accepting side is, when known.
    public var serverRole: Role?
    public var time: CaptureTime

    public init(id: Int, client: Endpoint, server: Endpoint, serverRole: Role? = nil, time: CaptureTime) {
        self.id = id
        self.client = client
        self.server = server
        self.serverRole = serverRole
        self.time = time
    }

    public func source(of direction: FrameDirection) -> Endpoint { direction == .toServer ? client : server }
    public func destination(of direction: FrameDirection) -> Endpoint { direction == .toServer ? server : client }
}

/// One frame as a source saw it: the decoded command, the connection it crossed, the way it went and when.
/// The pcap decoder, the live consumer and the embedded broker all produce these; the exchange tracker, the
/// analyzer and the renderers take them from any of them.
public struct ObservedFrame: Sendable {
    public var connection: Int
    public var direction: FrameDirection
    public var time: CaptureTime
    public var command: RemotingCommand
    /// Bytes on the wire, length word included.
    public var size: Int

    public init(connection: Int, direction: FrameDirection, time: CaptureTime, command: RemotingCommand, size: Int) {
        self.connection = connection
        self.direction = direction
        self.time = time
        self.command = command
        self.size = size
    }
}

/// The stream of what a source observes, in order.
public enum ObservedEvent: Sendable {
    case opened(ObservedConnection)
    case frame(ObservedFrame)
    /// The connection ended: closed by either side, reset, or dropped by the source.
    case closed(connection: Int, reason: String, time: CaptureTime)
}

/// Something that wants to see the frames a live tool sends and receives (the broker's and consumer's
/// request logs, `--capture` writers).
public protocol FrameObserver: Sendable {
    func observe(_ event: ObservedEvent)
}

extension CaptureTime {
    /// Wall-clock now, for live sources.
    public static func now() -> CaptureTime {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return CaptureTime(nanoseconds: Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec))
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
