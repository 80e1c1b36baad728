import CPcap
import NIOCore
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Errors of the capture layer. Each prints as one line.
public enum CaptureError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file could not be opened or is not a pcap/pcapng file; `message` is libpcap's.
    case open(path: String, message: String)
    /// The file ends in the middle of packet `packetNumber` (1-based); the packets before it were delivered.
    case truncated(path: String, packetNumber: Int, message: String)
    /// Any other read error at packet `packetNumber`.
    case read(path: String, packetNumber: Int, message: String)
    /// The BPF expression did not compile or could not be installed.
    case filter(expression: String, message: String)
    /// The capture's link type is not one `LinkLayer` decodes.
    case unsupportedLinkType(Int32, name: String)
    /// A live capture could not be set up.
    case live(interface: String, message: String)

    public var description: String {
        switch self {
        case .open(let path, let message):
            return "cannot open \(PcapReader.displayName(path)): \(message)"
        case .truncated(let path, let n, let message):
            return "\(PcapReader.displayName(path)): file is cut short inside packet \(n) (\(message)); the \(n - 1) packets before it were read"
        case .read(let path, let n, let message):
            return "\(PcapReader.displayName(path)): read error at packet \(n): \(message)"
        case .filter(let expression, let message):
            return "invalid capture filter \"\(expression)\": \(message)"
        case .unsupportedLinkType(let type, let name):
            return "unsupported link type \(type) (\(name)); supported: EN10MB, LINUX_SLL, LINUX_SLL2, NULL, LOOP, RAW, IPV4, IPV6"
        case .live(let interface, let message):
            return "cannot capture on \(interface): \(message)"
        }
    }
}

/// One packet read from a capture, copied out of libpcap's buffer.
public struct CapturedPacket: Sendable, Equatable {
    public var time: CaptureTime
    /// Bytes present in `data` (the record's caplen).
    public var capturedLength: Int { data.count }
    /// The packet's length on the wire.
    public var originalLength: Int
    public var data: [UInt8]
    /// 1-based position in the capture.
    public var packetNumber: Int

    public init(time: CaptureTime, originalLength: Int, data: [UInt8], packetNumber: Int) {
        self.time = time
        self.originalLength = originalLength
        self.data = data
        self.packetNumber = packetNumber
    }
}

/// Stops a `PcapReader`'s loop from another thread or task. `Sendable`: the libpcap handle it may poke is guarded
/// by a mutex and cleared when the reader closes, so a late `stop()` is harmless.
public final class CaptureStopper: Sendable {
    private let requested = Atomic<Bool>(false)
    /// The pcap_t's address (0 when closed), kept as an integer because `OpaquePointer` is not `Sendable`.
    private let handle = Mutex<Int>(0)

    init() {}

    func attach(_ p: OpaquePointer) { handle.withLock { $0 = Int(bitPattern: p) } }
    func detach() { handle.withLock { $0 = 0 } }

    /// Asks the loop to end: it returns after the packet in progress, or at once when blocked in a live read.
    public func stop() {
        requested.store(true, ordering: .sequentiallyConsistent)
        handle.withLock { address in
            if let p = OpaquePointer(bitPattern: address) { pcap_breakloop(p) }
        }
    }

    /// Async-signal-safe variant of `stop()` (a single atomic store, no lock): a live loop notices it within
    /// 200 ms.
    public func stopFromSignalHandler() {
        requested.store(true, ordering: .sequentiallyConsistent)
    }

    public var isStopRequested: Bool { requested.load(ordering: .sequentiallyConsistent) }
}

/// A thin wrapper around a libpcap handle: an offline file (pcap or pcapng, or "-" for standard input) or a live
/// interface.
///
/// Not `Sendable`: a libpcap handle must be used from one thread at a time. To stop a loop from elsewhere, hand
/// `stopper` (which is `Sendable`) to that thread or task.
public final class PcapReader {
    /// The file path ("-" for standard input) or the interface name.
    public let source: String
    public let isLive: Bool
    /// Packets read so far (the 1-based number of the last one delivered).
    public private(set) var packetsRead = 0
    /// Bytes of the input consumed so far, packet headers included (exact for classic pcap, close for pcapng):
    /// for progress reports.
    public private(set) var bytesRead: UInt64 = 0
    /// For live captures: the loops end once this instant has passed (checked at least every read timeout).
    public var deadline: ContinuousClock.Instant?
    public let stopper = CaptureStopper()

    private let handle: OpaquePointer
    private let nanosecondTimestamps: Bool
    /// Classic pcap files are read straight from mappings of the file (no copy, no libpcap call per packet; the
    /// records are slices of `ByteBuffer`s over the mapping); libpcap still opens them (link type, errors) and
    /// reads pcapng, stdin and filtered captures.
    private var mapped: MappedCapture? = nil
    /// Live captures run in non-blocking mode and wait on this descriptor themselves: on Linux, libpcap's read
    /// timeout does not make a blocking read return while no packet arrives. -1 for files.
    private let selectableFD: Int32

    /// Opens a capture file (pcap or pcapng) with nanosecond timestamps; `path` "-" reads standard input.
    public convenience init(path: String) throws {
        try self.init(path: path, mappingWindow: MappedCapture.windowSize)
    }

    /// `mappingWindow`: bytes of a classic pcap file mapped at a time (tests make it small to cross windows).
    init(path: String, mappingWindow: Int) throws {
        var errbuf = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        // A file is read through a 1 MiB stdio buffer (the default is one page: several read calls per large
        // packet). libpcap closes the FILE. Standard input, or a file fopen cannot open, go through
        // pcap_open_offline (which reports the error).
        var opened: OpaquePointer? = nil
        if path != "-", let file = fopen(path, "rb") {
            setvbuf(file, nil, _IOFBF, 1 << 20)
            opened = pcap_fopen_offline_with_tstamp_precision(file, UInt32(PCAP_TSTAMP_PRECISION_NANO), &errbuf)
            if opened == nil { fclose(file) }
        } else {
            opened = pcap_open_offline_with_tstamp_precision(path, UInt32(PCAP_TSTAMP_PRECISION_NANO), &errbuf)
        }
        guard let p = opened else {
            throw CaptureError.open(path: path, message: PcapReader.string(errbuf))
        }
        handle = p
        source = path
        isLive = false
        nanosecondTimestamps = pcap_get_tstamp_precision(p) == PCAP_TSTAMP_PRECISION_NANO
        selectableFD = -1
        stopper.attach(p)
        if path != "-" && nanosecondTimestamps { mapped = MappedCapture.map(path, windowSize: mappingWindow) }
    }

    /// Runs `body` over the records of the mapped file (header, bytes as a slice of the mapping) until it returns
    /// false, the file ends or a stop is requested. The mapping is taken out of `mapped` for the loop: one access
    /// to the class's property, not several per record.
    private func forEachMapped(_ body: (pcap_pkthdr, ByteBuffer) throws -> Bool) throws {
        guard var m = mapped else { return }
        mapped = nil
        defer { mapped = m }
        var header = pcap_pkthdr()
        while !stopper.isStopRequested {
            let record: ByteBuffer?
            do {
                record = try m.next(&header)
            } catch {
                switch error {
                case .truncated(let message):
                    throw CaptureError.truncated(path: source, packetNumber: packetsRead + 1, message: message)
                case .read(let message):
                    throw CaptureError.read(path: source, packetNumber: packetsRead + 1, message: message)
                }
            }
            guard let record else { return }
            packetsRead += 1
            if try !body(header, record) { return }
        }
    }

    /// Opens a live capture on `liveInterface` (needs CAP_NET_RAW, usually root), with immediate delivery. Reads
    /// wait at most 200 ms at a time (non-blocking handle polled by the reader), so `deadline` and `stopper` are
    /// honoured within that time even when no packet arrives.
    public init(liveInterface: String, bpf: String? = nil, snaplen: Int32 = 262_144, promiscuous: Bool = false) throws {
        var errbuf = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        guard let p = pcap_create(liveInterface, &errbuf) else {
            throw CaptureError.live(interface: liveInterface, message: PcapReader.string(errbuf))
        }
        func fail(_ message: String) -> CaptureError {
            pcap_close(p)
            return CaptureError.live(interface: liveInterface, message: message)
        }
        if pcap_set_snaplen(p, snaplen) != 0 { throw fail("cannot set snapshot length \(snaplen)") }
        if pcap_set_promisc(p, promiscuous ? 1 : 0) != 0 { throw fail("cannot set promiscuous mode") }
        if pcap_set_timeout(p, 200) != 0 { throw fail("cannot set read timeout") }
        if pcap_set_immediate_mode(p, 1) != 0 { throw fail("cannot set immediate mode") }
        _ = pcap_set_tstamp_precision(p, Int32(PCAP_TSTAMP_PRECISION_NANO))  // falls back to microseconds
        let status = pcap_activate(p)
        if status < 0 {
            let detail = String(cString: pcap_geterr(p))
            let message: String
            switch status {
            case PCAP_ERROR_NO_SUCH_DEVICE: message = "no such interface"
            case PCAP_ERROR_PERM_DENIED:
                message = "permission denied (run as root or grant CAP_NET_RAW and CAP_NET_ADMIN)"
            case PCAP_ERROR_PROMISC_PERM_DENIED: message = "permission denied for promiscuous mode"
            case PCAP_ERROR_IFACE_NOT_UP: message = "interface is not up"
            case PCAP_ERROR_RFMON_NOTSUP: message = "monitor mode not supported"
            default: message = String(cString: pcap_statustostr(status))
            }
            throw fail(detail.isEmpty ? message : "\(message): \(detail)")
        }
        let fd = pcap_get_selectable_fd(p)
        if fd >= 0 {
            if pcap_setnonblock(p, 1, &errbuf) != 0 {
                throw fail("cannot set non-blocking mode: \(PcapReader.string(errbuf))")
            }
        }
        selectableFD = fd
        handle = p
        source = liveInterface
        isLive = true
        nanosecondTimestamps = pcap_get_tstamp_precision(p) == PCAP_TSTAMP_PRECISION_NANO
        stopper.attach(p)
        if let bpf, !bpf.isEmpty {
            try setFilter(bpf)  // deinit closes the handle if this throws
        }
    }

    deinit {
        stopper.detach()
        pcap_close(handle)
        mapped?.closeFile()
    }

    /// The link type (DLT number) of the capture.
    public var linkType: Int32 { pcap_datalink(handle) }

    /// libpcap's name of the link type ("EN10MB", "LINUX_SLL2", …), "USER0"…"USER15" for the private-use
    /// range, or "DLT_<n>" otherwise.
    public var linkTypeName: String { PcapReader.linkTypeName(linkType) }

    public static func linkTypeName(_ type: Int32) -> String {
        if let name = pcap_datalink_val_to_name(type) { return String(cString: name) }
        if (147...162).contains(type) { return "USER\(type - 147)" }
        return "DLT_\(type)"
    }

    /// The capture's snapshot length.
    public var snapshotLength: Int { Int(pcap_snapshot(handle)) }

    /// Installs a BPF filter (for files and live captures alike).
    public func setFilter(_ bpf: String) throws {
        // Filters run inside libpcap: read through it.
        if let m = mapped {
            m.closeFile()
            mapped = nil
        }
        var program = bpf_program()
        if pcap_compile(handle, &program, bpf, 1, PCAP_NETMASK_UNKNOWN) != 0 {
            throw CaptureError.filter(expression: bpf, message: String(cString: pcap_geterr(handle)))
        }
        defer { pcap_freecode(&program) }
        if pcap_setfilter(handle, &program) != 0 {
            throw CaptureError.filter(expression: bpf, message: String(cString: pcap_geterr(handle)))
        }
    }

    /// Stops `forEach` / `next` (same as `stopper.stop()`).
    public func breakLoop() { stopper.stop() }

    /// Throws `.unsupportedLinkType` unless `LinkLayer` decodes this capture's link type.
    public func checkLinkType() throws {
        let type = linkType
        if !LinkLayer.isSupported(type) { throw CaptureError.unsupportedLinkType(type, name: linkTypeName) }
    }

    /// Calls `body` with each packet's time, captured bytes (valid only during the call) and wire length, without
    /// copying. Ends at the end of the file, when `body` returns false, on `stopper.stop()`, or at `deadline`. Live
    /// read timeouts do not end it.
    public func forEach(_ body: (CaptureTime, UnsafeRawBufferPointer, _ originalLength: Int) throws -> Bool) throws {
        try checkLinkType()
        if mapped != nil {
            try forEachMapped { header, record in
                try record.withUnsafeReadableBytes { try body(time(of: header), $0, Int(header.len)) }
            }
            return
        }
        while let (header, data) = try readRaw() {
            let caplen = Int(header.caplen)
            if try !body(time(of: header), UnsafeRawBufferPointer(start: data, count: caplen), Int(header.len)) {
                return
            }
        }
    }

    /// Decodes each packet with `LinkLayer`; `body` returns false to stop.
    /// Segments of a mapped file carry their payload as a slice of the mapping; others a copy.
    public func forEachDecoded(_ body: (DecodedPacket) throws -> Bool) throws {
        try checkLinkType()
        let type = linkType
        if mapped != nil {
            try forEachMapped { header, record in
                bytesRead &+= UInt64(record.readableBytes &+ 16)
                return try body(LinkLayer.decode(record: record, linkType: type, time: time(of: header),
                                                 packetNumber: packetsRead, originalLength: Int(header.len)))
            }
            return
        }
        try forEach { time, bytes, originalLength in
            bytesRead &+= UInt64(bytes.count &+ 16)
            return try body(LinkLayer.decode(bytes, linkType: type, time: time, packetNumber: packetsRead,
                                             originalLength: originalLength))
        }
    }

    /// The next packet, copied; nil at the end of the file (or when stopped / past the deadline).
    public func next() throws -> CapturedPacket? {
        try checkLinkType()
        if mapped != nil {
            var packet: CapturedPacket? = nil
            try forEachMapped { header, record in
                packet = CapturedPacket(time: time(of: header), originalLength: Int(header.len),
                                        data: Array(record.readableBytesView), packetNumber: packetsRead)
                return false
            }
            return packet
        }
        guard let (header, data) = try readRaw() else { return nil }
        let bytes = Array(UnsafeBufferPointer(start: data, count: Int(header.caplen)))
        return CapturedPacket(time: time(of: header), originalLength: Int(header.len), data: bytes,
                              packetNumber: packetsRead)
    }

    // MARK: - Private

    /// The next record read through libpcap: its header and its bytes (valid until the next read).
    private func readRaw() throws -> (pcap_pkthdr, UnsafePointer<UInt8>)? {
        while true {
            if stopper.isStopRequested { return nil }
            if let deadline, ContinuousClock.now >= deadline { return nil }
            var header: UnsafeMutablePointer<pcap_pkthdr>?
            var data: UnsafePointer<UInt8>?
            let status = pcap_next_ex(handle, &header, &data)
            switch status {
            case 1:
                guard let header, let data else { continue }
                packetsRead += 1
                return (header.pointee, data)
            case 0:
                // Live capture, nothing ready: wait up to 200 ms (or until the deadline) for the descriptor, then
                // look at the stop flag and the deadline again.
                waitForPackets()
                continue
            case PCAP_ERROR_BREAK:
                return nil  // end of file, or pcap_breakloop on a live capture
            default:
                let message = String(cString: pcap_geterr(handle))
                if message.contains("truncated") {
                    throw CaptureError.truncated(path: source, packetNumber: packetsRead + 1, message: message)
                }
                throw CaptureError.read(path: source, packetNumber: packetsRead + 1, message: message)
            }
        }
    }

    private func waitForPackets() {
        var milliseconds: Int32 = 200
        if let deadline {
            let left = deadline - ContinuousClock.now
            let ms = left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000
            milliseconds = Int32(max(0, min(200, ms + 1)))
        }
        if selectableFD >= 0 {
            var descriptor = pollfd(fd: selectableFD, events: Int16(POLLIN), revents: 0)
            _ = poll(&descriptor, 1, milliseconds)
        } else {
            usleep(UInt32(min(milliseconds, 10)) * 1000)  // no selectable descriptor: the read itself blocks
        }
    }

    private func time(of header: pcap_pkthdr) -> CaptureTime {
        let seconds = Int64(header.ts.tv_sec)
        let fraction = Int64(header.ts.tv_usec)
        return CaptureTime(nanoseconds: seconds &* 1_000_000_000 &+ (nanosecondTimestamps ? fraction : fraction &* 1000))
    }

    static func string(_ buffer: [CChar]) -> String {
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func displayName(_ path: String) -> String { path == "-" ? "standard input" : path }
}

extension CapturedPacket {
    /// This packet decoded with `LinkLayer` for a capture of link type `linkType`.
    public func decoded(linkType: Int32) -> DecodedPacket {
        LinkLayer.decode(data, linkType: linkType, time: time, packetNumber: packetNumber,
                         originalLength: originalLength)
    }
}
