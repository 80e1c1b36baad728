import Testing
import RocketMQRemoting
import RMQTraceModel
@testable import RMQTraceRender

// The NDJSON frame line is written field by field into bytes; its numbers, times and latencies must read exactly
// as the JSON-tree writer (String(v), Describe.epochSeconds, NDJSONRenderer.ms) wrote them, which the golden
// NDJSON files were recorded from.

/// What a writer wrote, closed.
func written(_ w: JSONLineWriter<[UInt8]>) -> String {
    var w = w
    var out: [UInt8] = []
    w.close(into: &out)
    return String(decoding: out, as: UTF8.self)
}

@Test(arguments: [Int64(0), 1, 9, 10, 99, 100, -1, -10, 65535, 1_234_567_890_123, Int64.max, Int64.min])
func integersAreWrittenAsStringWritesThem(_ v: Int64) {
    var w = JSONLineWriter<[UInt8]>()
    w.int("v", v)
    #expect(written(w) == "{\"v\":\(v)}")
}

@Test(arguments: [Int64(0), 1, 999, 1_000, 999_999_999, 1_000_000_000, 1_700_000_000_123_456_789, -1_500_000, -2_000_000_001])
func timesAndLatenciesAreWrittenAsBefore(_ ns: Int64) {
    var w = JSONLineWriter<[UInt8]>()
    w.time("ts", CaptureTime(nanoseconds: ns))
    w.key("latency_ms")
    w.millis(ns)
    guard case .number(let ms) = NDJSONRenderer.ms(ns) else { Issue.record("ms() is a number"); return }
    #expect(written(w) == "{\"ts\":\(Describe.epochSeconds(CaptureTime(nanoseconds: ns))),\"latency_ms\":\(ms)}")
}

@Test func optionalValuesAreNullAndAnEmptyObjectIsBraces() {
    var w = JSONLineWriter<[UInt8]>()
    w.string("remark", nil)
    w.int("request_code", Int32?.none)
    w.string("text", "a \"quoted\"\nline")
    #expect(written(w) == #"{"remark":null,"request_code":null,"text":"a \"quoted\"\nline"}"#)
    #expect(written(JSONLineWriter<[UInt8]>()) == "{}")
}

@Test func extFieldsAreWrittenFromTheFrameWithCredentialsRedacted() throws {
    let cmd = RemotingCommand.request(code: 11, opaque: 1, extFields: ExtFields([
        ("topic", "T"), ("AccessKey", "AK123456"), ("note", "line\nbreak \u{e9}"), ("Signature", ""), ("queueId", "3"),
    ]))
    var bytes: [UInt8] = []
    cmd.fields!.writeJSONObject(into: &bytes)
    let viaTree = JSONValue.object((cmd.extFields!.redacted().entries).map { JSONMember($0.key, .string($0.value)) }).compactText
    #expect(String(decoding: bytes, as: UTF8.self) == viaTree)
    #expect(!String(decoding: bytes, as: UTF8.self).contains("AK123456"))
    // The command writes the same object from its map (built in code) and from a frame's bytes (decoded).
    var fromMap: [UInt8] = []
    cmd.writeFieldsJSONObject(into: &fromMap)
    #expect(fromMap == bytes)
    var fromFrame: [UInt8] = []
    try RemotingFrame.decode(RemotingFrame.encode(cmd)).writeFieldsJSONObject(into: &fromFrame)
    #expect(fromFrame == bytes)
    var none: [UInt8] = []
    RemotingCommand.request(code: 11, opaque: 1).writeFieldsJSONObject(into: &none)
    #expect(none == Array("{}".utf8))
}

/// A frame line written into a buffer that already holds bytes: appended after them, nothing else changed.
@Test func frameLinesAppendToWhatTheBufferHolds() {
    let cmd = RemotingCommand.request(code: 11, opaque: 7, extFields: ExtFields([("topic", "T"), ("queueId", "3")]))
    let f = FrameRecord(index: 4, time: CaptureTime(nanoseconds: 1_700_000_000_000_000_000), connection: 2, source: "10.0.0.1:5000",
                        destination: "10.0.0.2:10911", sourceRole: .client, destinationRole: .broker, command: cmd,
                        frameSize: 120, bodyLength: 0, body: .none, phase: .route)
    var out = Array("previous line\n".utf8)
    NDJSONRenderer.frameLine(f, into: &out)
    #expect(String(decoding: out, as: UTF8.self) == "previous line\n" + NDJSONRenderer.frameLine(f))
    #expect(NDJSONRenderer.frameLine(f).hasPrefix(#"{"event":"frame","index":4,"#) && NDJSONRenderer.frameLine(f).hasSuffix("}"))
}

/// A frame line is written into a buffer on the stack (`JSONLineBuffer`) and appended at once; one that does not
/// fit is written into the array piece by piece. Both write the same bytes: lines of every shape, and a remark
/// longer than the buffer (quotes, control bytes, non-ASCII) that makes the first overflow.
@Test(arguments: [0, 40, NDJSONRenderer.lineBufferSize])
func frameLinesReadTheSameFromTheLineBufferAndTheArray(remarkLength: Int) throws {
    let remark = String(repeating: "say \"hi\"\u{1}\u{e9}\n", count: remarkLength / 8 + 1).prefix(remarkLength)
    let cmd = RemotingCommand.request(code: 11, opaque: 7, extFields: ExtFields([
        ("consumerGroup", "g"), ("topic", "T\"x"), ("AccessKey", "AK123456"), ("note", "line\nbreak \u{e9}"), ("queueId", "3"),
    ]))
    let response = RemotingCommand.response(to: cmd, code: 0, remark: remarkLength == 0 ? nil : String(remark),
                                            extFields: ExtFields([("nextBeginOffset", "42"), ("minOffset", "0"), ("maxOffset", "99")]))
    let request = FrameRecord(index: 4, time: CaptureTime(nanoseconds: 1_700_000_000_123_456_789), connection: 2, source: "10.0.0.1:5000",
                              destination: "10.0.0.2:10911", sourceRole: .client, destinationRole: .broker, command: cmd,
                              frameSize: 120, bodyLength: 0, body: .none, phase: .pull)
    var answer = FrameRecord(index: 5, time: CaptureTime(nanoseconds: 1_700_000_000_125_456_789), connection: 2, source: "10.0.0.2:10911",
                             destination: "10.0.0.1:5000", sourceRole: .broker, destinationRole: .client, command: response,
                             frameSize: 300, bodyLength: 64, body: .messages(count: 2, firstOffset: 40, lastOffset: 41, clean: true), phase: .pull)
    answer.annotation = "a note"
    for f in [request, answer] {
        var viaBuffer: [UInt8] = []
        NDJSONRenderer.frameLine(f, into: &viaBuffer)
        var viaArray: [UInt8] = []
        var w = JSONLineWriter(taking: &viaArray)
        NDJSONRenderer.frameLine(f, writer: &w)
        w.close(into: &viaArray)
        #expect(viaBuffer == viaArray)
        let parsed = try JSONParser.parse(viaBuffer, context: "frame line")
        #expect(parsed["event"] == .string("frame"))
        #expect(!String(decoding: viaBuffer, as: UTF8.self).contains("AK123456"))
    }
}

@Test func aLineBufferWritesNothingThatDoesNotFit() {
    withUnsafeTemporaryAllocation(byteCount: 8, alignment: 1) { raw in
        var b = JSONLineBuffer(raw)
        "abcde".utf8CString.withUnsafeBytes { b.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[0..<5])) }
        #expect(b.count == 5 && !b.overflowed)
        b.append((UInt8(ascii: "\""), 0, 1), UnsafeRawBufferPointer(start: nil, count: 0), (UInt8(ascii: "\""), 0, 1))
        #expect(Array(b.written) == Array("abcde\"\"".utf8))
        "xyz".utf8CString.withUnsafeBytes { b.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[0..<3])) }
        #expect(b.overflowed)
        b.append(UInt8(ascii: "!"))
        #expect(b.overflowed && b.count == 8)
    }
}
