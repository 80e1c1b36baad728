/// Connection tracking on top of `TCPReassembler`: one entry per TCP connection (both directions), with
/// bounded memory (connection count, out-of-order bytes per direction) and idle expiry. No I/O.

/// The unordered endpoint pair of a connection, normalised so that both directions map to the same key:
/// `low` is the smaller endpoint (by address family, address, then port).
public struct ConnectionKey: Hashable, Sendable, CustomStringConvertible {
    public let low: Endpoint
    public let high: Endpoint

    public init(_ a: Endpoint, _ b: Endpoint) {
        if ConnectionKey.less(b, a) {
            low = b
            high = a
        } else {
            low = a
            high = b
        }
    }

    public var description: String { "\(low) <-> \(high)" }

    /// Looked up once per packet: IPv4 pairs are hashed as two words instead of field by field (two address
    /// cases, two addresses, two ports: six combines).
    public func hash(into h: inout Hasher) {
        if case .v4(let a) = low.address, case .v4(let b) = high.address {
            h.combine(UInt64(a) << 32 | UInt64(b))
            h.combine(UInt32(low.port) << 16 | UInt32(high.port))
        } else {
            h.combine(low)
            h.combine(high)
        }
    }

    /// A cheap hash (one multiply) for `TCPConnectionTable`'s cache of recent keys, which checks every hit
    /// against the key itself: a collision, however made, only costs the dictionary lookup it saves.
    var quickHash: UInt64 {
        var x = UInt64(low.port) << 16 | UInt64(high.port)
        switch (low.address, high.address) {
        case (.v4(let a), .v4(let b)): x ^= UInt64(a) << 32 ^ UInt64(b) << 20
        case (.v6(let ah, let al), .v6(let bh, let bl)): x ^= ah ^ al ^ bh ^ bl
        case (.v4(let a), .v6(let bh, let bl)), (.v6(let bh, let bl), .v4(let a)): x ^= UInt64(a) ^ bh ^ bl
        }
        return x &* 0x9E37_79B9_7F4A_7C15
    }

    static func less(_ x: Endpoint, _ y: Endpoint) -> Bool {
        switch (x.address, y.address) {
        case (.v4(let a), .v4(let b)):
            if a != b { return a < b }
        case (.v6(let ah, let al), .v6(let bh, let bl)):
            if ah != bh { return ah < bh }
            if al != bl { return al < bl }
        case (.v4, .v6):
            return true
        case (.v6, .v4):
            return false
        }
        return x.port < y.port
    }
}

/// One byte stream of a connection: the bytes that `source` sent to `destination`.
public struct StreamDirection: Hashable, Sendable, CustomStringConvertible {
    public var source: Endpoint
    public var destination: Endpoint
    public init(source: Endpoint, destination: Endpoint) {
        self.source = source
        self.destination = destination
    }
    public var reversed: StreamDirection { StreamDirection(source: destination, destination: source) }
    public var description: String { "\(source) -> \(destination)" }
}

public enum ConnectionState: Sendable, Equatable {
    /// Neither direction has closed.
    case open
    /// One direction has closed (FIN delivered).
    case closing
    /// Both directions closed, or reset. The connection is removed right after reaching this state.
    case closed
}

/// Why a connection left the table.
public enum RemovalReason: Sendable, Equatable {
    /// Both directions closed with FIN.
    case closed
    /// A RST was seen.
    case reset
    /// No segment for longer than the idle timeout.
    case idle
    /// The table was full (`maxConnections`) and this was the least recently active connection.
    case evicted
    /// A new SYN with a different initial sequence number arrived for the same endpoints (port reuse).
    case replaced
    /// `flushAll` at end of capture.
    case endOfCapture
}

public enum ConnectionEvent: Sendable, Equatable {
    /// A connection was seen for the first time. `client`/`server` are known when the handshake was seen
    /// (SYN without ACK: its sender is the client; SYN+ACK: its sender is the server), otherwise nil.
    case opened(id: Int, client: Endpoint?, server: Endpoint?, key: ConnectionKey, time: CaptureTime)
    /// Something happened on one byte stream of connection `id`.
    case stream(id: Int, direction: StreamDirection, event: ReassemblyEvent)
    /// The connection was removed from the table; no further events carry this id. Each direction was flushed
    /// (buffered data delivered, holes reported as gaps) before this.
    case removed(id: Int, reason: RemovalReason, time: CaptureTime)
}

/// A tracked connection.
public struct TCPConnection: Sendable {
    /// Stable small integer, assigned in order of first appearance, starting at 1.
    public let id: Int
    public let key: ConnectionKey
    /// The client (the side that sent the SYN), when known.
    public internal(set) var initiator: Endpoint?
    public internal(set) var firstSeen: CaptureTime
    public internal(set) var lastSeen: CaptureTime
    public internal(set) var state: ConnectionState
    /// Bytes sent by `key.low` to `key.high`.
    public internal(set) var lowToHigh: TCPReassembler
    /// Bytes sent by `key.high` to `key.low`.
    public internal(set) var highToLow: TCPReassembler

    /// The reassembler for bytes sent by `source` (which must be one of the key's endpoints).
    public func reassembler(from source: Endpoint) -> TCPReassembler {
        source == key.low ? lowToHigh : highToLow
    }

    /// The server side, when the client is known.
    public var responder: Endpoint? {
        guard let c = initiator else { return nil }
        return c == key.low ? key.high : key.low
    }
}

public struct TCPConnectionTable: Sendable {
    public let maxBufferedBytesPerDirection: Int
    public let maxConnections: Int
    /// Nanoseconds of inactivity after which a connection is flushed and removed.
    public let idleTimeout: Int64
    /// When true, `receive` runs `expireIdle(now: segment.time)` whenever capture time has advanced by at least
    /// `idleTimeout` since the last sweep, so callers need not call it themselves.
    public let automaticExpiry: Bool

    /// Connections in a dense array (mutated in place on the hot path), indexed by key.
    private var slots: [TCPConnection] = []
    private var slotOf: [ConnectionKey: Int] = [:]
    /// The slots of recently seen keys, by `quickHash` (-1: none): most packets find their connection here
    /// without hashing the key with SipHash. An entry is only a hint (a slot moves when another is removed):
    /// the slot's key is compared, and a miss goes to `slotOf`.
    private var recent = [Int32](repeating: -1, count: TCPConnectionTable.recentSize)
    private static let recentSize = 256
    /// Recently closed connections: late segments (final ACKs, retransmitted FIN/RST) for them are ignored
    /// instead of opening a new connection; a SYN starts a new connection. Bounded by `maxConnections`.
    private var tombstones: [ConnectionKey: CaptureTime] = [:]
    private var tombstoneOrder: [(key: ConnectionKey, time: CaptureTime)] = []
    private var tombstoneHead = 0
    private var nextID = 1
    private var lastSweep: CaptureTime?
    private var scratch: [ReassemblyEvent] = []

    /// Connections ever opened.
    public private(set) var connectionsOpened = 0
    /// Connections evicted because the table was full.
    public private(set) var evictions = 0
    /// Segments ignored because they belong to a connection that was already closed.
    public private(set) var ignoredSegments = 0

    /// How long an acknowledged hole is held for a late segment (see `TCPReassembler.ackHoldNanos`).
    public let ackHoldNanos: Int64
    public let ackHoldBytes: Int

    public init(maxBufferedBytesPerDirection: Int, maxConnections: Int, idleTimeout: Int64, automaticExpiry: Bool = true,
                ackHoldNanos: Int64 = 0, ackHoldBytes: Int = 1 << 20) {
        self.ackHoldNanos = max(0, ackHoldNanos)
        self.ackHoldBytes = ackHoldBytes
        self.maxBufferedBytesPerDirection = max(0, maxBufferedBytesPerDirection)
        self.maxConnections = max(1, maxConnections)
        self.idleTimeout = max(0, idleTimeout)
        self.automaticExpiry = automaticExpiry
    }

    /// Number of connections currently tracked.
    public var count: Int { slots.count }

    public func connection(_ key: ConnectionKey) -> TCPConnection? { slotOf[key].map { slots[$0] } }

    /// The tracked connections, ordered by id.
    public var activeConnections: [TCPConnection] { slots.sorted { $0.id < $1.id } }

    // MARK: Receiving

    /// Routes a segment to its connection (opening one, with `.opened`, when the key is new), appending the
    /// resulting events. A connection is removed (`.removed`) as soon as both directions closed or a RST was
    /// seen; late non-SYN segments for it are then ignored (`ignoredSegments`), a SYN starts a new connection.
    public mutating func receive(_ segment: TCPSegment, into events: inout [ConnectionEvent]) {
        let time = segment.time
        if automaticExpiry && idleTimeout > 0 {
            if let last = lastSweep {
                if TCPConnectionTable.elapsed(from: last, to: time) >= idleTimeout {
                    expireIdle(now: time, into: &events)
                }
            } else {
                lastSweep = time
            }
        }

        let key = ConnectionKey(segment.source, segment.destination)
        let flags = segment.flags
        let isSYN = flags.contains(.syn)
        if let index = slot(of: key) {
            if isSYN && isNewIncarnation(slots[index], segment) {
                remove(key, reason: .replaced, time: time, into: &events)
            } else {
                update(index, segment, into: &events)
                return
            }
        } else if tombstones[key] != nil {
            guard isSYN else {
                ignoredSegments += 1
                return
            }
            tombstones[key] = nil
        }

        if slots.count >= maxConnections { evictLeastRecentlyActive(time: time, into: &events) }
        var client: Endpoint?
        if isSYN { client = flags.contains(.ack) ? segment.destination : segment.source }
        let id = nextID
        nextID += 1
        connectionsOpened += 1
        let reassembler = TCPReassembler(maxBufferedBytes: maxBufferedBytesPerDirection, ackHoldNanos: ackHoldNanos,
                                         ackHoldBytes: min(ackHoldBytes, maxBufferedBytesPerDirection))
        slotOf[key] = slots.count
        slots.append(TCPConnection(id: id, key: key, initiator: client, firstSeen: time, lastSeen: time,
                                   state: .open, lowToHigh: reassembler, highToLow: reassembler))
        let server: Endpoint? = client.map { $0 == segment.source ? segment.destination : segment.source }
        events.append(.opened(id: id, client: client, server: server, key: key, time: time))
        update(slots.count - 1, segment, into: &events)
    }

    /// The slot of `key`: from the cache of recent keys when it holds it, else from `slotOf` (and cached).
    @inline(__always)
    private mutating func slot(of key: ConnectionKey) -> Int? {
        let h = Int(truncatingIfNeeded: key.quickHash >> 56)  // the top 8 bits: 256 entries
        let hint = Int(recent[h])
        if hint >= 0 && hint < slots.count && slots[hint].key == key { return hint }
        guard let index = slotOf[key] else { return nil }
        recent[h] = Int32(truncatingIfNeeded: index)
        return index
    }

    /// A SYN on a tracked connection starts a new one (port reuse) unless it is a retransmission of the SYN
    /// (or SYN+ACK) that started this direction.
    private func isNewIncarnation(_ c: TCPConnection, _ segment: TCPSegment) -> Bool {
        let r = c.reassembler(from: segment.source)
        guard let base = r.sequenceBase else { return c.state != .open }
        return base != segment.sequence &+ 1
    }

    /// Reassembly events as connection events, in order, each moved out of `local` (left empty).
    private static func move(_ local: inout [ReassemblyEvent], into events: inout [ConnectionEvent], id: Int, direction: StreamDirection) {
        local.removeEachInOrder { events.append(.stream(id: id, direction: direction, event: $0)) }
    }

    private mutating func update(_ index: Int, _ segment: TCPSegment,
                                 into events: inout [ConnectionEvent]) {
        var local = [ReassemblyEvent]()
        swap(&local, &scratch)
        defer {
            local.clearKeepingCapacity()
            swap(&local, &scratch)
        }
        let key = slots[index].key
        let id = slots[index].id
        if segment.time > slots[index].lastSeen { slots[index].lastSeen = segment.time }
        let fromLow = segment.source == key.low
        let direction = StreamDirection(source: segment.source, destination: segment.destination)

        if fromLow {
            slots[index].lowToHigh.receive(segment, into: &local)
        } else {
            slots[index].highToLow.receive(segment, into: &local)
        }
        Self.move(&local, into: &events, id: id, direction: direction)

        // An acknowledgement beyond a hole in the other direction proves the hole was lost in the capture.
        if segment.flags.contains(.ack) {
            if fromLow {
                slots[index].highToLow.acknowledged(segment.acknowledgement, time: segment.time, into: &local)
            } else {
                slots[index].lowToHigh.acknowledged(segment.acknowledgement, time: segment.time, into: &local)
            }
            Self.move(&local, into: &events, id: id, direction: direction.reversed)
        }

        // Read only the close state (copying whole reassemblers here would force copy-on-write below).
        let lowReason = slots[index].lowToHigh.closeReason
        let highReason = slots[index].highToLow.closeReason
        let thisReason = fromLow ? lowReason : highReason
        let otherReason = fromLow ? highReason : lowReason
        if thisReason == .reset || otherReason == .reset {
            // A reset ends both streams.
            if fromLow {
                slots[index].highToLow.abort(time: segment.time, into: &local)
            } else {
                slots[index].lowToHigh.abort(time: segment.time, into: &local)
            }
            Self.move(&local, into: &events, id: id, direction: direction.reversed)
            slots[index].state = .closed
            detach(key)
            events.append(.removed(id: id, reason: .reset, time: segment.time))
            addTombstone(key, time: segment.time)
        } else if thisReason != nil && otherReason != nil {
            slots[index].state = .closed
            detach(key)
            events.append(.removed(id: id, reason: .closed, time: segment.time))
            addTombstone(key, time: segment.time)
        } else if thisReason != nil || otherReason != nil {
            slots[index].state = .closing
        }
    }

    // MARK: Expiry and eviction

    /// Flushes and removes connections with no segment for longer than `idleTimeout` before `now`, in id
    /// order. Also forgets closed connections older than that.
    public mutating func expireIdle(now: CaptureTime, into events: inout [ConnectionEvent]) {
        lastSweep = now
        let idle = slots
            .filter { TCPConnectionTable.elapsed(from: $0.lastSeen, to: now) > idleTimeout }
            .sorted { $0.id < $1.id }
        for c in idle { remove(c.key, reason: .idle, time: now, into: &events) }
        while tombstoneHead < tombstoneOrder.count {
            let t = tombstoneOrder[tombstoneHead]
            guard TCPConnectionTable.elapsed(from: t.time, to: now) > idleTimeout else { break }
            popTombstone()
        }
        compactTombstones()
    }

    /// End of capture: flushes every connection (in id order) and removes it.
    public mutating func flushAll(into events: inout [ConnectionEvent]) {
        for c in activeConnections { remove(c.key, reason: .endOfCapture, time: c.lastSeen, into: &events) }
        tombstones = [:]
        tombstoneOrder = []
        tombstoneHead = 0
    }

    private mutating func evictLeastRecentlyActive(time: CaptureTime, into events: inout [ConnectionEvent]) {
        var victim: TCPConnection?
        for c in slots {
            if let v = victim, (v.lastSeen, v.id) < (c.lastSeen, c.id) { continue }
            victim = c
        }
        guard let v = victim else { return }
        evictions += 1
        remove(v.key, reason: .evicted, time: time, into: &events)
    }

    /// Flushes both directions of a connection and removes it.
    private mutating func remove(_ key: ConnectionKey, reason: RemovalReason, time: CaptureTime,
                                 into events: inout [ConnectionEvent]) {
        guard var c = detach(key) else { return }
        var local = [ReassemblyEvent]()
        swap(&local, &scratch)
        let lowDir = StreamDirection(source: key.low, destination: key.high)
        // Report the client's stream first when known.
        let clientFirst = c.initiator != key.high
        for fromLow in clientFirst ? [true, false] : [false, true] {
            if fromLow { c.lowToHigh.flush(into: &local) } else { c.highToLow.flush(into: &local) }
            let dir = fromLow ? lowDir : lowDir.reversed
            Self.move(&local, into: &events, id: c.id, direction: dir)
        }
        swap(&local, &scratch)
        events.append(.removed(id: c.id, reason: reason, time: time))
    }

    /// Removes a connection from the dense array (swap with the last one).
    @discardableResult
    private mutating func detach(_ key: ConnectionKey) -> TCPConnection? {
        guard let i = slotOf.removeValue(forKey: key) else { return nil }
        let last = slots.count - 1
        if i != last {
            slots.swapAt(i, last)
            slotOf[slots[i].key] = i
        }
        return slots.removeLast()
    }

    // MARK: Tombstones

    private mutating func addTombstone(_ key: ConnectionKey, time: CaptureTime) {
        tombstones[key] = time
        tombstoneOrder.append((key, time))
        while tombstones.count > maxConnections && tombstoneHead < tombstoneOrder.count { popTombstone() }
        compactTombstones()
    }

    private mutating func popTombstone() {
        let t = tombstoneOrder[tombstoneHead]
        tombstoneHead += 1
        // Only forget the key if this entry is its latest closing.
        if tombstones[t.key] == t.time { tombstones[t.key] = nil }
    }

    private mutating func compactTombstones() {
        if tombstoneHead > 64 && tombstoneHead * 2 > tombstoneOrder.count {
            tombstoneOrder.removeFirst(tombstoneHead)
            tombstoneHead = 0
        }
        // Entries superseded by a later closing of the same key stay in the order array; bound it too.
        if tombstoneOrder.count - tombstoneHead > 2 * maxConnections + 64 {
            tombstoneOrder = tombstoneOrder[tombstoneHead...].filter { tombstones[$0.key] == $0.time }
            tombstoneHead = 0
        }
    }

    static func elapsed(from a: CaptureTime, to b: CaptureTime) -> Int64 {
        let (d, overflow) = b.nanoseconds.subtractingReportingOverflow(a.nanoseconds)
        if overflow { return b.nanoseconds > a.nanoseconds ? Int64.max : Int64.min }
        return d
    }
}
