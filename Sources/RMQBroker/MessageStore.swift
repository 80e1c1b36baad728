import Foundation
import NIOConcurrencyHelpers
import NIOCore
import RocketMQRemoting

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum FsyncPolicy: Sendable, Equatable {
    /// fsync after every append, before the send is answered.
    case always
    /// fsync at most every N ms (from the clock tick).
    case interval(millis: Int64)
}

public struct StoreError: Error, CustomStringConvertible {
    public var description: String
    init(_ what: String) { description = what }
    static func errno(_ what: String) -> StoreError { StoreError("\(what): \(String(cString: strerror(Glibc.errno)))") }
}

/// What was read back at start-up (the records themselves went to the restore callback).
public struct StoreContents {
    public var recordCount: Int
    public var offsets: [OffsetKey: Int64]
    public var scheduleOffsets: [Int32: Int64]
    public var topics: [TopicConfig]
    /// Log lines: a torn tail cut, files missing.
    public var notes: [String]
}

/// The durable store: one commit log of stored records (section 6 format, each at its physical offset, so a
/// record's position is its PHYSICALOFFSET), a consume-queue index file per queue (`consumequeue/TOPIC/QUEUE`: the
/// queue offset of its first entry, then 28-byte entries, as the real ConsumeQueue's 20-byte units plus the store
/// time), and JSON files for offsets and topics, replaced atomically. The commit log is the truth: the index files
/// are rebuilt from it at start-up, so they are never fsynced. As ``ColdStorage`` it reads back what the broker
/// state no longer keeps in memory.
public final class MessageStore: @unchecked Sendable, ColdStorage {
    public let directory: String
    public let policy: FsyncPolicy
    var fd: Int32 = -1
    /// The end of the records (the file may be longer: see `window`).
    public private(set) var size: Int64 = 0
    /// The commit log is written through a shared mapping of the file, as the real broker's MappedFile: an append
    /// is a copy into the page cache, with no system call, and is in the file (for any reader, and across a
    /// kill -9 of this process) once copied, as a write(2) is; fsync writes it to the disk. The window covers
    /// `windowBytes` from a page boundary at or before the end; the file is allocated up to the window's end
    /// (posix_fallocate: a full disk is an error of the append, never a SIGBUS of a write into the mapping),
    /// and cut back to the records' end on close. A file with zeros after its last record (a kill -9 of this
    /// process) is read back with its zeros cut, without a note.
    var window: UnsafeMutableRawPointer?
    var windowBase: Int64 = 0
    /// The window's size (set before `open`); a window is made larger where the largest record and two pages
    /// would not fit in it.
    public var windowBytes = 16 << 20
    /// The size of the window mapped now.
    var mappedBytes = 0
    var unsynced = false
    var lastSync: Int64 = 0
    /// Index files open for appending and reading, with their first queue offset.
    var indexes: [QueueKey: (fd: Int32, base: Int64)] = [:]
    /// Index entries not yet written to their files. The index files are rebuilt from the commit log at start-up,
    /// so their writes wait: for the clock's tick, 64 KiB of a queue, a read of that queue's index, or close. A
    /// send costs one write (its record) instead of two.
    var indexPending: [QueueKey: ByteBuffer] = [:]
    static let indexPendingLimit = 1 << 16
    /// Largest record accepted when reading back (a size word is never trusted beyond it).
    public var maxRecordSize = 4 * 1024 * 1024 + 64 * 1024

    public var commitLogPath: String { directory + "/commitlog.dat" }
    var offsetsPath: String { directory + "/offsets.json" }
    var topicsPath: String { directory + "/topics.json" }
    var indexDirectory: String { directory + "/consumequeue" }

    public init(directory: String, policy: FsyncPolicy) {
        self.directory = directory
        self.policy = policy
    }

    /// Opens (creating) the store and reads the commit log back, record by record, into `restore` (which returns
    /// each record's queue entry, written to the rebuilt index files); a torn or corrupt tail is cut. The log is
    /// read in chunks: memory is bounded by the chunk and the largest record, not by the log.
    public func open(restore: (ByteBuffer) throws -> IndexedEntry) throws -> StoreContents {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        fd = Glibc.open(commitLogPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        if fd < 0 { throw StoreError.errno("cannot open \(commitLogPath)") }
        try? FileManager.default.removeItem(atPath: indexDirectory)
        var notes: [String] = []
        var st = stat()
        if fstat(fd, &st) != 0 { throw StoreError.errno("stat \(commitLogPath)") }
        let fileSize = Int64(st.st_size)
        var pos: Int64 = 0
        var count = 0
        var cutReason: String?
        var chunk = ByteBuffer()
        let chunkSize = 8 << 20
        scan: while pos < fileSize {
            // A chunk from `pos` (at least one largest record): whole records are taken from it; one cut by its end
            // starts the next chunk.
            let want = Int(min(Int64(max(chunkSize, maxRecordSize)), fileSize - pos))
            let atEnd = pos + Int64(want) >= fileSize
            chunk.clear()
            guard try readFully(into: &chunk, count: want, at: pos, fd: fd) == want else { cutReason = "read error"; break }
            while chunk.readableBytes > 0 {
                let at = pos
                if let why = chunk.withUnsafeReadableBytes({ Self.check($0, position: Int(at)) }) {
                    let total = chunk.getInteger(at: chunk.readerIndex, as: Int32.self).map(Int.init) ?? 0
                    let cutByChunk = chunk.readableBytes < 4 || (total <= maxRecordSize && total > chunk.readableBytes)
                    if cutByChunk && !atEnd && chunk.readerIndex > 0 { continue scan }
                    cutReason = why
                    break scan
                }
                let total = Int(chunk.getInteger(at: chunk.readerIndex, as: Int32.self)!)
                try addIndexEntry(try restore(chunk.readSlice(length: total)!))
                pos += Int64(total)
                count += 1
            }
        }
        try flushIndexes()
        if cutReason != nil, try isZero(from: pos, to: fileSize) {
            // The unused end of the last window (the broker stopped without closing the store): not a tear.
            cutReason = nil
            if ftruncate(fd, off_t(pos)) != 0 { throw StoreError.errno("cannot truncate \(commitLogPath)") }
        }
        if let why = cutReason {
            let cut = fileSize - pos
            if ftruncate(fd, off_t(pos)) != 0 { throw StoreError.errno("cannot truncate \(commitLogPath)") }
            _ = fsync(fd)
            notes.append("commit log \(commitLogPath): torn or corrupt tail at byte \(pos) (\(why)): cut \(cut) bytes, \(count) records kept")
        }
        size = pos
        // What a process before this one wrote is made durable once, so that the syncs from here on cover only
        // what this one appends (`syncRange`).
        if fsync(fd) != 0 { throw StoreError.errno("fsync \(commitLogPath)") }
        background.withLockedValue { $0.synced = pos }
        try mapWindow(at: pos)
        var offsets: [OffsetKey: Int64] = [:]
        var schedule: [Int32: Int64] = [:]
        if let d = FileManager.default.contents(atPath: offsetsPath) {
            do {
                let f = try JSONDecoder().decode(OffsetsFile.self, from: d)
                for o in f.offsets { offsets[OffsetKey(group: o.group, topic: o.topic, queueId: o.queueId)] = o.offset }
                for (k, v) in f.schedule { if let l = Int32(k) { schedule[l] = v } }
            } catch {
                notes.append("offsets file \(offsetsPath) unreadable (\(error)); starting without committed offsets")
            }
        }
        var topics: [TopicConfig] = []
        if let d = FileManager.default.contents(atPath: topicsPath) {
            do { topics = try JSONDecoder().decode([TopicConfig].self, from: d) } catch {
                notes.append("topics file \(topicsPath) unreadable (\(error)); topics rebuilt from the commit log")
            }
        }
        return StoreContents(recordCount: count, offsets: offsets, scheduleOffsets: schedule, topics: topics, notes: notes)
    }

    /// The size of a window.
    var windowSize: Int {
        let page = Self.pageSize
        return (max(windowBytes, maxRecordSize + 2 * page) + page - 1) / page * page
    }

    /// Maps the window that starts at the page holding `offset`, allocating the file up to its end: the window
    /// the store's thread made ready ahead (`prepareNextWindow`) when it covers `offset..<offset + need`.
    func mapWindow(at offset: Int64, need: Int = 0) throws {
        unmapWindow()
        if let next = takeNextWindow() {
            if next.base <= offset && offset + Int64(need) <= next.base + Int64(next.bytes) {
                (window, windowBase, mappedBytes) = (next.pointer, next.base, next.bytes)
                preparedWindowsTaken += 1
                return
            }
            munmap(next.pointer, next.bytes)
        }
        let page = Self.pageSize
        let base = offset - offset % Int64(page)
        let w = try Self.map(fd: fd, base: base, bytes: windowSize, path: commitLogPath)
        (window, windowBase, mappedBytes) = (w.pointer, w.base, w.bytes)
    }

    /// A window of the commit log: `bytes` mapped at `pointer` from file offset `base`.
    struct Window: @unchecked Sendable {
        var pointer: UnsafeMutableRawPointer
        var base: Int64
        var bytes: Int
    }

    /// Allocates `bytes` of the file at `base` and maps them; with `populate`, the pages are also made present
    /// and writable (MADV_POPULATE_WRITE), so that copying records into them takes no page fault.
    static func map(fd: Int32, base: Int64, bytes: Int, path: String, populate: Bool = false) throws -> Window {
        let err = posix_fallocate(fd, off_t(base), off_t(bytes))
        if err != 0 { throw StoreError("cannot allocate \(bytes) bytes of \(path) at \(base): \(String(cString: strerror(err)))") }
        let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off_t(base))
        guard let p, p != MAP_FAILED else { throw StoreError.errno("cannot map \(path) at \(base)") }
        if populate { _ = madvise(p, bytes, madvisePopulateWrite) }
        return Window(pointer: p, base: base, bytes: bytes)
    }

    /// MADV_POPULATE_WRITE (Linux 5.14; an older kernel answers EINVAL and nothing is populated).
    static let madvisePopulateWrite: Int32 = 23

    /// With the store's own thread (`syncInBackground`): once the records pass the middle of the window, that
    /// thread maps the next one and makes its pages present, off the path of the sends. A page of the log
    /// written for the first time through the mapping is a page fault: about 1.3 us here, 5-10 us on a VM whose
    /// host backs fresh guest memory lazily (as this one did once a JVM had started beside the broker), some
    /// 6,000 of them per 100,000 small messages. The next window starts a largest record before the current one
    /// ends, so that it covers wherever the record that does not fit begins.
    func prepareNextWindow() {
        guard syncInBackground, window != nil, !nextWindowRequested,
              size - windowBase > Int64(mappedBytes / 2) else { return }
        nextWindowRequested = true
        let page = Int64(Self.pageSize)
        let end = windowBase + Int64(mappedBytes)
        let start = max(windowBase, end - Int64(maxRecordSize))
        let base = start - start % page
        let fd = fd, bytes = windowSize, path = commitLogPath, background = background
        syncQueue.async {
            // Not ready or failed: the sends map the window themselves, as without this (a failure is theirs to report).
            guard let w = try? Self.map(fd: fd, base: base, bytes: bytes, path: path, populate: true) else { return }
            background.withLockedValue { b in
                if let old = b.next { munmap(old.pointer, old.bytes) }
                b.next = w
            }
        }
    }

    /// The window the store's thread made ready, now the caller's to use or unmap.
    func takeNextWindow() -> Window? {
        background.withLockedValue { b in
            defer { b.next = nil }
            return b.next
        }
    }

    /// Windows made ready by the store's thread that the appends went on in (tests).
    var preparedWindowsTaken = 0

    /// Whether the next window was asked of the store's thread since the current one was mapped.
    var nextWindowRequested = false

    func unmapWindow() {
        if let w = window { munmap(w, mappedBytes) }
        window = nil
        nextWindowRequested = false
    }

    static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// Whether the file holds only zero bytes in `from..<to` (read in chunks).
    func isZero(from: Int64, to: Int64) throws -> Bool {
        var pos = from
        var chunk = ByteBuffer()
        while pos < to {
            chunk.clear()
            let n = try readFully(into: &chunk, count: Int(min(1 << 20, to - pos)), at: pos, fd: fd)
            if n == 0 { return false }
            if !chunk.readableBytesView.allSatisfy({ $0 == 0 }) { return false }
            pos += Int64(n)
        }
        return true
    }

    /// Why the record at the start of `bytes` is not a whole, sound record, or nil.
    static func check(_ bytes: UnsafeRawBufferPointer, position: Int) -> String? {
        guard bytes.count >= 4 else { return "\(bytes.count) bytes, not a record length" }
        let total = Int(bytes.loadUnaligned(as: Int32.self).bigEndian)
        if total < 84 { return "record length \(total) is too small" }
        if total > bytes.count { return "record of \(total) bytes, only \(bytes.count) written" }
        let rec = UnsafeRawBufferPointer(rebasing: bytes[0..<total])
        let batch = StoredMessageDecoder.decodeAll(rec, context: "commit log")
        guard batch.error == nil, let m = batch.messages.first, batch.messages.count == 1 else {
            return "record does not decode: \(batch.error.map { "\($0)" } ?? "no record")"
        }
        if !m.crcMatches { return "body CRC mismatch" }
        if m.physicalOffset != Int64(position) { return "record says physical offset \(m.physicalOffset)" }
        return nil
    }

    /// Appends records (contiguous, at the end of the log) and their index entries; with `.always` the records
    /// are on disk when this returns.
    public func append(_ records: [ByteBuffer], entries: [IndexedEntry], now: Int64) throws {
        for r in records {
            let n = r.readableBytes
            if window == nil || size + Int64(n) > windowBase + Int64(mappedBytes) { try mapWindow(at: size, need: n) }
            r.withUnsafeReadableBytes { raw in
                if let base = raw.baseAddress { (window! + Int(size - windowBase)).copyMemory(from: base, byteCount: n) }
            }
            size += Int64(n)
        }
        unsynced = true
        prepareNextWindow()
        if policy == .always { try sync(now: now) }
        // A batch's entries are of one queue: its tables are looked up once per run of one queue, not per entry.
        var i = 0
        while i < entries.count {
            var end = i + 1
            while end < entries.count && entries[end].queue == entries[i].queue { end += 1 }
            try addIndexEntries(entries[i..<end])
            i = end
        }
    }

    /// Queues `e` for its index file (opened, with the queue's first offset, on its first entry).
    func addIndexEntry(_ e: IndexedEntry) throws {
        try addIndexEntries(CollectionOfOne(e))
    }

    /// Writes the entries into `buffer`; returns how many bytes it holds then.
    private static func write(_ run: some Collection<IndexedEntry>, into buffer: inout ByteBuffer) -> Int {
        for e in run { e.entry.write(into: &buffer) }
        return buffer.readableBytes
    }

    /// Queues entries of one queue, in order, for its index file.
    func addIndexEntries(_ run: some Collection<IndexedEntry>) throws {
        guard let first = run.first else { return }
        let key = first.queue
        if indexes[key] == nil { indexes[key] = (try openIndex(key, base: first.queueOffset), first.queueOffset) }
        // One access to the queue's pending bytes, written in place.
        if Self.write(run, into: &indexPending[key, default: ByteBuffer()]) >= Self.indexPendingLimit { try flushIndex(key) }
    }

    /// Writes the waiting index entries of every queue.
    public func flushIndexes() throws {
        for key in Array(indexPending.keys) { try flushIndex(key) }
    }

    func flushIndex(_ key: QueueKey) throws {
        guard let f = indexes[key]?.fd, let buf = indexPending[key], buf.readableBytes > 0 else { return }
        try buf.withUnsafeReadableBytes { try writeFully(f, $0, what: "index of \(key)") }
        indexPending[key]?.clear()
    }

    // MARK: Index files

    /// A file name for a topic: as it is when made of RocketMQ's topic characters, else hex of its UTF-8.
    static func fileName(_ topic: String) -> String {
        let plain = !topic.isEmpty && topic.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x25 || c == 0x7C || c == 0x5F || c == 0x2D
        }
        return plain ? topic : "x" + topic.utf8.map { String(format: "%02x", $0) }.joined()
    }

    func openIndex(_ key: QueueKey, base: Int64) throws -> Int32 {
        let dir = indexDirectory + "/" + Self.fileName(key.topic)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/\(key.queueId)"
        let f = Glibc.open(path, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o644)
        if f < 0 { throw StoreError.errno("cannot open \(path)") }
        var head = ByteBuffer()
        head.writeInteger(base)
        try head.withUnsafeReadableBytes { try writeFully(f, $0, what: path) }
        return f
    }

    // MARK: ColdStorage

    public func readEntries(_ key: QueueKey, from offset: Int64, count: Int) -> [QueueEntry] {
        guard let (f, base) = indexes[key], offset >= base, count > 0 else { return [] }
        if indexPending[key].map({ $0.readableBytes > 0 }) == true {
            do { try flushIndex(key) } catch { return [] }
        }
        var buf = ByteBuffer()
        let at = 8 + (offset - base) * Int64(QueueEntry.diskSize)
        guard let n = try? readFully(into: &buf, count: count * QueueEntry.diskSize, at: at, fd: f) else { return [] }
        var out: [QueueEntry] = []
        out.reserveCapacity(n / QueueEntry.diskSize)
        while let e = QueueEntry.read(&buf) { out.append(e) }
        return out
    }

    public func readRecords(_ at: [QueueEntry]) -> [ByteBuffer?] {
        guard let first = at.first, let last = at.last else { return [] }
        // One read for the span when the records are close together (one pull's records are), else one each.
        let span = last.physicalOffset + Int64(last.size) - first.physicalOffset
        let total = at.reduce(0) { $0 + Int($1.size) }
        if span > 0, span <= Int64(max(4 * total, 1 << 20)), at.allSatisfy({ $0.size > 0 && Int($0.size) <= maxRecordSize }) {
            var buf = ByteBuffer()
            guard (try? readFully(into: &buf, count: Int(span), at: first.physicalOffset, fd: fd)) == Int(span) else {
                return at.map { readOne($0.physicalOffset, size: Int($0.size)) }
            }
            return at.map { buf.getSlice(at: Int($0.physicalOffset - first.physicalOffset), length: Int($0.size)) }
        }
        return at.map { readOne($0.physicalOffset, size: Int($0.size)) }
    }

    public func readRecord(physicalOffset: Int64, maxSize: Int) -> ByteBuffer? {
        var head = ByteBuffer()
        guard physicalOffset >= 0, (try? readFully(into: &head, count: 4, at: physicalOffset, fd: fd)) == 4,
              let size = head.readInteger(as: Int32.self), size >= 84, Int(size) <= min(maxSize, maxRecordSize) else { return nil }
        return readOne(physicalOffset, size: Int(size))
    }

    func readOne(_ physical: Int64, size: Int) -> ByteBuffer? {
        guard size > 0, size <= maxRecordSize, physical >= 0, physical + Int64(size) <= self.size else { return nil }
        var buf = ByteBuffer()
        guard (try? readFully(into: &buf, count: size, at: physical, fd: fd)) == size else { return nil }
        return buf
    }

    /// pread until `count` bytes or the end of the file; the bytes read.
    func readFully(into buf: inout ByteBuffer, count: Int, at offset: Int64, fd: Int32) throws -> Int {
        // Records in the mapped window are copied from it (no system call).
        if fd == self.fd, let w = window, offset >= windowBase, offset + Int64(count) <= min(size, windowBase + Int64(mappedBytes)) {
            buf.writeBytes(UnsafeRawBufferPointer(start: w + Int(offset - windowBase), count: count))
            return count
        }
        var done = 0
        try buf.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { raw in
            while done < count {
                let n = pread(fd, raw.baseAddress! + done, count - done, off_t(offset + Int64(done)))
                if n < 0 { if errno == EINTR { continue }; throw StoreError.errno("read") }
                if n == 0 { break }
                done += n
            }
            return done
        }
        return done
    }

    public func sync(now: Int64) throws {
        guard unsynced else { return }
        let from = background.withLockedValue { $0.synced }
        if let failure = Self.syncRange(fd: fd, from: from, to: size, path: commitLogPath) { throw StoreError(failure) }
        background.withLockedValue { $0.synced = max($0.synced, size) }
        unsynced = false
        lastSync = now
    }

    /// Makes bytes `from..<to` of the commit log durable: written to the disk, with the file's metadata that
    /// reading them back needs (its size, the allocation of its blocks). That is `vfs_fsync_range` with
    /// `datasync`, which Linux offers only as msync(MS_SYNC) of a mapping of the range (Java's
    /// `MappedByteBuffer.force`, as the real broker flushes its commit log); the range is mapped for it and
    /// unmapped after. fsync(2) of the whole file, as before, also wrote back the next window: its pages, made
    /// present and writable ahead of the sends (`prepareNextWindow`), are dirty, so the fsync wrote their zeros
    /// to the disk and made them read-only again, and each took a page fault on its first record (4,500-7,800
    /// more faults on the path of the sends per 300,000 small messages in two measurements here, and 100 MB
    /// written to the disk where 81 MB are now).
    /// Returns the failure, nil on success. When the range cannot be mapped, the whole file is fsynced.
    static func syncRange(fd: Int32, from: Int64, to: Int64, path: String) -> String? {
        guard to > from else { return nil }
        let page = Int64(pageSize)
        let base = from - from % page
        let length = Int(to - base)
        let p = mmap(nil, length, PROT_READ, MAP_SHARED, fd, off_t(base))
        guard let p, p != MAP_FAILED else {
            return fsync(fd) == 0 ? nil : StoreError.errno("fsync \(path)").description
        }
        defer { munmap(p, length) }
        return msync(p, length, MS_SYNC) == 0 ? nil : StoreError.errno("msync \(path) at \(base)").description
    }

    /// The interval policy's flush, from the clock. With `syncInBackground` the commit log's fsync runs on the
    /// store's own thread, as the real broker's flush service does, so that the caller (the broker, holding
    /// its lock) does not wait for the disk: an fsync of a few MiB took 5-11 ms here, every request stopped
    /// meanwhile. What is appended while it runs waits for the next tick's. A failed one is thrown by the next
    /// tick.
    public func tick(now: Int64) throws {
        try flushIndexes()
        if let failure = background.withLockedValue({ b -> String? in defer { b.failure = nil }; return b.failure }) {
            unsynced = true
            throw StoreError(failure)
        }
        guard case .interval(let ms) = policy, unsynced, now - lastSync >= ms else { return }
        guard syncInBackground else { return try sync(now: now) }
        // One at a time: while one runs, the next tick tries again.
        let from = background.withLockedValue { b -> Int64? in
            if b.running { return nil }
            b.running = true
            return b.synced
        }
        guard let from else { return }
        unsynced = false
        lastSync = now
        let fd = fd, to = size, path = commitLogPath, background = background
        syncQueue.async {
            let failed = Self.syncRange(fd: fd, from: from, to: to, path: path)
            background.withLockedValue { b in
                b.running = false
                if let failed { b.failure = failed } else { b.synced = max(b.synced, to) }
            }
        }
    }

    /// `writeOffsets` on the store's own thread, after the fsyncs and writes queued before it (the interval
    /// policy's offsets, every second: their file's fsync took 1-8 ms here while the commit log's ran). A failure
    /// is thrown by the next tick.
    public func writeOffsetsInBackground(_ offsets: [OffsetKey: Int64], schedule: [Int32: Int64]) {
        let background = background
        syncQueue.async { [self] in
            do { try writeOffsets(offsets, schedule: schedule) } catch {
                background.withLockedValue { $0.failure = "\(error)" }
            }
        }
    }

    /// Interval fsyncs on `syncQueue` instead of the caller's thread (set before `open`).
    public var syncInBackground = false
    let syncQueue = DispatchQueue(label: "rmq-broker-store-fsync")
    let background = NIOLockedValueBox<Background>(Background())
    /// What the store's thread shares with the broker's: a running fsync, the last failure, the next window.
    struct Background: Sendable {
        var running = false
        var failure: String?
        var next: Window?
        /// The commit log's bytes up to here are on the disk (`syncRange`).
        var synced: Int64 = 0
    }

    struct OffsetsFile: Codable {
        struct Entry: Codable {
            var group: String
            var topic: String
            var queueId: Int32
            var offset: Int64
        }
        var offsets: [Entry]
        var schedule: [String: Int64]
    }

    public func writeOffsets(_ offsets: [OffsetKey: Int64], schedule: [Int32: Int64]) throws {
        let entries = offsets.map { OffsetsFile.Entry(group: $0.key.group, topic: $0.key.topic, queueId: $0.key.queueId, offset: $0.value) }
            .sorted { ($0.group, $0.topic, $0.queueId) < ($1.group, $1.topic, $1.queueId) }
        let f = OffsetsFile(offsets: entries, schedule: Dictionary(uniqueKeysWithValues: schedule.map { (String($0.key), $0.value) }))
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        try replace(offsetsPath, with: try enc.encode(f))
    }

    public func writeTopics(_ topics: [TopicConfig]) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        try replace(topicsPath, with: try enc.encode(topics.sorted { $0.topicName < $1.topicName }))
    }

    /// Write a temporary file, fsync it, rename it over the old one, fsync the directory.
    func replace(_ path: String, with data: Data) throws {
        let tmp = path + ".tmp"
        let f = Glibc.open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if f < 0 { throw StoreError.errno("cannot create \(tmp)") }
        defer { Glibc.close(f) }
        try data.withUnsafeBytes { try writeFully(f, $0, what: tmp) }
        if fsync(f) != 0 { throw StoreError.errno("fsync \(tmp)") }
        if rename(tmp, path) != 0 { throw StoreError.errno("rename \(tmp)") }
        let d = Glibc.open(directory, O_RDONLY | O_CLOEXEC)
        if d >= 0 { _ = fsync(d); Glibc.close(d) }
    }

    /// Returns once the fsyncs and writes queued on the store's thread are done.
    public func waitForBackground() { syncQueue.sync {} }

    public func close(now: Int64) {
        waitForBackground()  // a background fsync or offsets write still running ends first
        try? flushIndexes()
        unmapWindow()
        if let next = takeNextWindow() { munmap(next.pointer, next.bytes) }
        if fd >= 0 {
            // The window's unused end goes; the records are synced after the cut (the file's size with them):
            // the whole file, its new size included.
            _ = ftruncate(fd, off_t(size))
            _ = fsync(fd)
            unsynced = false
            Glibc.close(fd)
            fd = -1
        }
        for (_, i) in indexes { Glibc.close(i.fd) }
        indexes = [:]
    }
}

/// write(2) until everything is written.
func writeFully(_ fd: Int32, _ raw: UnsafeRawBufferPointer, what: String) throws {
    var done = 0
    while done < raw.count {
        let n = Glibc.write(fd, raw.baseAddress! + done, raw.count - done)
        if n < 0 {
            if errno == EINTR { continue }
            throw StoreError.errno("write to \(what)")
        }
        done += n
    }
}

