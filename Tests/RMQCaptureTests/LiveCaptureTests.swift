import Foundation
import Testing
import RMQCapture
#if canImport(Glibc)
import Glibc
#endif

private let isRoot = getuid() == 0

/// A TCP listener on 127.0.0.1 with an ephemeral port.
private final class Listener: @unchecked Sendable {  // fd is immutable after init; used by one thread at a time
    let fd: Int32
    let port: UInt16

    init?() {
        let sock = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard sock >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(sock, $0, length) == 0 && listen(sock, 1) == 0 && getsockname(sock, $0, &length) == 0
            }
        }
        guard ok else { close(sock); return nil }
        fd = sock
        port = UInt16(bigEndian: address.sin_port)
    }

    deinit { close(fd) }

    /// Connects to the listener, sends `message`, waits for the server to read it, closes both ends.
    func exchange(_ message: [UInt8]) {
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard client >= 0 else { return }
        defer { close(client) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { return }
        let accepted = accept(fd, nil, nil)
        guard accepted >= 0 else { return }
        defer { close(accepted) }
        _ = message.withUnsafeBytes { send(client, $0.baseAddress, $0.count, 0) }
        var buffer = [UInt8](repeating: 0, count: message.count)
        _ = buffer.withUnsafeMutableBytes { recv(accepted, $0.baseAddress, $0.count, Int32(MSG_WAITALL)) }
    }
}

@Suite("Live capture", .serialized)
struct LiveCaptureTests {
    @Test("an unknown interface gives a readable .live error")
    func noSuchInterface() {
        #expect {
            _ = try PcapReader(liveInterface: "nosuchif0", bpf: nil, snaplen: 65535, promiscuous: false)
        } throws: { error in
            guard case CaptureError.live(let interface, let message) = error else { return false }
            return interface == "nosuchif0" && !message.isEmpty
                && (error as? CaptureError)?.description.hasPrefix("cannot capture on nosuchif0: ") == true
        }
    }

    @Test("capture on lo sees a loopback TCP exchange", .enabled(if: isRoot, "needs root for live capture"))
    func loopback() throws {
        let listener = try #require(Listener())
        let port = listener.port
        let reader = try PcapReader(liveInterface: "lo", bpf: "tcp port \(port)", snaplen: 65535, promiscuous: false)
        #expect(LinkLayer.isSupported(reader.linkType))
        reader.deadline = .now + .seconds(10)
        let message = Array("hello rocketmq".utf8)
        let thread = Thread { listener.exchange(message) }
        thread.start()
        var segments: [TCPSegment] = []
        try reader.forEachDecoded { packet in
            if let s = packet.segment { segments.append(s) }
            return !segments.contains { $0.flags.contains(.fin) && $0.destination.port == port }
        }
        #expect(segments.first?.flags == .syn)
        #expect(segments.first?.destination == Endpoint(address: .v4(0x7f00_0001), port: port))
        #expect(segments.contains { $0.payloadBytes == message })
        let now = Date().timeIntervalSince1970
        #expect(segments.allSatisfy { abs($0.time.seconds - now) < 60 })
    }

    @Test("a live loop survives read timeouts and ends at its deadline or when stopped from another thread",
          .enabled(if: isRoot, "needs root for live capture"))
    func deadlineAndStop() throws {
        // A filter that matches nothing: only read timeouts happen.
        let reader = try PcapReader(liveInterface: "lo", bpf: "udp port 9 and src host 192.0.2.77", snaplen: 65535, promiscuous: false)
        let clock = ContinuousClock()
        reader.deadline = .now + .milliseconds(700)
        var count = 0
        let elapsed = try clock.measure { try reader.forEach { _, _, _ in count += 1; return true } }
        #expect(count == 0)
        #expect(elapsed >= .milliseconds(700) && elapsed < .seconds(5))

        reader.deadline = .now + .seconds(30)
        let stopper = reader.stopper
        let thread = Thread {
            Thread.sleep(forTimeInterval: 0.5)
            stopper.stop()
        }
        thread.start()
        let stoppedAfter = try clock.measure { try reader.forEach { _, _, _ in true } }
        #expect(stoppedAfter >= .milliseconds(400) && stoppedAfter < .seconds(5))
    }
}
