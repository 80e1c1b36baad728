import Foundation
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

/// What was read back at start-up.
public struct StoreContents {
    public var records: [ByteBuffer]
    public var offsets: [OffsetKey: Int64]
    public var scheduleOffsets: [Int32: Int64]
    public var topics: [TopicConfig]
    /// Log lines: a torn tail cut, files missing.
    public var notes: [String]
}

/// The durable store: one commit log of stored records (section 6 format, each at its physical offset, so a
/// record's position is its PHYSICALOFFSET) and JSON files for offsets and topics, replaced atomically.
/// Consume queues are rebuilt from the commit log at start-up.
public final class MessageStore: @unchecked Sendable {
    public let directory: String
    public let policy: FsyncPolicy
    var fd: Int32 = -1
    public private(set) var size: Int64 = 0
    var unsynced = false
    var lastSync: Int64 = 0

    public var commitLogPath: String { directory + "/commitlog.dat" }
    var offsetsPath: String { directory + "/offsets.json" }
    var topicsPath: String { directory + "/topics.json" }

    public init(directory: String, policy: FsyncPolicy) {
        self.directory = directory
        self.policy = policy
    }

    /// Opens (creating) the store and reads everything back; a torn or corrupt tail is cut.
    public func open() throws -> StoreContents {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        fd = Glibc.open(commitLogPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        if fd < 0 { throw StoreError.errno("cannot open \(commitLogPath)") }
        var notes: [String] = []
        let data = (try? Data(contentsOf: URL(fileURLWithPath: commitLogPath))) ?? Data()
        var records: [ByteBuffer] = []
        var pos = 0
        var cutReason: String?
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            while pos < raw.count {
                let rest = UnsafeRawBufferPointer(rebasing: raw[pos...])
                if let why = Self.check(rest, position: pos) { cutReason = why; break }
                let total = Int(rest.loadUnaligned(as: Int32.self).bigEndian)
                records.append(ByteBuffer(bytes: UnsafeRawBufferPointer(rebasing: rest[0..<total])))
                pos += total
            }
        }
        if let why = cutReason {
            let cut = data.count - pos
            if ftruncate(fd, off_t(pos)) != 0 { throw StoreError.errno("cannot truncate \(commitLogPath)") }
            _ = fsync(fd)
            notes.append("commit log \(commitLogPath): torn or corrupt tail at byte \(pos) (\(why)): cut \(cut) bytes, \(records.count) records kept")
        }
        size = Int64(pos)
        _ = lseek(fd, off_t(pos), SEEK_SET)
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
        return StoreContents(records: records, offsets: offsets, scheduleOffsets: schedule, topics: topics, notes: notes)
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

    /// Appends records; with `.always` they are on disk when this returns.
    public func append(_ records: [ByteBuffer], now: Int64) throws {
        for r in records {
            try r.withUnsafeReadableBytes { raw in
                var done = 0
                while done < raw.count {
                    let n = Glibc.write(fd, raw.baseAddress! + done, raw.count - done)
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw StoreError.errno("write to \(commitLogPath)")
                    }
                    done += n
                }
            }
            size += Int64(r.readableBytes)
        }
        unsynced = true
        if policy == .always { try sync(now: now) }
    }

    public func sync(now: Int64) throws {
        guard unsynced else { return }
        if fsync(fd) != 0 { throw StoreError.errno("fsync \(commitLogPath)") }
        unsynced = false
        lastSync = now
    }

    /// The interval policy's flush, from the clock.
    public func tick(now: Int64) throws {
        if case .interval(let ms) = policy, unsynced, now - lastSync >= ms { try sync(now: now) }
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
        try data.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = Glibc.write(f, raw.baseAddress! + done, raw.count - done)
                if n < 0 { if errno == EINTR { continue }; throw StoreError.errno("write \(tmp)") }
                done += n
            }
        }
        if fsync(f) != 0 { throw StoreError.errno("fsync \(tmp)") }
        if rename(tmp, path) != 0 { throw StoreError.errno("rename \(tmp)") }
        let d = Glibc.open(directory, O_RDONLY | O_CLOEXEC)
        if d >= 0 { _ = fsync(d); Glibc.close(d) }
    }

    public func close(now: Int64) {
        try? sync(now: now)
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }
}
