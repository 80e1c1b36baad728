import NIOCore
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
    /// False when a capture started mid-connection and could not tell who connected: `client` and `server` are
    /// then just the two ends, in a fixed order, and roles come from ports and request codes.
    public var orientationKnown: Bool

    public init(id: Int, client: Endpoint, server: Endpoint, serverRole: Role? = nil, time: CaptureTime,
                orientationKnown: Bool = true) {
        self.id = id
        self.client = client
        self.server = server
        self.serverRole = serverRole
        self.time = time
        self.orientationKnown = orientationKnown
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
    /// Bytes of a stream that are not frames: lost in a capture, skipped to find the next frame, a frame that
    /// does not decode, TLS, or garbage a live peer sent.
    case gap(ObservedGap)
    /// A complete frame whose length words are valid, handed on undecoded: the tracker decodes it (straight to
    /// its typed header when no renderer prints its fields) and reports it as a bad frame when that fails.
    case rawFrame(connection: Int, direction: FrameDirection, time: CaptureTime, bytes: ByteBuffer, streamOffset: UInt64)
    /// The connection ended: closed by either side, reset, or dropped by the source.
    case closed(connection: Int, reason: String, time: CaptureTime)
}

public struct ObservedGap: Sendable {
    public var connection: Int
    public var direction: FrameDirection
    public var time: CaptureTime
    public var kind: GapKind
    public var byteCount: UInt64
    /// Bytes from the start of this direction's stream.
    public var streamOffset: UInt64
    public var detail: String

    public init(connection: Int, direction: FrameDirection, time: CaptureTime, kind: GapKind, byteCount: UInt64,
                streamOffset: UInt64, detail: String) {
        self.connection = connection
        self.direction = direction
        self.time = time
        self.kind = kind
        self.byteCount = byteCount
        self.streamOffset = streamOffset
        self.detail = detail
    }

    /// The detail of a frame that failed to decode: the error, with where in the stream the frame began.
    public static func located(_ error: Error, offset: UInt64) -> String {
        guard var e = error as? RemotingDecodingError else { return "frame at stream offset \(offset): \(error)" }
        e.context = e.context.hasPrefix("frame") ? "frame at stream offset \(offset)" + e.context.dropFirst(5)
                                                 : "frame at stream offset \(offset): \(e.context)"
        return e.description
    }
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
