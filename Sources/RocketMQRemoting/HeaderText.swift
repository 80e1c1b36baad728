import NIOCore

/// A String field of a generated typed header, as decoding leaves it.
///
/// Text longer than a small String (15 UTF-8 bytes) that is the header's bytes themselves (plain ASCII or
/// validated UTF-8, no JSON escapes) stays a span of the header: the String is made when the field is read,
/// so a header whose group, topic or subscription nobody reads costs no allocation for them. Shorter text, and
/// text that must be decoded (escapes, nested JSON), is a String at once. The header keeps the bytes the spans
/// refer to (`_source`, a slice of the frame that its command holds already); one decoded with text of its own
/// (`OwnText`, `init(fields:ownText:)`) keeps nothing of them.
///
/// Reading a span field makes a new String each time: a caller that reads a long field often keeps it.
enum HeaderText: Sendable {
    case string(String)
    /// `count` bytes at `start` of the header's bytes; ASCII when `ascii`, validated UTF-8 otherwise.
    case span(start: Int32, count: Int32, ascii: Bool)

    @inline(__always) init(_ s: String) { self = .string(s) }

    /// The longest text kept as a String at once (a small String: no allocation).
    static let smallStringBytes: Int32 = 15

    /// The value of a field, as the generated decoders read it (`own`: a String at once, whatever its length).
    @inline(__always)
    static func decode(_ f: RawExtField, _ bytes: UnsafeRawBufferPointer, own: Bool) -> HeaderText {
        if f.valueCount > smallStringBytes && !own {
            switch f.valueKind {
            case .ascii: return .span(start: f.valueStart, count: f.valueCount, ascii: true)
            case .utf8: return .span(start: f.valueStart, count: f.valueCount, ascii: false)
            case .escapedString, .scalar, .nested: break
            }
        }
        return .string(f.valueString(in: bytes))
    }

    /// The `_source` of a header built in code or decoded with text of its own (its text is all Strings).
    static let noSource = ByteBuffer()

    /// The text, with `source` the bytes the header was decoded from.
    @inline(__always)
    func string(_ source: borrowing ByteBuffer) -> String {
        switch self {
        case .string(let s):
            return s
        case .span(let start, let count, let ascii):
            return source.withUnsafeReadableBytes {
                String(validatedUTF8: UnsafeRawBufferPointer(rebasing: $0[Int(start)..<Int(start) + Int(count)]),
                       isASCII: ascii)
            }
        }
    }
}

/// How a generated decoder holds a header's text: as spans of the decoded bytes (`SpanText`) or as Strings of
/// its own (`OwnText`). A type, not a flag, so that each is a specialization of the decoder of its own.
protocol HeaderTextMode { static var own: Bool { get } }
enum SpanText: HeaderTextMode { @inline(__always) static var own: Bool { false } }
enum OwnText: HeaderTextMode { @inline(__always) static var own: Bool { true } }
