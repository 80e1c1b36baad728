import NIOCore

/// The JSON header (serialize type 0), PROTOCOL.md section 2.
enum JSONHeaderCodec {
    static let maxDepth = 32

    /// The top-level member a header key names (0: none): a switch on the length, then the bytes.
    @inline(__always)
    private static func member(_ k: UnsafeRawBufferPointer) -> Int {
        switch k.count {
        case 4:
            if k.le32(0) == 0x65646F63 { return 1 }  // code
            if k.le32(0) == 0x67616C66 { return 3 }  // flag
        case 6:
            if k.le32(0) == 0x7161706F && k.le32(2) == 0x65757161 { return 5 }  // opaque
            if k.le32(0) == 0x616D6572 && k.le32(2) == 0x6B72616D { return 6 }  // remark
        case 7:
            if k.le32(0) == 0x73726576 && k.le32(3) == 0x6E6F6973 { return 8 }  // version
        case 8:
            if k.le64(0) == 0x65676175676E616C { return 4 }  // language
        case 9:
            if k.le64(0) == 0x646C656946747865 && k.le64(1) == 0x73646C6569467478 { return 2 }  // extFields
        case 23:
            if k.le64(0) == 0x7A696C6169726573 && k.le64(8) == 0x7275436570795465 && k.le64(15) == 0x435052746E657272 { return 7 }  // serializeTypeCurrentRPC
        default: break
        }
        return 0
    }

    /// The member of a known key written exactly `"key":` at `i` (the opening quote), with the key's length;
    /// nil for anything else (another key, white space, an escape), which the caller scans. Each known key
    /// starts with a letter of its own, so one byte picks the one literal to compare. (The same keys as `member`, as
    /// whole literals with their quotes and colon: going through `member` instead cost 5 % of a JSON request.)
    @inline(__always)
    private static func literalMember(_ b: UnsafeRawBufferPointer, at i: Int) -> (member: Int, keyLength: Int)? {
        guard i &+ 8 <= b.count else { return nil }
        let w = b.le64(i)
        switch b[i &+ 1] {
        case UInt8(ascii: "c"):  // "code":
            if w & 0xFF_FFFF_FFFF_FFFF == 0x3A_2265_646F_6322 { return (1, 4) }
        case UInt8(ascii: "e"):  // "extFields":
            if i &+ 12 <= b.count && w == 0x6C65_6946_7478_6522 && b.le32(i &+ 8) == 0x3A22_7364 { return (2, 9) }
        case UInt8(ascii: "f"):  // "flag":
            if w & 0xFF_FFFF_FFFF_FFFF == 0x3A_2267_616C_6622 { return (3, 4) }
        case UInt8(ascii: "l"):  // "language":
            if i &+ 11 <= b.count && w == 0x6761_7567_6E61_6C22 && b.le32(i &+ 7) == 0x3A22_6567 { return (4, 8) }
        case UInt8(ascii: "o"):  // "opaque":
            if i &+ 9 <= b.count && w == 0x2265_7571_6170_6F22 && b.le32(i &+ 5) == 0x3A22_6575 { return (5, 6) }
        case UInt8(ascii: "r"):  // "remark":
            if i &+ 9 <= b.count && w == 0x226B_7261_6D65_7222 && b.le32(i &+ 5) == 0x3A22_6B72 { return (6, 6) }
        case UInt8(ascii: "s"):  // "serializeTypeCurrentRPC":
            if i &+ 26 <= b.count && w == 0x696C_6169_7265_7322 && b.le64(i &+ 8) == 0x7543_6570_7954_657A
                && b.le64(i &+ 16) == 0x4350_5274_6E65_7272 && b.le64(i &+ 18) == 0x3A22_4350_5274_6E65 { return (7, 23) }
        case UInt8(ascii: "v"):  // "version":
            if i &+ 10 <= b.count && w == 0x6E6F_6973_7265_7622 && b.le32(i &+ 6) == 0x3A22_6E6F { return (8, 7) }
        default:
            break
        }
        return nil
    }

    /// Whether the value at `i` is the JSON string of exactly the four ASCII bytes of `word` (little-endian).
    @inline(__always)
    private static func isQuotedWord(_ b: UnsafeRawBufferPointer, at i: Int, _ word: UInt32) -> Bool {
        i &+ 6 <= b.count && b[i] == UInt8(ascii: "\"") && b.le32(i &+ 1) == word && b[i &+ 5] == UInt8(ascii: "\"")
    }

    /// The one JSON header scanner: validates the whole header and reports each non-null extFields entry to
    /// `visitor` as byte ranges, building no String for them. 
    /// - Parameter asciiFastPath: try `scanASCIIObject` on the extFields object first (false: the checked loop
    ///   only; the tests compare the two).
    static func scan(_ bytes: UnsafeRawBufferPointer, errorContext: ErrorContext,
                     visitor: inout RawFieldList, asciiFastPath: Bool = true) throws -> ScannedHead {
        var c = JSONCursor(bytes, errorContext: errorContext)
        var cmd = ScannedHead(serializeType: .json)
        var seen: UInt16 = 0
        c.skipWhitespace()
        guard c.peek() == UInt8(ascii: "{") else {
            if c.atEnd { throw c.error("empty JSON header") }
            throw c.error("unexpected '\(c.printable)', the header must be a JSON object")
        }
        c.advance()
        c.skipWhitespace()
        if c.peek() == UInt8(ascii: "}") {
            c.advance()
        } else {
            while true {
                c.skipWhitespace()
                guard c.peek() == UInt8(ascii: "\"") else {
                    if c.atEnd { throw c.error("unexpected end of JSON inside the header object") }
                    throw c.error("unexpected '\(c.printable)', expected a header key")
                }
                let keyOffset = c.index
                let keyRange: Range<Int>
                let member: Int
                if let known = Self.literalMember(bytes, at: keyOffset) {
                    // A known key written `"key":`, as fastjson writes them: no scan of the key.
                    member = known.member
                    keyRange = (keyOffset &+ 1)..<(keyOffset &+ 1 &+ known.keyLength)
                    c.index = keyRange.upperBound &+ 2
                    c.skipWhitespace()
                } else {
                    // Raw key bytes; header keys never need escapes, an escaped key is simply unknown.
                    c.advance()
                    let keyStart = c.index
                    if let end = asciiStringEnd(bytes, from: keyStart) {
                        c.index = end  // no backslash before it: where the loop below would stop
                    } else {
                        while let b = c.peek(), b != UInt8(ascii: "\"") {
                            if b == UInt8(ascii: "\\") { c.advance() }
                            c.advance()
                        }
                    }
                    guard !c.atEnd else { throw RemotingDecodingError(c.context, .json("unterminated string"), offset: keyOffset) }
                    keyRange = keyStart..<c.index
                    c.advance()
                    c.skipWhitespace()
                    try c.expect(UInt8(ascii: ":"), "':' after a header key")
                    c.skipWhitespace()
                    member = Self.member(UnsafeRawBufferPointer(rebasing: bytes[keyRange]))
                }

                var bit: UInt16 = 0
                if member == 1 {
                    bit = 1
                    cmd.code = try readInt32(&c, "code")
                } else if member == 2 {
                    bit = 2
                    if c.peek() == UInt8(ascii: "n") {
                        _ = try c.readLiteral()
                    } else {
                        cmd.hasExtFields = true
                        try scanExtFields(&c, visitor: &visitor, asciiFastPath: asciiFastPath)
                    }
                } else if member == 3 {
                    bit = 4
                    cmd.flag = try readInt32(&c, "flag")
                } else if member == 4 {
                    bit = 8
                    // Usually "JAVA": matched on its bytes, with no String built.
                    if isQuotedWord(bytes, at: c.index, 0x4156_414A) {  // "JAVA"
                        cmd.language = .java
                        c.index &+= 6
                    } else {
                        switch c.peek() {
                        case UInt8(ascii: "\"")?: cmd.language = LanguageCode(name: try c.readString())
                        case UInt8(ascii: "n")?: _ = try c.readLiteral()
                        default:
                            let n = try c.readInt64()
                            guard n >= 0 && n <= 255 else { throw RemotingDecodingError(c.context, .wrongType(field: "language", expected: "a language name"), offset: keyOffset) }
                            cmd.language = LanguageCode(code: UInt8(n))
                        }
                    }
                } else if member == 5 {
                    bit = 16
                    cmd.opaque = try readInt32(&c, "opaque")
                } else if member == 6 {
                    bit = 32
                    switch c.peek() {
                    case UInt8(ascii: "\"")?: cmd.remark = try c.readString()
                    case UInt8(ascii: "n")?: _ = try c.readLiteral()
                    default: throw RemotingDecodingError(c.context, .wrongType(field: "remark", expected: "a string"), offset: c.index)
                    }
                } else if member == 7 {
                    bit = 64
                    cmd.jsonHasSerializeTypeCurrentRPC = true
                    // Usually the string "JSON": matched on its bytes, or scanned without building a value (same
                    // checks and errors).
                    if isQuotedWord(bytes, at: c.index, 0x4E4F_534A) {  // "JSON"
                        c.index &+= 6
                    } else if c.peek() == UInt8(ascii: "\"") {
                        _ = try c.scanString()
                    } else {
                        try c.skipValue(depth: 1, maxDepth: maxDepth)
                    }
                } else if member == 8 {
                    bit = 128
                    cmd.version = try readInt32(&c, "version")
                } else {
                    if c.peek() == UInt8(ascii: "\"") { _ = try c.scanString() } else { try c.skipValue(depth: 1, maxDepth: maxDepth) }
                }
                if bit != 0 {
                    if seen & bit != 0 {
                        let key = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[keyRange]), as: UTF8.self)
                        throw RemotingDecodingError(c.context, .duplicateKey(key), offset: keyOffset)
                    }
                    seen |= bit
                }
                c.skipWhitespace()
                switch c.peek() {
                case UInt8(ascii: ",")?: c.advance()
                case UInt8(ascii: "}")?: c.advance()
                case nil: throw c.error("unexpected end of JSON inside the header object")
                default: throw c.error("unexpected '\(c.printable)', expected ',' or '}'")
                }
                if bytes[c.index - 1] == UInt8(ascii: "}") { break }
            }
        }
        // Only white space (the C++ client's trailing newline) may follow.
        let afterObject = c.index
        c.skipWhitespace()
        if !c.atEnd { throw c.error("unexpected '\(c.printable)' after the header object") }
        cmd.jsonTrailingNewline = afterObject < bytes.count && bytes[afterObject] == 0x0A
        if seen & 1 == 0 { throw RemotingDecodingError(c.context, .missingField(field: "code"), offset: nil) }
        return cmd
    }

    private static func readInt32(_ c: inout JSONCursor, _ field: String) throws -> Int32 {
        let at = c.index
        // The usual value: 1 to 9 digits (no overflow) followed by a byte that ends a number. Anything else
        // (a sign, a quoted number, more digits, a fraction, the end) goes the general way below.
        do {
            let p = c.bytes
            var i = at
            var v: Int32 = 0
            let limit = min(p.count, at &+ 9)
            while i < limit {
                let d = p[i] &- 0x30
                if d > 9 { break }
                v = v &* 10 &+ Int32(d)
                i &+= 1
            }
            if i > at && i < p.count {
                let b = p[i]
                if b &- 0x30 > 9 && b != UInt8(ascii: ".") && b != UInt8(ascii: "e") && b != UInt8(ascii: "E") {
                    c.index = i
                    return v
                }
            }
        }
        return try readInt32Checked(&c, field)
    }

    @inline(never)
    private static func readInt32Checked(_ c: inout JSONCursor, _ field: String) throws -> Int32 {
        let at = c.index
        let v: Int64
        if c.atEnd { throw c.error("unexpected end of JSON, expected an integer for \(field)") }
        if c.peek() == UInt8(ascii: "\"") {
            // tolerate a quoted number
            let s = try c.readString()
            guard let n = Int64(s) else { throw RemotingDecodingError(c.context, .wrongType(field: field, expected: "an integer"), offset: at) }
            v = n
        } else {
            guard let b = c.peek(), b == UInt8(ascii: "-") || (b >= 0x30 && b <= 0x39) else {
                throw RemotingDecodingError(c.context, .wrongType(field: field, expected: "an integer"), offset: at)
            }
            v = try c.readInt64()
        }
        guard let r = Int32(exactly: v) else {
            throw RemotingDecodingError(c.context, .invalidField(field: field, value: String(v), expected: "a 32-bit integer"), offset: at)
        }
        return r
    }

    /// extFields: an object of string keys; values of any scalar JSON type become text (the C++ client sends
    /// numbers); nulls are dropped (Java would hold null); nested values keep their compact JSON text.
    /// A key equal to an earlier non-null entry's key is rejected (same UTF-8 length and String ==).
    private static func scanExtFields(_ c: inout JSONCursor, visitor: inout RawFieldList, asciiFastPath: Bool) throws {
        guard c.peek() == UInt8(ascii: "{") else {
            throw RemotingDecodingError(c.context, .wrongType(field: "extFields", expected: "an object"), offset: c.index)
        }
        c.advance()
        c.skipWhitespace()
        if c.peek() == UInt8(ascii: "}") { c.advance(); return }
        if asciiFastPath && scanASCIIObject(&c, visitor: &visitor) { return }
        // Duplicate keys are checked against the entries kept so far (null values are not kept).
        do {
            var seenKeys: UInt64 = 0
            var anySlowKey = false
            while true {
                c.skipWhitespace()
                guard c.peek() == UInt8(ascii: "\"") else {
                    if c.atEnd { throw c.error("unexpected end of JSON inside extFields") }
                    throw c.error("unexpected '\(c.printable)', expected an extFields key")
                }
                let keyOffset = c.index
                let key = try c.scanString()
                var field = RawExtField(key: key.range, keyKind: key.kind, in: c.bytes)
                // A 64-bit filter over the ASCII keys' signatures: a key whose bits are not all set cannot equal an
                // earlier ASCII key; non-ASCII or escaped keys (rare) are always compared.
                let bit: UInt64 = field.keyKind == .ascii ? field.keyFilterMask : 0
                if bit == 0 || seenKeys & bit == bit || anySlowKey {
                    for k in visitor.entries where RawExtField.sameKey(k, field, in: c.bytes) {
                        throw RemotingDecodingError(c.context, .duplicateKey("extFields.\(field.keyString(in: c.bytes))"), offset: keyOffset)
                    }
                }
                seenKeys |= bit
                if bit == 0 { anySlowKey = true }
                c.skipWhitespace()
                try c.expect(UInt8(ascii: ":"), "':' after an extFields key")
                c.skipWhitespace()
                var keep = true
                switch c.peek() {
                case UInt8(ascii: "\"")?:
                    let v = try c.scanString()
                    field.setValue(v.range, v.kind)
                case UInt8(ascii: "n")?:
                    _ = try c.readLiteral()
                    keep = false
                case UInt8(ascii: "t")?, UInt8(ascii: "f")?:
                    let start = c.index
                    _ = try c.readLiteral()
                    field.setValue(start..<c.index, .scalar)
                case UInt8(ascii: "{")?, UInt8(ascii: "[")?:
                    let start = c.index
                    var p = JSONParser(options: .init(maxDepth: maxDepth))
                    _ = try p.parseValue(&c, depth: 2)
                    field.setValue(start..<c.index, .nested)
                case nil:
                    throw c.error("unexpected end of JSON inside extFields")
                default:
                    field.setValue(try c.skipNumber(), .scalar)
                }
                if keep { visitor.visit(field) }
                c.skipWhitespace()
                switch c.peek() {
                case UInt8(ascii: ",")?: c.advance()
                case UInt8(ascii: "}")?: c.advance(); return
                case nil: throw c.error("unexpected end of JSON inside extFields")
                default: throw c.error("unexpected '\(c.printable)', expected ',' or '}'")
                }
            }
        }
    }

    /// The usual extFields object, as fastjson writes it: `"key":"value"` pairs of ASCII text with no escapes
    /// or control characters, separated by commas with no white space, then `}`. Read in one pass, each string's
    /// end found eight bytes at a time; the entries are those the checked loop reports for it. Anything else (white
    /// space, a number, null, an escape, non-ASCII text, a duplicate key, more than `fastPathEntries` entries, the
    /// end of the input) returns false with
    /// the cursor and the list as they were, and the checked loop reads the object, with its errors.
    @inline(__always)
    private static func scanASCIIObject(_ c: inout JSONCursor, visitor: inout RawFieldList) -> Bool {
        let bytes = c.bytes
        let n = bytes.count
        // The entries are gathered on the stack and become the list with one allocation of their number; an
        // object of more than `fastPathEntries` entries is left to the checked loop.
        return withUnsafeTemporaryAllocation(of: RawExtField.self, capacity: fastPathEntries) { batch -> Bool in
            var k = 0
            var i = c.index
            var seenKeys: UInt64 = 0
            while i < n && bytes[i] == UInt8(ascii: "\"") && k < batch.count {
                guard let keyEnd = asciiStringEnd(bytes, from: i &+ 1), keyEnd &+ 2 < n,
                      bytes[keyEnd &+ 1] == UInt8(ascii: ":"), bytes[keyEnd &+ 2] == UInt8(ascii: "\""),
                      let valueEnd = asciiStringEnd(bytes, from: keyEnd &+ 3), valueEnd &+ 1 < n else { return false }
                var field = RawExtField(key: (i &+ 1)..<keyEnd, keyKind: .ascii, in: bytes)
                // The checked loop's duplicate filter; a duplicate is left to it (it reports the error).
                let bit = field.keyFilterMask
                if seenKeys & bit == bit && isDuplicate(field, of: UnsafeBufferPointer(rebasing: batch[0..<k]), in: bytes) { return false }
                seenKeys |= bit
                field.setValue((keyEnd &+ 3)..<valueEnd, .ascii)
                batch.initializeElement(at: k, to: field)
                k &+= 1
                let next = bytes[valueEnd &+ 1]
                if next == UInt8(ascii: "}") {
                    c.index = valueEnd &+ 2
                    let gathered = UnsafeBufferPointer(rebasing: batch[0..<k])
                    if visitor.entries.isEmpty { visitor.entries = Array(gathered) } else { visitor.entries.append(contentsOf: gathered) }
                    return true
                }
                guard next == UInt8(ascii: ",") else { return false }
                i = valueEnd &+ 2
            }
            return false
        }
    }

    /// The most entries of an extFields object that the fast path reads (32 × 32 bytes on the stack).
    private static let fastPathEntries = 32

    /// Whether `field`'s key equals that of one of `entries`. For the fast path only: every key there is
    /// ASCII, so unequal signatures reject at once; the checked loop, which also sees escaped and non-ASCII
    /// keys (signature 0), calls `sameKey` on every entry.
    private static func isDuplicate(_ field: RawExtField, of entries: UnsafeBufferPointer<RawExtField>,
                                    in bytes: UnsafeRawBufferPointer) -> Bool {
        var j = 0
        while j < entries.count {
            if entries[j].keySignature == field.keySignature && RawExtField.sameKey(entries[j], field, in: bytes) { return true }
            j &+= 1
        }
        return false
    }

    /// The index of the quote that ends an ASCII JSON string starting at `start` (after its opening quote), or
    /// nil when a backslash, a control character or a non-ASCII byte comes first, or the input ends.
    @inline(__always)
    private static func asciiStringEnd(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        var i = start
        while i + 8 <= bytes.count {
            let w = bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            // The lowest flagged byte is exact (see `jsonStringStops`); so is a high bit.
            let stops = jsonStringStops(w) | (w & 0x8080_8080_8080_8080)
            if stops != 0 {
                let k = i + stops.trailingZeroBitCount >> 3
                return bytes[k] == UInt8(ascii: "\"") ? k : nil
            }
            i += 8
        }
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") { return i }
            if b == UInt8(ascii: "\\") || b < 0x20 || b >= 0x80 { return nil }
            i += 1
        }
        return nil
    }

    // MARK: encoding

    static func encode(_ cmd: RemotingCommand, into out: inout ByteBuffer) {
        var b: [UInt8] = []
        b.reserveCapacity(160 + cmd.extFieldsCount * 40)
        b.append(contentsOf: #"{"code":"#.utf8)
        b.append(contentsOf: String(cmd.code).utf8)
        switch cmd.fieldOrigin {
        case .none: break
        case .owned:
            b.append(contentsOf: #","extFields":{"#.utf8)
            var first = true
            for e in cmd.ownedFields.entries {
                if !first { b.append(UInt8(ascii: ",")) }
                first = false
                JSONWriter.writeString(e.key, into: &b)
                b.append(UInt8(ascii: ":"))
                JSONWriter.writeString(e.value, into: &b)
            }
            b.append(UInt8(ascii: "}"))
        case .wire:
            b.append(contentsOf: #","extFields":{"#.utf8)
            cmd.wireFields.withUnsafeFields { bytes, fields in
                var first = true
                for f in fields {
                    if !first { b.append(UInt8(ascii: ",")) }
                    first = false
                    if let k = f.directKey(in: bytes) { JSONWriter.writeString(utf8: k, into: &b) } else {
                        JSONWriter.writeString(f.keyString(in: bytes), into: &b)
                    }
                    b.append(UInt8(ascii: ":"))
                    if let v = f.directValue(in: bytes) { JSONWriter.writeString(utf8: v, into: &b) } else {
                        JSONWriter.writeString(f.valueString(in: bytes), into: &b)
                    }
                }
            }
            b.append(UInt8(ascii: "}"))
        }
        b.append(contentsOf: #","flag":"#.utf8)
        b.append(contentsOf: String(cmd.flag).utf8)
        b.append(contentsOf: #","language":"#.utf8)
        JSONWriter.writeString(cmd.language.name, into: &b)
        b.append(contentsOf: #","opaque":"#.utf8)
        b.append(contentsOf: String(cmd.opaque).utf8)
        if let remark = cmd.remark {
            b.append(contentsOf: #","remark":"#.utf8)
            JSONWriter.writeString(remark, into: &b)
        }
        if cmd.jsonHasSerializeTypeCurrentRPC {
            b.append(contentsOf: #","serializeTypeCurrentRPC":"JSON""#.utf8)
        }
        b.append(contentsOf: #","version":"#.utf8)
        b.append(contentsOf: String(cmd.version).utf8)
        b.append(UInt8(ascii: "}"))
        if cmd.jsonTrailingNewline { b.append(0x0A) }
        out.writeBytes(b)
    }
}

/// The keys of a typed header as the binary scanner dispatches them during its walk (the generated `…Slots`
/// types of `SCAN_DISPATCH` in scripts/gen-headers.py).
protocol KeySlots {
    /// The tag left in `RawExtField.slotOwner` (nonzero).
    static var owner: UInt8 { get }
    /// The declared field of an ASCII key (its index in the header's keys), or -1.
    static func slot(ascii k: UnsafeRawBufferPointer) -> Int
}
/// No dispatch during the scan.
enum NoKeySlots: KeySlots {
    @inline(__always) static var owner: UInt8 { 0 }
    @inline(__always) static func slot(ascii k: UnsafeRawBufferPointer) -> Int { -1 }
}

/// The ROCKETMQ binary header (serialize type 1), PROTOCOL.md section 3.
enum BinaryHeaderCodec {
    /// The one binary header scanner: validates the header and reports each extFields entry to `visitor` as
    /// byte ranges (UTF-8 already validated), building no String for them.
    static func scan(_ bytes: UnsafeRawBufferPointer, errorContext: ErrorContext,
                     visitor: inout RawFieldList) throws -> ScannedHead {
        var r = BinaryReader(bytes: bytes, errorContext: errorContext)
        let code = try r.readInt16("code")
        let lang = try r.readUInt8("language")
        let version = try r.readInt16("version")
        let opaque = try r.readInt32("opaque")
        let flag = try r.readInt32("flag")
        // A truncated 5.x request code (200050 → 3442) is read back as the code it was (RequestCode.fromBinary16).
        let fullCode = flag & RemotingCommand.responseFlag == 0 ? RequestCode.fromBinary16(code) : Int32(code)
        let remarkLength = try r.readInt32("remark length")
        var remark: String? = nil
        if remarkLength != 0 {
            remark = try r.readString(length: Int(remarkLength), field: "remark")
        }
        let extOffset = r.index
        let extLength = try r.readInt32("extFields length")
        if extLength < 0 || Int(extLength) > bytes.count {
            throw RemotingDecodingError(r.context, .invalidLength(field: "extFields", length: Int(extLength)), offset: extOffset)
        }
        if extLength > 0 {
            let end = r.index + Int(extLength)
            guard end <= bytes.count else {
                throw RemotingDecodingError(r.context, .truncated(field: "extFields", needed: Int(extLength), available: bytes.count - r.index), offset: r.index)
            }
            // The keys of a PULL_MESSAGE request (every long poll of every consumer: the request of consume
            // traffic) are dispatched to their fields during the walk; other commands' are not.
            let isPull = flag & RemotingCommand.responseFlag == 0
                && (fullCode == RequestCode.pullMessage || fullCode == RequestCode.litePullMessage)
            let gathered = isPull
                ? scanASCIIBlock(bytes, from: r.index, to: end, slots: PullMessageRequestHeaderWireSlots.self)
                : scanASCIIBlock(bytes, from: r.index, to: end, slots: NoKeySlots.self)
            if let entries = gathered {
                visitor.entries = entries
                r.index = end
            }
            while r.index < end {
                // Fast path: an entry of ASCII key and value that lies within the block. Anything else (non-ASCII
                // text, a bad length) goes through the checked reads below, which give the errors.
                let i = r.index
                if i + 6 <= end {
                    let kl = Int(Int16(bitPattern: UInt16(bigEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt16.self))))
                    let ks = i + 2
                    if kl >= 0 && ks + kl + 4 <= end {
                        let vl = Int(Int32(bitPattern: UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: ks + kl, as: UInt32.self))))
                        let vs = ks + kl + 4
                        if vl >= 0 && vs + vl <= end
                            && isASCII(UnsafeRawBufferPointer(rebasing: bytes[ks..<(ks + kl)]))
                            && isASCII(UnsafeRawBufferPointer(rebasing: bytes[vs..<(vs + vl)])) {
                            var field = RawExtField(key: ks..<(ks + kl), keyKind: .ascii)
                            field.setValue(vs..<(vs + vl), .ascii)
                            visitor.visit(field)
                            r.index = vs + vl
                            continue
                        }
                    }
                }
                let keyLength = try r.readInt16("extFields key length")
                let key = try r.readText(length: Int(keyLength), field: "extFields key", limit: end)
                var field = RawExtField(key: key.range, keyKind: key.kind)
                let valueLength = try r.readInt32("extFields value length")
                let value = try r.readText(length: Int(valueLength), field: "extFields value of \(field.keyString(in: bytes))", limit: end)
                field.setValue(value.range, value.kind)
                visitor.visit(field)
            }
        }
        if r.index != bytes.count {
            throw RemotingDecodingError(r.context, .other("\(bytes.count - r.index) bytes after the extFields block"), offset: r.index)
        }
        var cmd = ScannedHead(serializeType: .rocketmq)
        cmd.code = fullCode
        cmd.language = LanguageCode(code: lang)
        cmd.version = Int32(version)
        cmd.opaque = opaque
        cmd.flag = flag
        cmd.remark = remark
        cmd.hasExtFields = extLength > 0
        cmd.jsonHasSerializeTypeCurrentRPC = true
        return cmd
    }

    /// The usual extFields block: every byte ASCII (so are all keys and values, and no length exceeds 127 per
    /// byte) and every entry within it. One ASCII check over the block, then, `fastPathBatch` entries at a time,
    /// the walk from length field to length field alone in its loop (each entry's place depends on the lengths
    /// before it: that chain of loads is what the block costs), then the entries made from their places,
    /// independent of one another, each key dispatched to its field of `Slots`'s header (work that keeps the
    /// CPU busy while the walk's loads come in; its decoder then takes the field from `RawExtField.slot`). The
    /// list is made with one allocation of exactly their number for a block of up to `fastPathBatch` entries.
    /// nil: anything else, which the checked loop reads.
    ///
    /// One header is dispatched (the scanner holds two copies of this function, inlined): with the headers of
    /// the consume and send flows each dispatched, the copies spilled registers and the walk ran 6 % slower.
    @inline(__always)
    static func scanASCIIBlock<Slots: KeySlots>(_ bytes: UnsafeRawBufferPointer, from start: Int, to end: Int,
                                                slots: Slots.Type) -> [RawExtField]? {
        guard isASCII(UnsafeRawBufferPointer(rebasing: bytes[start..<end])) else { return nil }
        return withUnsafeTemporaryAllocation(of: RawExtField.self, capacity: fastPathBatch) { batch -> [RawExtField]? in
            withUnsafeTemporaryAllocation(of: Int.self, capacity: fastPathBatch) { starts -> [RawExtField]? in
                var list: [RawExtField] = []
                var i = start
                while i < end {
                    var n = 0
                    while i < end && n < fastPathBatch {
                        // The lengths' bytes are ASCII too, so they are not negative.
                        guard i &+ 6 <= end else { return nil }
                        let kl = Int(UInt16(bigEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt16.self)))
                        let vs = i &+ 6 &+ kl
                        guard vs <= end else { return nil }
                        let next = vs &+ Int(UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: vs &- 4, as: UInt32.self)))
                        guard next <= end else { return nil }
                        starts[n] = i
                        n &+= 1
                        i = next
                    }
                    for e in 0..<n {
                        let at = starts[e]
                        let kl = Int(UInt16(bigEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt16.self)))
                        let vs = at &+ 6 &+ kl
                        let vl = Int(UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: vs &- 4, as: UInt32.self)))
                        var field = RawExtField(key: (at &+ 2)..<(at &+ 2 &+ kl), keyKind: .ascii)
                        field.setValue(vs..<(vs &+ vl), .ascii)
                        if Slots.owner != 0 {
                            field.slotOwner = Slots.owner
                            field.slot = Int8(truncatingIfNeeded: Slots.slot(ascii: UnsafeRawBufferPointer(rebasing: bytes[(at &+ 2)..<(at &+ 2 &+ kl)])))
                        }
                        batch.initializeElement(at: e, to: field)
                    }
                    let gathered = UnsafeMutableBufferPointer(rebasing: batch[0..<n])
                    if i >= end && list.isEmpty { return Array(gathered) }
                    list.append(contentsOf: gathered)
                }
                return list
            }
        }
    }

    /// Entries gathered on the stack by `scanASCIIBlock` before they become the list (24 × 32 bytes).
    private static let fastPathBatch = 24

    static func encode(_ cmd: RemotingCommand, into out: inout ByteBuffer) {
        out.writeInteger(RequestCode.binary16(cmd.code))
        out.writeInteger(cmd.language.binaryCode)
        out.writeInteger(Int16(truncatingIfNeeded: cmd.version))
        out.writeInteger(cmd.opaque)
        out.writeInteger(cmd.flag)
        if let remark = cmd.remark, !remark.isEmpty {
            out.writeInteger(Int32(remark.utf8.count))
            out.writeString(remark)
        } else {
            out.writeInteger(Int32(0))
        }
        if cmd.fieldOrigin == .wire {
            guard !cmd.wireFields.isEmpty else {
                out.writeInteger(Int32(0))
                return
            }
            cmd.wireFields.withUnsafeFields { bytes, fields in
                let lengthAt = out.writerIndex
                out.writeInteger(Int32(0))
                for f in fields {
                    if let k = f.directKey(in: bytes) {
                        out.writeInteger(Int16(truncatingIfNeeded: k.count))
                        out.writeBytes(k)
                    } else {
                        let k = f.keyString(in: bytes)
                        out.writeInteger(Int16(truncatingIfNeeded: k.utf8.count))
                        out.writeString(k)
                    }
                    if let v = f.directValue(in: bytes) {
                        out.writeInteger(Int32(v.count))
                        out.writeBytes(v)
                    } else {
                        let v = f.valueString(in: bytes)
                        out.writeInteger(Int32(v.utf8.count))
                        out.writeString(v)
                    }
                }
                out.setInteger(Int32(out.writerIndex - lengthAt - 4), at: lengthAt)
            }
            return
        }
        guard let ext = cmd.extFields, !ext.isEmpty else {
            out.writeInteger(Int32(0))
            return
        }
        var length = 0
        for e in ext.entries { length += 2 + e.key.utf8.count + 4 + e.value.utf8.count }
        out.writeInteger(Int32(length))
        for e in ext.entries {
            out.writeInteger(Int16(truncatingIfNeeded: e.key.utf8.count))
            out.writeString(e.key)
            out.writeInteger(Int32(e.value.utf8.count))
            out.writeString(e.value)
        }
    }
}

/// The command fields a header scanner reads, before the command is assembled around the header bytes.
struct ScannedHead {
    var code: Int32 = 0
    var language: LanguageCode = .java
    var version: Int32 = 0
    var opaque: Int32 = 0
    var flag: Int32 = 0
    var remark: String? = nil
    var serializeType: SerializeType
    var hasExtFields = false
    var jsonTrailingNewline = false
    var jsonHasSerializeTypeCurrentRPC = false

    init(serializeType: SerializeType) { self.serializeType = serializeType }
    var isResponse: Bool { flag & RemotingCommand.responseFlag != 0 }
}

/// The context of a decoding error, such as "frame: ROCKETMQ header" or "pull body: record 3 at offset 512".
/// Kept in parts and only formatted when an error is thrown, so the decoding hot path never builds it.
struct ErrorContext {
    enum Detail {
        case none
        /// Appended to the base as is, e.g. ": JSON header".
        case suffix(StaticString)
        /// ": record N at offset M".
        case record(index: Int, offset: Int)
    }
    let base: String
    let detail: Detail

    init(_ base: String, _ detail: Detail = .none) {
        self.base = base
        self.detail = detail
    }

    var text: String {
        switch detail {
        case .none: return base
        case .suffix(let s): return "\(base)\(s)"
        case .record(let index, let offset): return "\(base): record \(index) at offset \(offset)"
        }
    }
}

/// A String from wire bytes, or nil when they are not valid UTF-8. ASCII (nearly every header and property
/// text) skips the generic validating initializer, which is several times slower.
@inline(__always)
func makeString(validatingUTF8 bytes: UnsafeRawBufferPointer) -> String? {
    var high: UInt8 = 0
    for b in bytes { high |= b }
    if high < 0x80 {
        return bytes.withMemoryRebound(to: UInt8.self) { String(decoding: $0, as: UTF8.self) }
    }
    return String(validating: bytes, as: UTF8.self)
}

/// Bounds-checked big-endian reads over raw bytes, with errors that name the field and offset.
struct BinaryReader {
    let bytes: UnsafeRawBufferPointer
    var index = 0
    let errorContext: ErrorContext
    /// The error context as text (formatted on demand).
    var context: String { errorContext.text }

    init(bytes: UnsafeRawBufferPointer, context: String) {
        self.init(bytes: bytes, errorContext: ErrorContext(context))
    }

    init(bytes: UnsafeRawBufferPointer, errorContext: ErrorContext) {
        self.bytes = bytes
        self.errorContext = errorContext
    }

    var remaining: Int { bytes.count - index }

    @inline(__always) mutating func need(_ n: Int, _ field: @autoclosure () -> String, limit: Int? = nil) throws {
        let end = limit ?? bytes.count
        if n < 0 || index + n > end {
            throw RemotingDecodingError(context, .truncated(field: field(), needed: n, available: max(0, end - index)), offset: index)
        }
    }

    @inline(__always) mutating func readUInt8(_ field: String) throws -> UInt8 {
        try need(1, field)
        defer { index += 1 }
        return bytes[index]
    }
    @inline(__always) mutating func readInt16(_ field: String) throws -> Int16 {
        try need(2, field)
        defer { index += 2 }
        return Int16(bitPattern: UInt16(bytes[index]) << 8 | UInt16(bytes[index + 1]))
    }
    @inline(__always) mutating func readInt32(_ field: String) throws -> Int32 {
        try need(4, field)
        defer { index += 4 }
        var v: UInt32 = 0
        for k in 0..<4 { v = v << 8 | UInt32(bytes[index + k]) }
        return Int32(bitPattern: v)
    }
    @inline(__always) mutating func readInt64(_ field: String) throws -> Int64 {
        try need(8, field)
        defer { index += 8 }
        var v: UInt64 = 0
        for k in 0..<8 { v = v << 8 | UInt64(bytes[index + k]) }
        return Int64(bitPattern: v)
    }
    mutating func readBytes(_ n: Int, _ field: String) throws -> UnsafeRawBufferPointer {
        if n < 0 { throw RemotingDecodingError(context, .invalidLength(field: field, length: n), offset: index) }
        try need(n, field)
        defer { index += n }
        return UnsafeRawBufferPointer(rebasing: bytes[index..<(index + n)])
    }
    /// Like `readString`, with the same checks and errors, but returns the validated byte range.
    mutating func readText(length: Int, field: @autoclosure () -> String, limit: Int? = nil) throws -> (range: Range<Int>, kind: RawTextKind) {
        if length < 0 { throw RemotingDecodingError(context, .invalidLength(field: field(), length: length), offset: index - 4) }
        try need(length, field(), limit: limit)
        let range = index..<(index + length)
        index += length
        let slice = UnsafeRawBufferPointer(rebasing: bytes[range])
        if isASCII(slice) { return (range, .ascii) }
        guard isValidUTF8(slice) else {
            throw RemotingDecodingError(context, .invalidUTF8(field: field()), offset: range.lowerBound)
        }
        return (range, .utf8)
    }

    /// `field` is only evaluated for an error message.
    mutating func readString(length: Int, field: @autoclosure () -> String, limit: Int? = nil) throws -> String {
        if length < 0 { throw RemotingDecodingError(context, .invalidLength(field: field(), length: length), offset: index - 4) }
        try need(length, field(), limit: limit)
        let start = index
        let slice = UnsafeRawBufferPointer(rebasing: bytes[index..<(index + length)])
        index += length
        guard let s = makeString(validatingUTF8: slice) else {
            throw RemotingDecodingError(context, .invalidUTF8(field: field()), offset: start)
        }
        return s
    }
}
