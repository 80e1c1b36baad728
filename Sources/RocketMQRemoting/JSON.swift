/// A JSON value as RocketMQ writes it. fastjson 1.x writes map keys that are not strings without quotes
/// (`{0:"addr"}`) and object-typed keys as nested objects (`{{"topic":"t"}:100}`), so keys are `JSONKey`,
/// not just strings. Numbers keep their literal text so that 64-bit values survive unchanged.
public indirect enum JSONValue: Hashable, Sendable {
    case object([JSONMember])
    case array([JSONValue])
    case string(String)
    case number(String)
    case bool(Bool)
    case null
}

public struct JSONMember: Hashable, Sendable {
    public var key: JSONKey
    public var value: JSONValue
    public init(key: JSONKey, value: JSONValue) {
        self.key = key
        self.value = value
    }
    public init(_ key: String, _ value: JSONValue) {
        self.key = .string(key)
        self.value = value
    }
}

public enum JSONKey: Hashable, Sendable, CustomStringConvertible {
    /// A quoted key.
    case string(String)
    /// An unquoted literal key: an integer (possibly negative), `true`, `false` or `null`.
    case bare(String)
    /// An object used as a key (Java map keyed by MessageQueue).
    case object(JSONValue)

    /// The key as text: the string, the literal, or the compact JSON of the object.
    public var text: String {
        switch self {
        case .string(let s): return s
        case .bare(let s): return s
        case .object(let v): return v.compactText
        }
    }
    public var description: String { text }
}

extension JSONValue {
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        for m in members.reversed() where m.key.text == key { return m.value }
        return nil
    }
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }
    /// Text of a scalar: strings as is, numbers and booleans as written.
    public var scalarText: String? {
        switch self {
        case .string(let s): return s
        case .number(let n): return n
        case .bool(let b): return b ? "true" : "false"
        default: return nil
        }
    }
    public var int64Value: Int64? {
        switch self {
        case .number(let n): return Int64(n)
        case .string(let s): return Int64(s)
        default: return nil
        }
    }
    public var boolValue: Bool? {
        switch self {
        case .bool(let b): return b
        case .string(let s): return s == "true" ? true : (s == "false" ? false : nil)
        default: return nil
        }
    }
    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }
    public var objectMembers: [JSONMember]? {
        if case .object(let m) = self { return m }
        return nil
    }

    /// Compact JSON text in fastjson style: no spaces, control characters as `\u00XX`, non-ASCII raw.
    /// Bare and object keys are written as they were read (so the output is RocketMQ's dialect).
    public var compactText: String {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        JSONWriter.write(self, into: &out)
        return String(decoding: out, as: UTF8.self)
    }
}

/// Writes JSON the way fastjson does: compact, `\"`, `\\`, control characters as `\u00XX` (with the
/// short forms `\b \f \n \r \t`), everything else raw UTF-8.
/// The high bit of each byte of `w` (eight string bytes) that may end a run of plain string text: a quote, a
/// backslash or a control byte. Exact for the lowest such byte; bytes above it may be flagged falsely (borrows).
@inline(__always)
func jsonStringStops(_ w: UInt64) -> UInt64 {
    let q = w ^ 0x2222_2222_2222_2222, s = w ^ 0x5C5C_5C5C_5C5C_5C5C
    return (((q &- 0x0101_0101_0101_0101) & ~q) | ((s &- 0x0101_0101_0101_0101) & ~s)
        | ((w &- 0x2020_2020_2020_2020) & ~w)) & 0x8080_8080_8080_8080
}

/// Non-zero when one of the eight bytes of `w` may need an escape on output: a quote, a backslash, a control
/// byte or DEL (it may flag a byte that needs none; `jsonEscapes(_:)` then tells).
@inline(__always)
func jsonEscapeStops(_ w: UInt64) -> UInt64 {
    let d = w ^ 0x7F7F_7F7F_7F7F_7F7F  // DEL, escaped on output only
    return jsonStringStops(w) | ((d &- 0x0101_0101_0101_0101) & ~d & 0x8080_8080_8080_8080)
}

/// Whether `JSONWriter.writeString` escapes the byte `b`.
@inline(__always)
func jsonEscapes(_ b: UInt8) -> Bool {
    b < 0x20 || b == 0x7F || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\")
}

/// Whether a text has a byte that `JSONWriter.writeString` escapes (eight bytes at a time, the tail byte by byte).
@inline(__always)
func needsEscape(_ bytes: UnsafeRawBufferPointer) -> Bool {
    var i = 0
    let n = bytes.count
    while i + 8 <= n {
        if jsonEscapeStops(bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)) != 0 { break }
        i += 8
    }
    while i < n {
        if jsonEscapes(bytes[i]) { return true }
        i += 1
    }
    return false
}

/// Where the JSON writers put their bytes: an array, or a line buffer of fixed size (`JSONLineBuffer`). Each
/// of the two has the writers' code specialized for it (the requirements below), so that code generic over the
/// sink, such as the NDJSON frame line, calls them directly once specialized.
public protocol JSONByteSink {
    mutating func append(_ byte: UInt8)
    mutating func append(contentsOf bytes: UnsafeRawBufferPointer)
    /// `head`, then `bytes`, then `tail` (each of `head` and `tail` 0-2 bytes, in the order given): a quoted
    /// text, a member's key. An array gathers them and appends once; a line buffer writes them in place.
    mutating func append(_ head: (UInt8, UInt8, Int), _ bytes: UnsafeRawBufferPointer, _ tail: (UInt8, UInt8, Int))
    /// `JSONWriter.writeString`: the text quoted, escaped as needed.
    mutating func appendJSONString(_ text: String)
    /// `JSONWriter.write`: the value as compact JSON text.
    mutating func appendJSON(_ value: JSONValue)
    /// `RemotingCommand.writeFieldsJSONObject`: the extFields as one object of strings, credentials redacted.
    mutating func appendFieldsJSONObject(of command: RemotingCommand)
}

extension Array: JSONByteSink where Element == UInt8 {
    public mutating func append(_ head: (UInt8, UInt8, Int), _ bytes: UnsafeRawBufferPointer, _ tail: (UInt8, UInt8, Int)) {
        // Gathered on the stack and appended at once: each append to an array checks its capacity and
        // uniqueness, which for short pieces costs more than the bytes.
        let n = head.2 + bytes.count + tail.2
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: n) { t in
            t[0] = head.0
            if head.2 > 1 { t[1] = head.1 }
            if !bytes.isEmpty { UnsafeMutableRawBufferPointer(start: t.baseAddress! + head.2, count: bytes.count).copyMemory(from: bytes) }
            t[n - tail.2] = tail.0
            if tail.2 > 1 { t[n - 1] = tail.1 }
            append(contentsOf: t)
        }
    }
    public mutating func appendJSONString(_ text: String) { JSONWriter.writeString(text, to: &self) }
    public mutating func appendJSON(_ value: JSONValue) { JSONWriter.write(value, to: &self) }
    public mutating func appendFieldsJSONObject(of command: RemotingCommand) { command.writeFieldsJSONObject(to: &self) }
}

/// JSON text written through a pointer into a buffer of fixed size: the hot lines of the NDJSON output, with
/// no capacity and uniqueness checks of an array for each piece. A write that does not fit writes nothing and
/// sets `overflowed` (every later one then writes nothing either): the caller writes the line the ordinary way.
public struct JSONLineBuffer: JSONByteSink {
    @usableFromInline let base: UnsafeMutableRawPointer
    @usableFromInline let capacity: Int
    @usableFromInline var written_ = 0
    @usableFromInline var overflowed_ = false

    /// The bytes written.
    public var count: Int { written_ }
    /// A write did not fit: the buffer does not hold the whole text.
    public var overflowed: Bool { overflowed_ }

    public init(_ buffer: UnsafeMutableRawBufferPointer) {
        base = buffer.baseAddress!
        capacity = buffer.count
    }

    @inlinable @inline(__always)
    public mutating func append(_ byte: UInt8) {
        guard written_ < capacity else { overflowed_ = true; return }
        base.storeBytes(of: byte, toByteOffset: written_, as: UInt8.self)
        written_ &+= 1
    }

    @inlinable @inline(__always)
    public mutating func append(contentsOf bytes: UnsafeRawBufferPointer) {
        guard bytes.count <= capacity &- written_ else { overflowed_ = true; written_ = capacity; return }
        if let p = bytes.baseAddress { (base + written_).copyMemory(from: p, byteCount: bytes.count) }
        written_ &+= bytes.count
    }

    @inlinable @inline(__always)
    public mutating func append(_ head: (UInt8, UInt8, Int), _ bytes: UnsafeRawBufferPointer, _ tail: (UInt8, UInt8, Int)) {
        let n = head.2 &+ bytes.count &+ tail.2
        guard n <= capacity &- written_ else { overflowed_ = true; written_ = capacity; return }
        let p = base + written_
        p.storeBytes(of: head.0, as: UInt8.self)
        if head.2 > 1 { p.storeBytes(of: head.1, toByteOffset: 1, as: UInt8.self) }
        if let b = bytes.baseAddress { (p + head.2).copyMemory(from: b, byteCount: bytes.count) }
        p.storeBytes(of: tail.0, toByteOffset: n &- tail.2, as: UInt8.self)
        if tail.2 > 1 { p.storeBytes(of: tail.1, toByteOffset: n &- 1, as: UInt8.self) }
        written_ &+= n
    }

    /// The bytes written (meaningful when not `overflowed`).
    public var written: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: written_) }

    public mutating func appendJSONString(_ text: String) { JSONWriter.writeString(text, to: &self) }
    public mutating func appendJSON(_ value: JSONValue) { JSONWriter.write(value, to: &self) }
    public mutating func appendFieldsJSONObject(of command: RemotingCommand) { command.writeFieldsJSONObject(to: &self) }
}

public enum JSONWriter {
    public static func write(_ value: JSONValue, into out: inout [UInt8]) { write(value, to: &out) }

    static func write<Sink: JSONByteSink>(_ value: JSONValue, to out: inout Sink) {
        switch value {
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (i, m) in members.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                switch m.key {
                case .string(let s): writeString(s, to: &out)
                case .bare(let s): appendUTF8(s, to: &out)
                case .object(let v): write(v, to: &out)
                }
                out.append(UInt8(ascii: ":"))
                write(m.value, to: &out)
            }
            out.append(UInt8(ascii: "}"))
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, v) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                write(v, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .string(let s): writeString(s, to: &out)
        case .number(let n): appendUTF8(n, to: &out)
        case .bool(let b): appendUTF8(b ? "true" : "false", to: &out)
        case .null: appendUTF8("null", to: &out)
        }
    }

    @inline(__always)
    static func appendUTF8<Sink: JSONByteSink>(_ s: String, to out: inout Sink) {
        var s = s
        s.withUTF8 { out.append(contentsOf: UnsafeRawBufferPointer($0)) }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    public static func writeString(_ s: String, into out: inout [UInt8]) { writeString(s, to: &out) }

    @inline(__always)
    static func writeString<Sink: JSONByteSink>(_ s: String, to out: inout Sink) {
        var s = s
        s.withUTF8 { writeString(utf8: UnsafeRawBufferPointer($0), to: &out) }
    }

    /// `writeString` over the UTF-8 bytes of a text.
    public static func writeString(utf8 bytes: UnsafeRawBufferPointer, into out: inout [UInt8]) { writeString(utf8: bytes, to: &out) }

    static func writeString<Sink: JSONByteSink>(utf8 bytes: UnsafeRawBufferPointer, to out: inout Sink) {
        // Short texts with nothing to escape (keys, names, numbers: nearly all) go out quoted in one piece.
        if bytes.count <= 120 && !needsEscape(bytes) {
            out.append((UInt8(ascii: "\""), 0, 1), bytes, (UInt8(ascii: "\""), 0, 1))
            return
        }
        out.append(UInt8(ascii: "\""))
        // Runs of bytes that need no escape are appended whole (most texts are one run).
        var run = 0
        var i = 0
        let n = bytes.count
        while i < n {
            // Eight bytes at a time while none may need an escape (a quote, a backslash, a control byte or DEL;
            // the test may flag a byte that needs none, which the byte test below then passes).
            while i + 8 <= n && jsonEscapeStops(bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)) == 0 { i += 8 }
            guard i < n else { break }
            let b = bytes[i]
            if !jsonEscapes(b) {
                i += 1
                continue
            }
            if i > run { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[run..<i])) }
            switch b {
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\\")); out.append(b)
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\")); out.append(b)
            case 0x08: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "b"))
            case 0x0C: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "f"))
            case 0x0A: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "r"))
            case 0x09: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "t"))
            default:  // other controls and DEL
                out.append(UInt8(ascii: "\\"))
                out.append(UInt8(ascii: "u"))
                out.append(UInt8(ascii: "0"))
                out.append(UInt8(ascii: "0"))
                out.append(hexDigits[Int(b >> 4)])
                out.append(hexDigits[Int(b & 0xF)])
            }
            i += 1
            run = i
        }
        if n > run { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[run..<n])) }
        out.append(UInt8(ascii: "\""))
    }
}

/// A byte-level JSON reader with RocketMQ's leniencies (bare integer, literal and object keys; a trailing
/// newline from the C++ client), a depth limit and optional duplicate-key rejection. Every error carries the
/// byte offset where it was detected.
public struct JSONParser {
    public struct Options: Sendable {
        public var maxDepth: Int
        public var rejectDuplicateKeys: Bool
        public var allowNonStringKeys: Bool
        public init(maxDepth: Int = 64, rejectDuplicateKeys: Bool = false, allowNonStringKeys: Bool = true) {
            self.maxDepth = maxDepth
            self.rejectDuplicateKeys = rejectDuplicateKeys
            self.allowNonStringKeys = allowNonStringKeys
        }
    }

    /// Parses one complete JSON value; only white space may follow it.
    public static func parse(_ bytes: UnsafeRawBufferPointer, context: String, options: Options = Options()) throws -> JSONValue {
        var c = JSONCursor(bytes, context: context)
        var p = JSONParser(options: options)
        c.skipWhitespace()
        let v = try p.parseValue(&c, depth: 0)
        c.skipWhitespace()
        if !c.atEnd { throw c.error("unexpected '\(c.printable)' after the JSON value") }
        return v
    }

    public static func parse(_ bytes: [UInt8], context: String, options: Options = Options()) throws -> JSONValue {
        try bytes.withUnsafeBytes { try parse($0, context: context, options: options) }
    }

    let options: Options
    init(options: Options) { self.options = options }

    mutating func parseValue(_ c: inout JSONCursor, depth: Int) throws -> JSONValue {
        guard let b = c.peek() else { throw c.error("unexpected end of JSON, expected a value") }
        switch b {
        case UInt8(ascii: "{"): return try parseObject(&c, depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(&c, depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try c.readString())
        case UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"):
            let lit = try c.readLiteral()
            switch lit {
            case "true": return .bool(true)
            case "false": return .bool(false)
            default: return .null
            }
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return .number(try c.readNumber())
        default:
            throw c.error("unexpected '\(c.printable)', expected a value")
        }
    }

    mutating func parseObject(_ c: inout JSONCursor, depth: Int) throws -> JSONValue {
        if depth > options.maxDepth {
            throw RemotingDecodingError(c.context, .jsonTooDeep(limit: options.maxDepth), offset: c.index)
        }
        c.advance()  // {
        var members: [JSONMember] = []
        c.skipWhitespace()
        if c.peek() == UInt8(ascii: "}") { c.advance(); return .object(members) }
        while true {
            c.skipWhitespace()
            let keyOffset = c.index
            let key: JSONKey
            switch c.peek() {
            case UInt8(ascii: "\"")?:
                key = .string(try c.readString())
            case UInt8(ascii: "{")? where options.allowNonStringKeys:
                key = .object(try parseObject(&c, depth: depth + 1))
            case let b? where options.allowNonStringKeys && (b == UInt8(ascii: "-") || (b >= 0x30 && b <= 0x39)):
                key = .bare(try c.readNumber())
            case let b? where options.allowNonStringKeys && (b == UInt8(ascii: "t") || b == UInt8(ascii: "f") || b == UInt8(ascii: "n")):
                key = .bare(try c.readLiteral())
            case nil:
                throw c.error("unexpected end of JSON inside an object")
            default:
                throw c.error("unexpected '\(c.printable)', expected an object key")
            }
            if options.rejectDuplicateKeys, members.contains(where: { $0.key == key }) {
                throw RemotingDecodingError(c.context, .duplicateKey(key.text), offset: keyOffset)
            }
            c.skipWhitespace()
            try c.expect(UInt8(ascii: ":"), "':' after an object key")
            c.skipWhitespace()
            let value = try parseValue(&c, depth: depth)
            members.append(JSONMember(key: key, value: value))
            c.skipWhitespace()
            switch c.peek() {
            case UInt8(ascii: ",")?: c.advance()
            case UInt8(ascii: "}")?: c.advance(); return .object(members)
            case nil: throw c.error("unexpected end of JSON inside an object")
            default: throw c.error("unexpected '\(c.printable)', expected ',' or '}'")
            }
        }
    }

    mutating func parseArray(_ c: inout JSONCursor, depth: Int) throws -> JSONValue {
        if depth > options.maxDepth {
            throw RemotingDecodingError(c.context, .jsonTooDeep(limit: options.maxDepth), offset: c.index)
        }
        c.advance()  // [
        var items: [JSONValue] = []
        c.skipWhitespace()
        if c.peek() == UInt8(ascii: "]") { c.advance(); return .array(items) }
        while true {
            c.skipWhitespace()
            items.append(try parseValue(&c, depth: depth))
            c.skipWhitespace()
            switch c.peek() {
            case UInt8(ascii: ",")?: c.advance()
            case UInt8(ascii: "]")?: c.advance(); return .array(items)
            case nil: throw c.error("unexpected end of JSON inside an array")
            default: throw c.error("unexpected '\(c.printable)', expected ',' or ']'")
            }
        }
    }
}

/// Position in a JSON text. Shared by the general parser and the header decoder's fast path.
struct JSONCursor {
    let bytes: UnsafeRawBufferPointer
    var index: Int = 0
    let errorContext: ErrorContext
    /// The error context as text (formatted on demand).
    var context: String { errorContext.text }

    init(_ bytes: UnsafeRawBufferPointer, context: String) {
        self.init(bytes, errorContext: ErrorContext(context))
    }

    init(_ bytes: UnsafeRawBufferPointer, errorContext: ErrorContext) {
        self.bytes = bytes
        self.errorContext = errorContext
    }

    @inline(__always) var atEnd: Bool { index >= bytes.count }
    @inline(__always) func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }
    @inline(__always) mutating func advance() { index += 1 }

    var printable: String {
        guard let b = peek() else { return "end" }
        if b >= 0x20 && b < 0x7F { return String(UnicodeScalar(b)) }
        return String(format2hex: b)
    }

    func error(_ message: String) -> RemotingDecodingError {
        RemotingDecodingError(context, .json(message), offset: index)
    }

    @inline(__always) mutating func skipWhitespace() {
        while index < bytes.count {
            let b = bytes[index]
            if b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 { index += 1 } else { return }
        }
    }

    @inline(__always) mutating func expect(_ byte: UInt8, _ what: StaticString) throws {
        if index < bytes.count && bytes[index] == byte {
            index += 1
            return
        }
        throw expectError(what)
    }

    private func expectError(_ what: StaticString) -> RemotingDecodingError {
        if atEnd { return error("unexpected end of JSON, expected \(what)") }
        return error("unexpected '\(printable)', expected \(what)")
    }

    mutating func readLiteral() throws -> String {
        let start = index
        for lit in ["true", "false", "null"] {
            let u = Array(lit.utf8)
            if index + u.count <= bytes.count {
                var ok = true
                for k in 0..<u.count where bytes[index + k] != u[k] { ok = false; break }
                if ok { index += u.count; return lit }
            }
        }
        index = start
        throw error("invalid literal")
    }

    mutating func readNumber() throws -> String {
        let range = try skipNumber()
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    /// Validates a number literal and returns its byte range (no String built).
    mutating func skipNumber() throws -> Range<Int> {
        let start = index
        if peek() == UInt8(ascii: "-") { index += 1 }
        var digits = 0
        while let b = peek(), b >= 0x30 && b <= 0x39 { index += 1; digits += 1 }
        if digits == 0 { throw error("invalid number") }
        if peek() == UInt8(ascii: ".") {
            index += 1
            var frac = 0
            while let b = peek(), b >= 0x30 && b <= 0x39 { index += 1; frac += 1 }
            if frac == 0 { throw error("invalid number") }
        }
        if let e = peek(), e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            index += 1
            if let s = peek(), s == UInt8(ascii: "+") || s == UInt8(ascii: "-") { index += 1 }
            var exp = 0
            while let b = peek(), b >= 0x30 && b <= 0x39 { index += 1; exp += 1 }
            if exp == 0 { throw error("invalid number") }
        }
        return start..<index
    }

    /// Reads an integer literal that must fit in Int64 (header members such as code and opaque).
    mutating func readInt64() throws -> Int64 {
        // The position in a local (not the cursor's stored index) through the digit loops.
        let start = index
        let p = bytes
        let n = p.count
        var i = start
        var negative = false
        if i < n && p[i] == UInt8(ascii: "-") { negative = true; i &+= 1 }
        let digitsStart = i
        var value: Int64 = 0
        // Up to 18 digits cannot overflow: no checks for them. A 19th digit goes on in the checked loop.
        let unchecked = min(n, i &+ 18)
        while i < unchecked {
            let d = p[i] &- 0x30
            if d > 9 { break }
            value = value &* 10 &+ Int64(d)
            i &+= 1
        }
        if i == unchecked {
            while i < n {
                let b = p[i]
                guard b >= 0x30 && b <= 0x39 else { break }
                let (m, o1) = value.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(Int64(b &- 0x30))
                if o1 || o2 { index = start; throw error("integer out of range") }
                value = a
                i &+= 1
            }
        }
        if i == digitsStart { index = start; throw error("expected an integer") }
        index = i
        if i < n {
            let b = p[i]
            if b == UInt8(ascii: ".") || b == UInt8(ascii: "e") || b == UInt8(ascii: "E") {
                throw error("expected an integer, found a fraction")
            }
        }
        return negative ? -value : value
    }

    /// Scans a quoted string (the cursor is on the opening quote) with exactly the checks and errors of
    /// `readString`, without building a String. Plain strings report the bytes between the quotes; a string
    /// with escapes reports the range starting at its opening quote (re-read it with `readString`).
    mutating func scanString() throws -> (range: Range<Int>, kind: RawTextKind) {
        let quote = index
        index += 1  // opening quote
        let start = index
        var high: UInt8 = 0
        // Eight bytes at a time while they hold no quote, backslash or control character.
        var wordHigh: UInt64 = 0
        while index + 8 <= bytes.count {
            let w = bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            let flagged = jsonStringStops(w)
            if flagged != 0 {
                // The lowest flagged byte is exact (borrows only disturb the bytes above it): jump to it.
                let k = flagged.trailingZeroBitCount >> 3
                if k > 0 { wordHigh |= w & ((1 &<< UInt64(k &* 8)) &- 1) }
                index += k
                break
            }
            wordHigh |= w
            index += 8
        }
        if wordHigh & 0x8080_8080_8080_8080 != 0 { high = 0x80 }
        while index < bytes.count {
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                let range = start..<index
                index += 1
                if high < 0x80 { return (range, .ascii) }
                if isValidUTF8(UnsafeRawBufferPointer(rebasing: bytes[range])) { return (range, .utf8) }
                throw RemotingDecodingError(context, .invalidUTF8(field: "JSON string"), offset: start)
            }
            high |= b
            if b == UInt8(ascii: "\\") { break }
            if b < 0x20 { throw error("control character 0x\(String(b, radix: 16)) inside a string") }
            index += 1
        }
        // Escapes (or an unterminated string): the String-building reader has the checks and errors.
        index = quote
        _ = try readString()
        return (quote..<index, .escapedString)
    }

    /// Reads a quoted string (the cursor is on the opening quote) and validates its UTF-8.
    mutating func readString() throws -> String {
        index += 1  // opening quote
        let start = index
        // Fast path: no escapes. `high` tells whether the text is ASCII, which needs no UTF-8 validation.
        var high: UInt8 = 0
        while index < bytes.count {
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                let slice = UnsafeRawBufferPointer(rebasing: bytes[start..<index])
                index += 1
                if high < 0x80 { return slice.withMemoryRebound(to: UInt8.self) { String(decoding: $0, as: UTF8.self) } }
                if let s = String(validating: slice, as: UTF8.self) { return s }
                throw RemotingDecodingError(context, .invalidUTF8(field: "JSON string"), offset: start)
            }
            high |= b
            if b == UInt8(ascii: "\\") { break }
            if b < 0x20 { throw error("control character 0x\(String(b, radix: 16)) inside a string") }
            index += 1
        }
        if index >= bytes.count {
            throw RemotingDecodingError(context, .json("unterminated string"), offset: start - 1)
        }
        // Slow path with escapes: the text is at most as long as its escaped form.
        var out: [UInt8] = []
        out.reserveCapacity(min(bytes.count - start, 4096))
        out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                index += 1
                if let s = out.withUnsafeBytes({ makeString(validatingUTF8: $0) }) { return s }
                throw RemotingDecodingError(context, .invalidUTF8(field: "JSON string"), offset: start)
            }
            if b < 0x20 { throw error("control character 0x\(String(b, radix: 16)) inside a string") }
            if b != UInt8(ascii: "\\") { out.append(b); index += 1; continue }
            index += 1
            guard let e = peek() else { break }
            index += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try readHex4()
                if scalar >= 0xD800 && scalar < 0xDC00 {
                    // high surrogate: a low one must follow
                    guard index + 6 <= bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                        throw error("unpaired surrogate in \\u escape")
                    }
                    index += 2
                    let low = try readHex4()
                    guard low >= 0xDC00 && low < 0xE000 else { throw error("unpaired surrogate in \\u escape") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if scalar >= 0xDC00 && scalar < 0xE000 {
                    throw error("unpaired surrogate in \\u escape")
                }
                guard let u = Unicode.Scalar(scalar) else { throw error("invalid \\u escape") }
                // UTF-8 in place (a message's properties hold two escapes per entry: \u0001 and \u0002).
                UTF8.encode(u) { out.append($0) }
            default:
                index -= 1
                throw error("invalid escape '\\\(printable)'")
            }
        }
        throw RemotingDecodingError(context, .json("unterminated string"), offset: start - 1)
    }

    mutating func readHex4() throws -> UInt32 {
        guard index + 4 <= bytes.count else { index = bytes.count; throw error("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[index]
            let d: UInt32
            switch b {
            case 0x30...0x39: d = UInt32(b - 0x30)
            case 0x41...0x46: d = UInt32(b - 0x41 + 10)
            case 0x61...0x66: d = UInt32(b - 0x61 + 10)
            default: throw error("invalid hex digit in \\u escape")
            }
            v = v << 4 | d
            index += 1
        }
        return v
    }

    /// Skips any JSON value (used for unknown header members) with the depth limit.
    mutating func skipValue(depth: Int, maxDepth: Int) throws {
        var p = JSONParser(options: .init(maxDepth: maxDepth))
        _ = try p.parseValue(&self, depth: depth)
    }
}

/// UTF-8 validation without building a String (same acceptance as `String(validating:as:)`).
func isValidUTF8(_ bytes: UnsafeRawBufferPointer) -> Bool {
    var it = bytes.makeIterator()
    var decoder = Unicode.UTF8()
    while true {
        switch decoder.decode(&it) {
        case .scalarValue: continue
        case .emptyInput: return true
        case .error: return false
        }
    }
}

extension String {
    init(format2hex b: UInt8) {
        let h = String(b, radix: 16, uppercase: false)
        self = "0x" + (h.count == 1 ? "0" + h : h)
    }
}
