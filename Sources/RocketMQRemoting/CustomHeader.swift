/// Typed custom headers: the fields a command carries in extFields (PROTOCOL.md 2.3 and section 5).
///
/// Decoding follows the Java receiver: required (`@CFNotNull`) fields must be present, numbers are parsed as
/// Java parses them (`Integer.parseInt`, `Long.parseLong`), booleans as `Boolean.parseBoolean`. Keys a header
/// does not declare (`bname`, `ns`, ACL keys, broker-added keys) are kept in `extra`. Encoding writes the
/// fields in Java HashMap iteration order, so the map matches what the Java code produces.
public protocol CustomHeader: Sendable, Hashable {
    /// The Java class name, used in error messages.
    static var javaName: String { get }
    init(extFields: ExtFields) throws
    /// The declared fields in declaration order, non-null only (before HashMap ordering).
    var declaredFields: [(key: String, value: String)] { get }
    /// Keys present on the wire that this header does not declare.
    var extra: ExtFields { get set }
}

extension CustomHeader {
    /// The extFields Java would send for this header: declared fields in HashMap order, then the extras.
    public var extFields: ExtFields {
        var e = ExtFields(JavaHashMapOrder.ordered(declaredFields))
        for x in extra.entries { e.append(x.key, x.value) }
        return e
    }
}

/// Java `HashMap<String, String>` iteration order for a map filled by `put` in the given order (default
/// capacity 16, load factor 0.75, doubling; within a bucket, insertion order).
public enum JavaHashMapOrder {
    /// Java `String.hashCode()` over UTF-16 code units.
    public static func javaHashCode(_ s: String) -> Int32 {
        var h: Int32 = 0
        for u in s.utf16 { h = h &* 31 &+ Int32(u) }
        return h
    }

    public static func ordered(_ entries: [(key: String, value: String)]) -> [(key: String, value: String)] {
        var capacity = 16
        while Double(entries.count) > Double(capacity) * 0.75 { capacity *= 2 }
        let indexed = entries.enumerated().map { (i, e) -> (bucket: Int, order: Int, entry: (key: String, value: String)) in
            let h = UInt32(bitPattern: javaHashCode(e.key))
            let spread = h ^ (h >> 16)
            return (Int(spread & UInt32(capacity - 1)), i, e)
        }
        return indexed.sorted { ($0.bucket, $0.order) < ($1.bucket, $1.order) }.map(\.entry)
    }
}

/// Reads declared fields out of extFields with the Java receiver's parsing rules.
public struct HeaderFieldReader {
    public let fields: ExtFields
    public let header: String
    private var used: Set<String> = []

    public init(_ fields: ExtFields, header: String) {
        self.fields = fields
        self.header = header
    }

    private func missing(_ key: String) -> RemotingDecodingError {
        RemotingDecodingError(header, .missingField(field: key))
    }
    private func invalid(_ key: String, _ value: String, _ expected: String) -> RemotingDecodingError {
        RemotingDecodingError(header, .invalidField(field: key, value: value, expected: expected))
    }

    public mutating func string(_ key: String) throws -> String {
        guard let v = optString(key) else { throw missing(key) }
        return v
    }
    public mutating func optString(_ key: String) -> String? {
        used.insert(key)
        return fields[key]
    }
    public mutating func int32(_ key: String) throws -> Int32 {
        guard let v = try optInt32(key) else { throw missing(key) }
        return v
    }
    public mutating func optInt32(_ key: String) throws -> Int32? {
        guard let s = optString(key) else { return nil }
        guard let v = Int32(s) else { throw invalid(key, s, "an Integer") }
        return v
    }
    public mutating func int64(_ key: String) throws -> Int64 {
        guard let v = try optInt64(key) else { throw missing(key) }
        return v
    }
    public mutating func optInt64(_ key: String) throws -> Int64? {
        guard let s = optString(key) else { return nil }
        guard let v = Int64(s) else { throw invalid(key, s, "a Long") }
        return v
    }
    /// `Boolean.parseBoolean`: "true" in any case is true, anything else false.
    public mutating func bool(_ key: String) throws -> Bool {
        guard let v = optBool(key) else { throw missing(key) }
        return v
    }
    public mutating func optBool(_ key: String) -> Bool? {
        guard let s = optString(key) else { return nil }
        return s.lowercased() == "true"
    }
    /// Keys that no read asked for, in wire order.
    public func unused() -> ExtFields {
        ExtFields(fields.entries.filter { !used.contains($0.key) })
    }
}

/// Builds the declared-field list, skipping nil values, with Java's `String.valueOf` formatting.
public struct HeaderFieldWriter {
    public private(set) var entries: [(key: String, value: String)] = []
    public init() {}
    public mutating func add(_ key: String, _ value: String?) {
        if let value { entries.append((key: key, value: value)) }
    }
    public mutating func add<T: BinaryInteger>(_ key: String, _ value: T?) {
        if let value { entries.append((key: key, value: String(value))) }
    }
    public mutating func add(_ key: String, _ value: Bool?) {
        if let value { entries.append((key: key, value: value ? "true" : "false")) }
    }
}
