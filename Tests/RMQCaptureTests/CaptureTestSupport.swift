import Foundation
import RMQCapture

/// A fresh temporary directory for one test, removed by `cleanup()`.
struct CaptureTempDirectory {
    let path: String

    init() throws {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("rmqcapture-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        path = dir.path
    }

    func file(_ name: String) -> String { path + "/" + name }

    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

/// Everything a reader delivers, decoded.
func decodeAllPackets(_ reader: PcapReader) throws -> [DecodedPacket] {
    var out: [DecodedPacket] = []
    try reader.forEachDecoded { out.append($0); return true }
    return out
}

func v4Endpoint(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8, _ port: UInt16) -> Endpoint {
    Endpoint(address: .v4(UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)), port: port)
}

func v6Endpoint(_ hi: UInt64, _ lo: UInt64, _ port: UInt16) -> Endpoint {
    Endpoint(address: .v6(hi, lo), port: port)
}

func patternBytes(_ count: Int, seed: UInt8 = 0) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ Int(seed)) }
}

func nanos(_ ns: Int64) -> CaptureTime { CaptureTime(nanoseconds: ns) }

/// Deterministic generator for fuzz-style tests.
struct CaptureFuzzRNG: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
