/// The one decoding error of the codec. It says what was being decoded, what failed and where, so that a
/// caller can print a single line such as
/// `frame at offset 4096: JSON header: unterminated string at byte 37`.
public struct RemotingDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Reason: Hashable, Sendable {
        /// The 4-byte frame length is negative or smaller than the 4-byte header-length word.
        case frameLengthInvalid(Int32)
        /// The frame is larger than the configured maximum (length field + 4 bytes).
        case frameTooLarge(totalLength: Int64, maximum: Int)
        /// The header length H does not fit in the frame (H > L - 4).
        case headerLengthBeyondFrame(headerLength: Int, frameLength: Int)
        /// Serialize type byte other than 0 (JSON) or 1 (ROCKETMQ).
        case unknownSerializeType(UInt8)
        /// A binary header field runs past the end of the header.
        case truncated(field: String, needed: Int, available: Int)
        /// A declared length is negative or impossible.
        case invalidLength(field: String, length: Int)
        /// Bytes that are not UTF-8 where text is required.
        case invalidUTF8(field: String)
        /// JSON syntax error: a message, at byte N of the JSON text.
        case json(String)
        /// JSON nested deeper than the parser allows.
        case jsonTooDeep(limit: Int)
        /// The same key twice in a JSON object where that is ambiguous.
        case duplicateKey(String)
        /// A member has the wrong JSON type.
        case wrongType(field: String, expected: String)
        /// A custom-header field the receiver requires is absent.
        case missingField(field: String)
        /// A field that cannot be parsed as the type the Java receiver parses it into.
        case invalidField(field: String, value: String, expected: String)
        /// A stored-message record is malformed.
        case record(index: Int, reason: String)
        /// Body inflation failed or exceeded its bound.
        case decompression(String)
        /// Anything else, described.
        case other(String)
    }

    /// What was being decoded: "frame", "JSON header", "ROCKETMQ header", "PullMessageRequestHeader",
    /// "TopicRouteData body", "pull body" ...
    public var context: String
    public var reason: Reason
    /// Byte offset where the failure was detected, relative to the start of `context`'s bytes.
    public var offset: Int?

    public init(_ context: String, _ reason: Reason, offset: Int? = nil) {
        self.context = context
        self.reason = reason
        self.offset = offset
    }

    public var reasonText: String {
        switch reason {
        case .frameLengthInvalid(let l): return "frame length \(l) is invalid (must be at least 4)"
        case .frameTooLarge(let t, let m): return "frame of \(t) bytes exceeds the maximum of \(m) bytes"
        case .headerLengthBeyondFrame(let h, let l): return "header length \(h) exceeds frame length \(l) - 4"
        case .unknownSerializeType(let t): return "unknown serialize type \(t) (expected 0 JSON or 1 ROCKETMQ)"
        case .truncated(let f, let n, let a): return "\(f) truncated: needs \(n) bytes, \(a) available"
        case .invalidLength(let f, let l): return "\(f) has invalid length \(l)"
        case .invalidUTF8(let f): return "\(f) is not valid UTF-8"
        case .json(let m): return m
        case .jsonTooDeep(let l): return "JSON nested deeper than \(l) levels"
        case .duplicateKey(let k): return "duplicate key \"\(k)\""
        case .wrongType(let f, let e): return "\(f) is not \(e)"
        case .missingField(let f): return "missing field \(f)"
        case .invalidField(let f, let v, let e): return "field \(f)=\"\(v)\" is not \(e)"
        case .record(let i, let r): return "record \(i): \(r)"
        case .decompression(let m): return "decompression failed: \(m)"
        case .other(let m): return m
        }
    }

    public var description: String {
        if let offset { return "\(context): \(reasonText) at byte \(offset)" }
        return "\(context): \(reasonText)"
    }

    /// The same error seen from an enclosing context, e.g. a JSON error inside "frame 12".
    public func within(_ outer: String, offsetBase: Int? = nil) -> RemotingDecodingError {
        var e = self
        e.context = "\(outer): \(context)"
        if let base = offsetBase, let o = offset { e.offset = base + o }
        return e
    }
}
