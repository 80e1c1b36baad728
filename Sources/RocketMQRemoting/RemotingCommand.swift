import NIOCore

/// Header serialization, chosen per frame by the high byte of the header-length word.
public enum SerializeType: UInt8, Hashable, Sendable, CustomStringConvertible {
    case json = 0
    case rocketmq = 1
    public var description: String { self == .json ? "JSON" : "ROCKETMQ" }
}

/// The custom-header map of a command, in wire order. Java writes a HashMap, so the order carries no meaning,
/// but keeping it lets a decoded command be encoded back to the same bytes.
///
/// This is the eager form (every key and value a String). A decoded command keeps its fields as an
/// `ExtFieldsView` over the frame bytes and builds this only when `RemotingCommand.extFields` is read.
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
///
/// The one command model of the codec. A command decoded from a frame (`RemotingFrame.decode`) keeps the
/// header bytes of the frame (a `ByteBuffer` slice, no copy) and the byte ranges of its extFields entries:
/// `fields` is that lazy, ordered view (Strings built only when asked), `typedHeader(requestCode:)` decodes the
/// typed header from it on demand, `body` is a slice of the frame. A command built in code keeps an
/// `ExtFields` map instead; both encode the same way. Reading `extFields` materialises the map; assigning it
/// replaces the view.
public struct RemotingCommand: Hashable, Sendable {
    public var code: Int32
    public var language: LanguageCode
    public var version: Int32
    public var opaque: Int32
    public var flag: Int32
    public var remark: String?
    public var body: ByteBuffer?
    public var serializeType: SerializeType
    /// JSON only: the header text ended with a newline (the C++ client's jsoncpp writer does this).
    public var jsonTrailingNewline: Bool
    /// JSON only: Java's bean serializer adds `"serializeTypeCurrentRPC":"JSON"`; other clients do not.
    public var jsonHasSerializeTypeCurrentRPC: Bool

    /// Which of the two below holds the extFields (none: the header has no extFields at all).
    @usableFromInline enum FieldOrigin: UInt8, Sendable { case none, owned, wire }
    @usableFromInline var fieldOrigin: FieldOrigin
    /// The map of a command built in code (empty otherwise).
    @usableFromInline var ownedFields: ExtFields
    /// The entries of a decoded header (`ExtFieldsView.empty` otherwise). A stored property of its own rather
    /// than an enum payload: a typed header decodes from it borrowed, where taking it out of an enum copied it
    /// (a retain and a release of both its references per decode).
    @usableFromInline var wireFields: ExtFieldsView

    /// Replaces the extFields with a map built in code (nil: none at all), dropping a decoded header's view.
    @usableFromInline mutating func setOwnedFields(_ e: ExtFields?) {
        fieldOrigin = e == nil ? .none : .owned
        ownedFields = e ?? ExtFields()
        wireFields = .empty
    }

    public static let responseFlag: Int32 = 1
    public static let onewayFlag: Int32 = 2

    /// nil when the header has no extFields at all (distinct from an empty map, `"extFields":{}`).
    /// For a decoded command this builds the map from the frame bytes (prefer `fields` to read a few keys).
    public var extFields: ExtFields? {
        get {
            switch fieldOrigin {
            case .none: return nil
            case .owned: return ownedFields
            case .wire: return wireFields.extFields
            }
        }
        set { setOwnedFields(newValue) }
    }

    /// The extFields as an ordered view, empty when the header has none: what typed headers decode from
    /// (`H(fields: command.allFields)` reads the frame's bytes in place, with no map built first).
    public var allFields: ExtFieldsView { fields ?? ExtFieldsView.empty }

    /// The extFields as an ordered view: over the frame bytes for a decoded command (no String built until
    /// asked), over the map for a command built in code. nil when the header has no extFields.
    public var fields: ExtFieldsView? {
        switch fieldOrigin {
        case .none: return nil
        case .owned: return ExtFieldsView(ownedFields)
        case .wire: return wireFields
        }
    }

    /// Writes the extFields as one JSON object of strings into `out` (`{}` when the header has none), credential
    /// values redacted: from the frame's bytes for a decoded command, from the map for one built in code.
    public func writeFieldsJSONObject(into out: inout [UInt8]) { writeFieldsJSONObject(to: &out) }

    func writeFieldsJSONObject<Sink: JSONByteSink>(to out: inout Sink) {
        switch fieldOrigin {
        case .none: out.append(UInt8(ascii: "{")); out.append(UInt8(ascii: "}"))
        case .owned: ownedFields.writeJSONObject(to: &out)
        case .wire: wireFields.writeJSONObject(to: &out)
        }
    }

    /// Whether an extFields key is a credential, without building the map of a decoded command.
    public var hasSecretFields: Bool {
        switch fieldOrigin {
        case .none: return false
        case .owned: return ownedFields.hasSecrets
        case .wire: return wireFields.hasSecrets
        }
    }

    /// The header has an extFields map (possibly empty): `extFields` is non-nil.
    public var hasExtFields: Bool {
        fieldOrigin != .none
    }

    /// The number of extFields entries (0 when there are none), without building them.
    public var extFieldsCount: Int {
        switch fieldOrigin {
        case .none: return 0
        case .owned: return ownedFields.count
        case .wire: return wireFields.count
        }
    }

    /// The value of one extFields key (the last one when duplicated), building only that String.
    public func extField(_ key: String) -> String? {
        switch fieldOrigin {
        case .none: return nil
        case .owned: return ownedFields[key]
        case .wire: return wireFields[key]
        }
    }

    /// The same command holding no reference to the frame it was decoded from: the header bytes are copied
    /// (the body is left as is; set it to nil or copy it to drop the frame entirely).
    public func detached() -> RemotingCommand {
        var c = self
        c.detach()
        return c
    }

    /// `detached()` in place: no copy of the command.
    public mutating func detach() {
        if fieldOrigin == .wire { wireFields = wireFields.detached() }
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

    /// The typed header, decoded from the fields on demand: the request header for a request or oneway
    /// command; for a response, the header of the answer to a request with `requestCode` (nil without it).
    /// With `ownRequestText`, a request's header holds its String fields as Strings of their own.
    public func typedHeader(requestCode: Int32? = nil, ownRequestText: Bool = false) throws -> TypedHeader? {
        if !isResponse {
            if fieldOrigin == .wire { return try TypedHeader.decodeRequest(code: code, view: wireFields, ownText: ownRequestText) }
            return try TypedHeader.decodeRequest(code: code, fields: fields)
        }
        guard let requestCode else { return nil }
        if fieldOrigin == .wire {
            return try TypedHeader.decodeResponse(requestCode: requestCode, responseCode: code, view: wireFields)
        }
        return try TypedHeader.decodeResponse(requestCode: requestCode, responseCode: code, fields: fields)
    }

    /// One header type decoded from the fields (an empty map when the command has none).
    @inlinable public func header<H: CustomHeader>(_ type: H.Type) throws -> H {
        // The view borrowed from the command (`allFields` would copy it out first).
        switch fieldOrigin {
        case .wire: return try H(fields: wireFields)
        case .owned: return try H(fields: ExtFieldsView(ownedFields))
        case .none: return try H(fields: ExtFieldsView.empty)
        }
    }

    /// A request.
    public static func request(code: Int32, opaque: Int32, extFields: ExtFields? = nil, body: ByteBuffer? = nil,
                               oneway: Bool = false, language: LanguageCode = .java, version: Int32 = MQVersion.v4_9_4,
                               serializeType: SerializeType = .json) -> RemotingCommand {
        RemotingCommand(code: code, language: language, version: version, opaque: opaque,
                        flag: oneway ? onewayFlag : 0, extFields: extFields, body: body, serializeType: serializeType)
    }

    /// A request carrying `header`: its fields in Java HashMap order.
    public static func request<H: CustomHeader>(code: Int32, opaque: Int32, header: H, body: ByteBuffer? = nil,
                                                oneway: Bool = false, language: LanguageCode = .java,
                                                version: Int32 = MQVersion.v4_9_4,
                                                serializeType: SerializeType = .json) -> RemotingCommand {
        request(code: code, opaque: opaque, extFields: header.extFields, body: body, oneway: oneway, language: language,
                version: version, serializeType: serializeType)
    }

    /// A response to `request`: same opaque, response flag set.
    public static func response(to request: RemotingCommand, code: Int32, remark: String? = nil, extFields: ExtFields? = nil,
                                body: ByteBuffer? = nil, version: Int32 = MQVersion.v4_9_4) -> RemotingCommand {
        RemotingCommand(code: code, language: .java, version: version, opaque: request.opaque, flag: responseFlag,
                        remark: remark, extFields: extFields, body: body, serializeType: request.serializeType)
    }

    public static func == (a: RemotingCommand, b: RemotingCommand) -> Bool {
        a.code == b.code && a.language == b.language && a.version == b.version && a.opaque == b.opaque && a.flag == b.flag
            && a.remark == b.remark && a.body == b.body && a.serializeType == b.serializeType
            && a.jsonTrailingNewline == b.jsonTrailingNewline
            && a.jsonHasSerializeTypeCurrentRPC == b.jsonHasSerializeTypeCurrentRPC && a.extFields == b.extFields
    }

    public func hash(into h: inout Hasher) {
        h.combine(code)
        h.combine(opaque)
        h.combine(flag)
        h.combine(remark)
        h.combine(extFields)
        h.combine(body)
    }
}

// The initializers live in an extension so that the struct keeps its implicit memberwise initializer: the
// decoder builds a command through it in place (through an explicit initializer, Swift 6.3 copied the whole
// command at the end, a retain and a release per reference field).
extension RemotingCommand {
    public init(code: Int32, language: LanguageCode = .java, version: Int32 = MQVersion.v4_9_4, opaque: Int32,
                flag: Int32 = 0, remark: String? = nil, extFields: ExtFields? = nil, body: ByteBuffer? = nil,
                serializeType: SerializeType = .json) {
        self.init(code: code, language: language, version: version, opaque: opaque, flag: flag, remark: remark, body: body,
                  serializeType: serializeType, jsonTrailingNewline: false, jsonHasSerializeTypeCurrentRPC: true,
                  fieldOrigin: extFields == nil ? .none : .owned, ownedFields: extFields ?? ExtFields(), wireFields: .empty)
    }

    /// A decoded command (RemotingFrame.decode).
    @inline(__always)
    static func decoded(head: ScannedHead, fields: ExtFieldsView?, body: ByteBuffer?, serializeType: SerializeType) -> RemotingCommand {
        RemotingCommand(code: head.code, language: head.language, version: head.version, opaque: head.opaque, flag: head.flag,
                        remark: head.remark, body: body, serializeType: serializeType,
                        jsonTrailingNewline: head.jsonTrailingNewline,
                        jsonHasSerializeTypeCurrentRPC: head.jsonHasSerializeTypeCurrentRPC,
                        fieldOrigin: fields == nil ? .none : .wire, ownedFields: ExtFields(), wireFields: fields ?? .empty)
    }
}

// MARK: - The former fast-path head (one model now)

/// The command head of the former fast path is the command itself now.
@available(*, deprecated, renamed: "RemotingCommand")
public typealias RemotingCommandHead = RemotingCommand

extension RemotingCommand {
    /// The command with `extFields` replaced by the given entries (a map only when the header has one), and no
    /// reference to the frame's header bytes. What the former `RemotingCommandHead.command(extFields:)` did.
    @available(*, deprecated, message: "a decoded RemotingCommand is the full command; use it, or detached()")
    public func command(extFields entries: [(key: String, value: String)]) -> RemotingCommand {
        var c = self
        c.setOwnedFields(hasExtFields ? ExtFields(entries) : nil)
        return c
    }

    /// The extFields, as the former head re-read them from the frame.
    @available(*, deprecated, message: "use extFields or fields")
    public func extFields(in frame: ByteBuffer) throws -> ExtFields? { extFields }

    /// The full command, as the former head re-read it from the frame.
    @available(*, deprecated, message: "a decoded RemotingCommand is the full command")
    public func command(in frame: ByteBuffer) throws -> RemotingCommand { self }
}
