import NIOCore
import RocketMQRemoting
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Turns what a live tool observed (its own connections and frames) into a classic pcap: each connection a
/// synthesized TCP conversation (handshake, the frames' bytes as segments, FIN at close), so that
/// `rmq-trace decode` reads the file back to the same timeline. A value with no I/O: `observe` returns the
/// packet records to append to a file that starts with `fileHeader`.
public struct PcapRecorder: Sendable {
    /// IPv4 total length stays below 65535.
    public static let maxSegment = 65_000
    private var connections: [Int: TCPSynthesizer] = [:]

    public init() {}

    public mutating func observe(_ event: ObservedEvent) -> [UInt8] {
        var records: [PacketRecord] = []
        switch event {
        case .opened(let c):
            var s = TCPSynthesizer(client: c.client, server: c.server,
                                   clientISN: UInt32(truncatingIfNeeded: 1000 &* c.id), serverISN: UInt32(truncatingIfNeeded: 500_000 &* c.id))
            // Every segment of a frame carries the frame's time: a capture dates a frame by its last segment.
            s.spacing = 0
            records += s.handshake(at: c.time)
            connections[c.id] = s
        case .frame(let f):
            guard connections[f.connection] != nil else { break }
            var bytes = RemotingFrame.encode(f.command)
            let data = bytes.readBytes(length: bytes.readableBytes) ?? []
            records += connections[f.connection]!.send(from: f.direction == .toServer ? .client : .server, bytes: data,
                                                       at: f.time, segmentSize: Self.maxSegment)
        case .rawFrame(let id, let direction, let time, let frame, _):
            guard connections[id] != nil else { break }
            records += connections[id]!.send(from: direction == .toServer ? .client : .server,
                                             bytes: Array(frame.readableBytesView), at: time, segmentSize: Self.maxSegment)
        case .gap:
            break
        case .closed(let id, let reason, let time):
            guard var s = connections.removeValue(forKey: id) else { break }
            if reason.contains("reset") {
                records.append(s.rst(from: .server, at: time))
            } else {
                records.append(s.fin(from: .client, at: time))
                records.append(s.fin(from: .server, at: time))
                records.append(s.ack(from: .client, at: time))
            }
        }
        var writer = PcapWriter(precision: .nanoseconds)
        let headerLength = writer.bytes.count
        writer.append(contentsOf: records)
        return Array(writer.bytes[headerLength...])
    }

    /// The file's global header (nanosecond timestamps, Ethernet), written once before any `observe` output.
    public static var fileHeader: [UInt8] { PcapWriter(precision: .nanoseconds).bytes }

    /// Connections still open get their FIN.
    public mutating func finish(time: CaptureTime) -> [UInt8] {
        var out: [UInt8] = []
        for id in connections.keys.sorted() { out += observe(.closed(connection: id, reason: "closed", time: time)) }
        return out
    }
}

/// A pcap file fed by a live tool's observer: thread-safe, written as frames arrive (flushed at `close`).
public final class PcapFileRecorder: FrameObserver, Sendable {
    struct State {
        var recorder = PcapRecorder()
        var fd: Int32
        var error: String?
    }
    private let state: Mutex<State>
    public let path: String

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw PcapRecorderError(path: path, message: String(cString: strerror(errno))) }
        var s = State(fd: fd)
        Self.write(PcapRecorder.fileHeader, fd: fd, error: &s.error)
        state = Mutex(s)
    }

    public func observe(_ event: ObservedEvent) {
        state.withLock { state in
            let bytes = state.recorder.observe(event)
            Self.write(bytes, fd: state.fd, error: &state.error)
        }
    }

    /// Closes open connections in the file and the file itself; returns the first write error, if any.
    @discardableResult
    public func close() -> String? {
        state.withLock { state in
            guard state.fd >= 0 else { return state.error }
            let bytes = state.recorder.finish(time: .now())
            Self.write(bytes, fd: state.fd, error: &state.error)
            Glibc.close(state.fd)
            state.fd = -1
            return state.error
        }
    }

    static func write(_ bytes: [UInt8], fd: Int32, error: inout String?) {
        guard fd >= 0, !bytes.isEmpty, error == nil else { return }
        bytes.withUnsafeBytes { p in
            var off = 0
            while off < p.count {
                let n = Glibc.write(fd, p.baseAddress! + off, p.count - off)
                if n <= 0 { error = String(cString: strerror(errno)); return }
                off += n
            }
        }
    }
}

public struct PcapRecorderError: Error, CustomStringConvertible {
    public var path: String
    public var message: String
    public var description: String { "cannot write capture \(path): \(message)" }
}
