import NIOCore

/// Header serialization, chosen per frame by the high byte of the header-length word.
public enum SerializeType: UInt8, Hashable, Sendable, CustomStringConvertible {
    case json = 0
    case rocketmq = 1
    public var description: String { self == .json ? "JSON" : "ROCKETMQ" }
}

/// The custom-header map of a command, in wire order. Java writes a HashMap, so the order carries no meaning,
/// but keeping it lets a decoded command be encoded back to the same bytes.
public struct ExtFields: Hashable, Sendable, Sequence, ExpressibleByDictionaryLiteral, CustomStringConvertible {
    public var entries: [(key: String, value: String)]

    public init() { entries = [] }
    public init(_ entries: [(key: String, value: String)]) { self.entries = entries }
    public init(dictionaryLiteral elements: (String, String)...) {
        entries = elements.map { (key: $0.0, value: $0.1) }
    }

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }
    public func makeIterator() -> IndexingIterator<[(key: String, value: String)]> { entries.makeIterator() }

    /// The value of a key; with duplicate keys the last one wins, as in Java.
    public subscript(key: String) -> String? {
        get {
            var i = entries.count - 1
            while i >= 0 {
                if entries[i].key == key { return entries[i].value }
                i -= 1
            }
            return nil
        }
        set {
            if let i = entries.lastIndex(where: { $0.key == key }) {
                if let newValue { entries[i].value = newValue } else { entries.remove(at: i) }
            } else if let newValue {
                entries.append((key: key, value: newValue))
            }
        }
    }

    public mutating func append(_ key: String, _ value: String) { entries.append((key: key, value: value)) }

    public static func == (a: ExtFields, b: ExtFields) -> Bool {
        a.entries.count == b.entries.count && zip(a.entries, b.entries).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }
    public func hash(into h: inout Hasher) {
        h.combine(entries.count)
        for e in entries { h.combine(e.key); h.combine(e.value) }
    }
    public var description: String {
        "{" + entries.map { "\($0.key)=\($0.value)" }.joined(separator: ", ") + "}"
    }
}

/// One RemotingCommand: request, oneway request or response.
public struct RemotingCommand: Hashable, Sendable {
    public var code: Int32
    public var language: LanguageCode
    public var version: Int32
    public var opaque: Int32
    public var flag: Int32
    public var remark: String?
    /// nil when the header has no extFields at all (distinct from an empty map, `"extFields":{}`).
    public var extFields: ExtFields?
    public var body: ByteBuffer?
    public var serializeType: SerializeType
    /// JSON only: the header text ended with a newline (the C++ client's jsoncpp writer does this).
    public var jsonTrailingNewline: Bool
    /// JSON only: Java's bean serializer adds `"serializeTypeCurrentRPC":"JSON"`; other clients do not.
    public var jsonHasSerializeTypeCurrentRPC: Bool

    public static let responseFlag: Int32 = 1
    public static let onewayFlag: Int32 = 2

    public init(code: Int32, language: LanguageCode = .java, version: Int32 = MQVersion.v4_9_4, opaque: Int32,
                flag: Int32 = 0, remark: String? = nil, extFields: ExtFields? = nil, body: ByteBuffer? = nil,
                serializeType: SerializeType = .json) {
        self.code = code
        self.language = language
        self.version = version
        self.opaque = opaque
        self.flag = flag
        self.remark = remark
        self.extFields = extFields
        self.body = body
        self.serializeType = serializeType
        self.jsonTrailingNewline = false
        self.jsonHasSerializeTypeCurrentRPC = true
    }

    public var isResponse: Bool { flag & Self.responseFlag != 0 }
    public var isOneway: Bool { flag & Self.onewayFlag != 0 }

    public enum Kind: String, Sendable { case request, response, oneway }
    public var kind: Kind { isResponse ? .response : (isOneway ? .oneway : .request) }

    /// Name of the code: a response code name for responses (the 5.x meaning when `version` says 5.x),
    /// a request code name otherwise.
    public var codeName: String {
        isResponse ? ResponseCode.name(code, responderVersion: version) : RequestCode.name(code)
    }

    public var bodyLength: Int { body?.readableBytes ?? 0 }

    /// A request.
    public static func request(code: Int32, opaque: Int32, extFields: ExtFields? = nil, body: ByteBuffer? = nil,
                               oneway: Bool = false, language: LanguageCode = .java, version: Int32 = MQVersion.v4_9_4,
                               serializeType: SerializeType = .json) -> RemotingCommand {
        RemotingCommand(code: code, language: language, version: version, opaque: opaque,
                        flag: oneway ? onewayFlag : 0, extFields: extFields, body: body, serializeType: serializeType)
    }

    /// A response to `request`: same opaque, response flag set.
    public static func response(to request: RemotingCommand, code: Int32, remark: String? = nil, extFields: ExtFields? = nil,
                                body: ByteBuffer? = nil, version: Int32 = MQVersion.v4_9_4) -> RemotingCommand {
        RemotingCommand(code: code, language: .java, version: version, opaque: request.opaque, flag: responseFlag,
                        remark: remark, extFields: extFields, body: body, serializeType: request.serializeType)
    }
}
