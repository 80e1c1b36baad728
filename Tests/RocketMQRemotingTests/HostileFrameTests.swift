import NIOCore
import Testing
@testable import RocketMQRemoting

/// Hostile frames: each a clear error naming what failed, none a crash.
@Suite struct HostileFrameTests {
    static func frame(type: UInt8 = 0, header: [UInt8], length: Int32? = nil, headerLength: Int? = nil, body: [UInt8] = []) -> ByteBuffer {
        var b = ByteBuffer()
        b.writeInteger(length ?? Int32(4 + header.count + body.count))
        b.writeInteger(UInt32(type) << 24 | UInt32(headerLength ?? header.count))
        b.writeBytes(header)
        b.writeBytes(body)
        return b
    }
    static func json(_ s: String) -> ByteBuffer { frame(header: Array(s.utf8)) }

    static func expectError(_ buf: ByteBuffer, contains needle: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            let cmd = try RemotingFrame.decode(buf)
            Issue.record("decoded unexpectedly: \(cmd)", sourceLocation: sourceLocation)
        } catch let e as RemotingDecodingError {
            #expect(e.description.contains(needle), "\(e.description)", sourceLocation: sourceLocation)
            #expect(!e.description.contains("\n"), sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected error type \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func lengthFields() throws {
        Self.expectError(Self.frame(header: [], length: -5), contains: "frame length -5 is invalid")
        Self.expectError(Self.frame(header: [], length: 2), contains: "frame length 2 is invalid")
        Self.expectError(Self.frame(header: Array("{}".utf8), headerLength: 1000), contains: "header length 1000 exceeds frame length")
        Self.expectError(Self.frame(type: 7, header: Array("{}".utf8)), contains: "unknown serialize type 7")
        Self.expectError(ByteBuffer(bytes: [0, 0, 0, 20, 0, 0]), contains: "header length truncated")
        Self.expectError(ByteBuffer(bytes: [0, 0, 0, 20, 0, 0, 0, 2, 0x7b]), contains: "frame truncated")
    }

    @Test func hugeLengthNeverBuffers() throws {
        // A 4 GiB-ish length (0xFFFFFFFF is -1 as i32; 0x7FFFFFFF is 2 GiB) is rejected from the first 8 bytes.
        var decoder = RemotingFrameDecoder()
        var buf = ByteBuffer(bytes: [0x7F, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x02])
        #expect(throws: RemotingDecodingError.self) { _ = try decoder.decode(buffer: &buf) }
        var neg = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x02])
        do {
            _ = try decoder.decode(buffer: &neg)
            Issue.record("accepted")
        } catch let e as RemotingDecodingError {
            #expect(e.description == "frame 0 at stream offset 0: frame length -1 is invalid (must be at least 4) at byte 0")
        }
        // Configurable maximum.
        var small = RemotingFrameDecoder(maxFrameLength: 64)
        var big = Self.json(#"{"code":1,"extFields":{"a":"0123456789012345678901234567890123456789"}}"#)
        #expect(throws: RemotingDecodingError.self) { _ = try small.decode(buffer: &big) }
    }

    @Test func badJSONHeaders() throws {
        Self.expectError(Self.json(#"{"code":10,"opaque":"#), contains: "JSON header: unexpected end of JSON")
        Self.expectError(Self.json(#"{"code":10,"remark":"abc"#), contains: "unterminated string at byte 20")
        Self.expectError(Self.json(#"{"code":10,"code":11}"#), contains: "duplicate key \"code\"")
        Self.expectError(Self.json(#"{"code":10,"extFields":{"a":"1","a":"2"}}"#), contains: "duplicate key \"extFields.a\"")
        Self.expectError(Self.json(#"{"opaque":1}"#), contains: "missing field code")
        Self.expectError(Self.json(#"[1,2]"#), contains: "must be a JSON object")
        Self.expectError(Self.json(""), contains: "empty JSON header")
        Self.expectError(Self.json(#"{"code":99999999999}"#), contains: "not a 32-bit integer")
        Self.expectError(Self.json(#"{"code":1} x"#), contains: "after the header object")
        Self.expectError(Self.json(#"{"code":1,"remark":"\q"}"#), contains: "invalid escape")
        Self.expectError(Self.frame(header: Array(#"{"code":1,"remark":""#.utf8) + [0xC3, 0x28, 0x22, 0x7D]), contains: "not valid UTF-8")
        let deep = #"{"code":1,"x":"# + String(repeating: "[", count: 200) + String(repeating: "]", count: 200) + "}"
        Self.expectError(Self.json(deep), contains: "nested deeper than 32")
    }

    @Test func truncatedBinaryHeaders() throws {
        let good = bytes(hex: Vectors.jarc)
        let header = Array(good[8...])
        // Cut the binary header at every position: each a clear error.
        for cut in 0..<header.count {
            let f = Self.frame(type: 1, header: Array(header[0..<cut]))
            do {
                _ = try RemotingFrame.decode(f)
                Issue.record("cut at \(cut) decoded")
            } catch let e as RemotingDecodingError {
                #expect(e.description.contains("ROCKETMQ header"), "\(e)")
            }
        }
        // A remark length that points past the header.
        var h = header
        h[13] = 0x7F
        Self.expectError(Self.frame(type: 1, header: h), contains: "remark truncated")
        // A negative ext length.
        var n = Array(header[0..<17]) + [0xFF, 0xFF, 0xFF, 0xF0]
        Self.expectError(Self.frame(type: 1, header: n), contains: "extFields has invalid length -16")
        n = Array(header[0..<17]) + [0, 0, 0, 7, 0, 1, 0x6B, 0, 0, 0, 1]
        Self.expectError(Self.frame(type: 1, header: n), contains: "extFields value of k truncated")
        // Invalid UTF-8 in a key.
        let bad = Array(header[0..<17]) + [0, 0, 0, 8, 0, 2, 0xC3, 0x28, 0, 0, 0, 0]
        Self.expectError(Self.frame(type: 1, header: bad), contains: "extFields key is not valid UTF-8")
    }

    @Test func randomGarbageNeverCrashes() {
        var rng = SplitMix64(seed: 99)
        for _ in 0..<5000 {
            let n = Int.random(in: 0...120, using: &rng)
            var bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if n >= 8 && Bool.random(using: &rng) {
                // make the prefix plausible so the header parsers see the garbage
                let l = UInt32(n - 4)
                bytes[0] = UInt8(l >> 24); bytes[1] = UInt8((l >> 16) & 0xFF); bytes[2] = UInt8((l >> 8) & 0xFF); bytes[3] = UInt8(l & 0xFF)
                bytes[4] = UInt8.random(in: 0...1, using: &rng); bytes[5] = 0; bytes[6] = 0
                bytes[7] = UInt8(min(n - 8, Int(bytes[7])))
            }
            _ = try? RemotingFrame.decode(ByteBuffer(bytes: bytes))
            _ = StoredMessageDecoder.decodeAll(ByteBuffer(bytes: bytes))
            _ = try? JSONParser.parse(bytes, context: "fuzz")
        }
    }

    @Test func hostilePullBodies() throws {
        var body = buffer(hex: Vectors.jard)
        body.writeBytes([0, 0, 0, 90, 1, 2, 3])  // a second record that claims 90 bytes but has 7
        let batch = StoredMessageDecoder.decodeAll(body)
        #expect(batch.messages.count == 1)
        #expect(batch.error?.description == "pull body: record 1: TOTALSIZE 90 runs past the end of the body (7 bytes left) at byte 117")
        // A compressed body that is not zlib.
        var rec = ByteBuffer()
        StoredMessageDecoder.encode(queueId: 0, queueOffset: 0, physicalOffset: 0, sysFlag: .compressed, bornTimestamp: 0,
                                    bornHost: MessageHost(address: [127, 0, 0, 1], port: 1), storeTimestamp: 0,
                                    storeHost: MessageHost(address: [127, 0, 0, 1], port: 2), body: [1, 2, 3, 4], topic: "t",
                                    propertiesText: "", into: &rec)
        let z = StoredMessageDecoder.decodeAll(rec)
        #expect(z.messages.isEmpty && z.error?.description.contains("decompression failed") == true)
        // LZ4 is reported with its length, not decoded.
        var lz = ByteBuffer()
        StoredMessageDecoder.encode(queueId: 0, queueOffset: 0, physicalOffset: 0, sysFlag: MessageSysFlag(rawValue: 0x101), bornTimestamp: 0,
                                    bornHost: MessageHost(address: [127, 0, 0, 1], port: 1), storeTimestamp: 0,
                                    storeHost: MessageHost(address: [127, 0, 0, 1], port: 2), body: [9, 9, 9], topic: "t",
                                    propertiesText: "", into: &lz)
        #expect(StoredMessageDecoder.decodeAll(lz).messages.first?.body == .compressed(.lz4, storedLength: 3))
    }

    @Test func zlibBodiesInflateWithinTheirBound() throws {
        // A zlib stream of 8 KiB of 'a' (level 6), as the Java producer compresses bodies over 4 KiB.
        var raw = ByteBuffer(repeating: UInt8(ascii: "a"), count: 8192)
        var compressed = try raw.compress(with: .zlib())
        let stored = compressed.readBytes(length: compressed.readableBytes)!
        var rec = ByteBuffer()
        StoredMessageDecoder.encode(queueId: 0, queueOffset: 0, physicalOffset: 0, sysFlag: MessageSysFlag(rawValue: 0x301), bornTimestamp: 0,
                                    bornHost: MessageHost(address: [127, 0, 0, 1], port: 1), storeTimestamp: 0,
                                    storeHost: MessageHost(address: [127, 0, 0, 1], port: 2), body: stored, topic: "t",
                                    propertiesText: "", into: &rec)
        let ok = StoredMessageDecoder.decodeAll(rec)
        #expect(ok.messages.first?.body.bytes?.count == 8192)
        let bounded = StoredMessageDecoder.decodeAll(rec, maxInflatedBodySize: 1024)
        #expect(bounded.messages.isEmpty && bounded.error != nil)
    }
}
