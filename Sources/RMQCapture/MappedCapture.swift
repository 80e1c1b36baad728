import CPcap
@_spi(CustomByteBufferAllocator) import NIOCore
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A classic pcap file read in place: records are slices of `ByteBuffer`s whose storage is a mapping of the file,
/// so a TCP payload, and a frame that one segment holds whole, reach the decoder without a copy.
///
/// The file is mapped in windows of `windowSize` bytes (a `ByteBuffer` slice starts at most 16 MiB into its
/// storage, or `getSlice` copies), each a private
/// read-write mapping of its own that a `ByteBuffer` owns: the mapping lives as long as any slice of it and is
/// unmapped with the last one. Private and writable, so `ByteBuffer`'s copy-on-write rules hold as for any other
/// storage (a buffer that becomes the only owner of a window may write into it; the file never changes), and no
/// window shares memory with another. Pages the reader has passed are dropped as it goes (`MADV_DONTNEED`: a slice
/// read later faults them in again from the file), so resident memory stays bounded whatever the file's size.
struct MappedCapture {
    static let windowSize = 16 << 20
    /// Mappings start, and pages are dropped, on page boundaries.
    static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
    /// Pages before the reader are dropped this many bytes at a time.
    static let releaseStep = 4 << 20

    let fd: Int32
    let length: Int
    /// Bytes mapped at a time (more when one record needs it).
    var windowSize = MappedCapture.windowSize
    let swapped: Bool
    let microseconds: Bool
    /// File offset of the next record.
    var offset = 24
    /// The current window: its storage is the whole mapping, `windowStart` its file offset.
    private var window = ByteBuffer()
    private var windowBase: UnsafeMutableRawPointer? = nil
    private var windowStart = 0
    private var windowEnd = 0
    /// File offset before which the current window's pages were dropped.
    private var released = 0

    /// Opens `path` when it is a regular classic-pcap file; nil for anything else (pcapng, pipes, short files).
    static func map(_ path: String, windowSize: Int = MappedCapture.windowSize) -> MappedCapture? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        var st = stat()
        var magic: UInt32 = 0
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_size >= 24,
              pread(fd, &magic, 4, 0) == 4 else {
            close(fd)
            return nil
        }
        let kinds: [UInt32: (swapped: Bool, micro: Bool)] = [0xA1B2_C3D4: (false, true), 0xD4C3_B2A1: (true, true),
                                                             0xA1B2_3C4D: (false, false), 0x4D3C_B2A1: (true, false)]
        guard let kind = kinds[magic] else {
            close(fd)
            return nil
        }
        var m = MappedCapture(fd: fd, length: Int(st.st_size), swapped: kind.swapped, microseconds: kind.micro)
        m.windowSize = max(1, windowSize)
        return m
    }

    /// Closes the file; windows still referenced by slices stay mapped until their last slice goes.
    func closeFile() { _ = close(fd) }

    /// The 32-bit field at file offset `at`, which `ensure` made part of the window.
    func u32(_ at: Int) -> UInt32 {
        let v = (windowBase! + (at - windowStart)).loadUnaligned(as: UInt32.self)
        return swapped ? v.byteSwapped : v
    }

    enum ReadError: Error {
        case truncated(String)
        case read(String)
    }

    /// The next record: its header into `header`, its bytes as a slice of the mapping; nil at the end of the file.
    /// The checks and messages are libpcap's.
    mutating func next(_ header: inout pcap_pkthdr) throws(ReadError) -> ByteBuffer? {
        let left = length - offset
        if left == 0 { return nil }
        if left < 16 { throw .truncated("truncated dump file; tried to read 16 header bytes, only got \(left)") }
        do { try ensure(offset, 16) } catch { throw .read(error.description) }
        let seconds = u32(offset), fraction = u32(offset + 4)
        let caplen = Int(u32(offset + 8)), len = u32(offset + 12)
        if caplen > 0x0400_0000 {
            throw .read("invalid packet capture length \(caplen), bigger than maximum of \(0x0400_0000)")
        }
        if caplen > left - 16 {
            throw .truncated("truncated dump file; tried to read \(caplen) captured bytes, only got \(left - 16)")
        }
        do { try ensure(offset, 16 + caplen) } catch { throw .read(error.description) }
        header.ts.tv_sec = Int(seconds)
        header.ts.tv_usec = Int(fraction) * (microseconds ? 1000 : 1)
        header.caplen = UInt32(caplen)
        header.len = len
        let record = slice(offset + 16, caplen)
        release(before: offset)
        offset += 16 + caplen
        return record
    }

    /// Makes `at..<at+count` (within the file) part of the current window, mapping a new window when it is not.
    mutating func ensure(_ at: Int, _ count: Int) throws(MappingError) {
        if at >= windowStart && at + count <= windowEnd && windowBase != nil { return }
        let start = (at / Self.pageSize) * Self.pageSize
        let size = min(length - start, max(windowSize, at + count - start))
        guard let base = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, off_t(start)), base != MAP_FAILED else {
            throw MappingError(offset: start, size: size, errno: errno)
        }
        _ = madvise(base, size, MADV_SEQUENTIAL)
        // The reader is done with the window it leaves: its pages go (slices still held fault theirs in again).
        if let old = windowBase, released < windowEnd {
            _ = madvise(old + (released - windowStart), windowEnd - released, MADV_DONTNEED)
        }
        window = MappedWindowRegistry.buffer(base, size)
        windowBase = base
        windowStart = start
        windowEnd = start + size
        released = start
    }

    /// The `count` bytes at file offset `at` (within the window) as a slice of it, no copy.
    func slice(_ at: Int, _ count: Int) -> ByteBuffer {
        window.getSlice(at: window.readerIndex + (at - windowStart), length: count)!
    }

    /// Drops the current window's pages wholly before file offset `at`, `releaseStep` bytes at a time.
    mutating func release(before at: Int) {
        guard let base = windowBase else { return }
        let before = (at / Self.pageSize) * Self.pageSize
        if before - released >= Self.releaseStep {
            _ = madvise(base + (released - windowStart), before - released, MADV_DONTNEED)
            released = before
        }
    }

    struct MappingError: Error {
        var offset: Int
        var size: Int
        var errno: Int32
        var description: String {
            "cannot map \(size) bytes at offset \(offset): \(String(cString: strerror(errno)))"
        }
    }
}

/// The mappings that `ByteBuffer` storages own, by address: the allocator's deallocate unmaps them, its
/// reallocate (a unique owner growing past the window) moves the bytes to the heap first. Everything else it is
/// handed (the heap copies made by copy-on-write from a slice) is plain `malloc` memory.
enum MappedWindowRegistry {
    private static let sizes = Mutex<[UInt: Int]>([:])

    static let allocator = ByteBufferAllocator(
        allocate: { malloc($0) },
        reallocate: { pointer, oldSize, newSize in
            guard let pointer else { return malloc(newSize) }
            guard let size = MappedWindowRegistry.take(pointer) else { return realloc(pointer, newSize) }
            let moved = malloc(newSize)
            if let moved { memcpy(moved, pointer, min(oldSize, newSize)) }
            munmap(pointer, size)
            return moved
        },
        deallocate: { pointer in
            if let size = MappedWindowRegistry.take(pointer) { munmap(pointer, size) } else { free(pointer) }
        },
        copy: { memcpy($0, $1, $2) })

    /// A buffer owning the mapping `base..<base+size`, all of it readable.
    static func buffer(_ base: UnsafeMutableRawPointer, _ size: Int) -> ByteBuffer {
        sizes.withLock { $0[UInt(bitPattern: base)] = size }
        return ByteBuffer(takingOwnershipOf: UnsafeMutableRawBufferPointer(start: base, count: size), allocator: allocator)
    }

    /// Forgets the mapping at `pointer` and returns its size; nil when `pointer` is not one.
    static func take(_ pointer: UnsafeMutableRawPointer) -> Int? {
        sizes.withLock { $0.removeValue(forKey: UInt(bitPattern: pointer)) }
    }

    /// Whether `pointer` is the start of a mapping that a buffer owns (for tests).
    static func contains(_ pointer: UnsafeMutableRawPointer) -> Bool {
        sizes.withLock { $0[UInt(bitPattern: pointer)] != nil }
    }
}
