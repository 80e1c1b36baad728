import NIOCore
@testable import RocketMQRemoting

func bytes(hex: String) -> [UInt8] {
    guard let b = MessageId.bytesFromHex(hex.filter { !$0.isWhitespace }) else { fatalError("bad hex in test vector") }
    return b
}

func buffer(hex: String) -> ByteBuffer { ByteBuffer(bytes: bytes(hex: hex)) }

func hexString(_ buf: ByteBuffer) -> String {
    (buf.getBytes(at: buf.readerIndex, length: buf.readableBytes) ?? []).map { b in
        let s = String(b, radix: 16)
        return s.count == 1 ? "0" + s : s
    }.joined()
}

func text(_ buf: ByteBuffer?) -> String {
    guard let buf else { return "" }
    return String(decoding: buf.readableBytesView, as: UTF8.self)
}

/// SplitMix64: a small seeded generator so that property tests are reproducible.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
