/// Credentials never appear in output. They ride in extFields (the ACL hook adds AccessKey, Signature and
/// SecurityToken), but also in text: a broker's AclException remark quotes the AccessKey ("No acl config for
/// AK…", "Check signature failed for accessKey=AK…"), and admin bodies (ACL configs) carry secret keys. So every
/// output goes through `redacted()` for maps and `scrub` for text.
public enum Redaction {
    public static let secretKeys: Set<String> = ["AccessKey", "SecretKey", "Signature", "SecurityToken", "accessKey",
                                                 "secretKey", "signature", "securityToken"]

    public static func isSecret(_ key: String) -> Bool { secretKeys.contains(key) }
    private static let secretKeysUTF8: [[UInt8]] = secretKeys.map { Array($0.utf8) }
    /// Bit n set: some credential name is n bytes long (all are shorter than 64).
    private static let secretKeyLengthMask: UInt64 = secretKeysUTF8.reduce(0) { $0 | 1 << UInt64($1.count) }
    /// Bit b set: some credential name starts with byte 64 + b (all start with a letter).
    private static let secretKeyFirstByteMask: UInt64 = secretKeysUTF8.reduce(0) { $0 | 1 << UInt64($1[0] - 64) }
    /// `isSecret` over a key's UTF-8 bytes (no String built).
    public static func isSecret(utf8 key: UnsafeRawBufferPointer) -> Bool {
        // A one-compare filter first (length, then the first letter): most keys of a frame fail it.
        guard key.count < 64, secretKeyLengthMask >> UInt64(key.count) & 1 != 0,
              key[0] >= 64, key[0] < 128, secretKeyFirstByteMask >> UInt64(key[0] - 64) & 1 != 0 else { return false }
        return secretKeysUTF8.contains { $0.count == key.count && $0.elementsEqual(key) }
    }

    /// An empty value stays empty (the C++ client always sends empty keys); anything else is replaced, once
    /// (a redacted value stays as it is).
    public static func redact(_ value: String) -> String {
        value.isEmpty || isRedacted(value) ? value : "<redacted \(value.utf8.count) bytes>"
    }

    static func isRedacted(_ value: String) -> Bool { value.hasPrefix("<redacted") && value.hasSuffix(">") }

    /// `text` with credentials removed: every occurrence of a known secret value (learnt from extFields), and
    /// the value after any credential name followed by `=`, `:` or `"…":"` (case-insensitive), up to a
    /// delimiter. Text without any of them is returned as is, without copying.
    public static func scrub<S: Sequence<String>>(_ text: String, knownSecrets: S) -> String {
        var out = text
        for secret in knownSecrets where secret.utf8.count >= 4 && out.contains(secret) {
            out = out.replacingAll(secret, with: "<redacted>")
        }
        return scrubNamedValues(out)
    }

    public static func scrub(_ text: String) -> String { scrubNamedValues(text) }

    private static let names: [[UInt8]] = ["accesskey", "secretkey", "securitytoken", "signature", "no acl config for"]
        .map { Array($0.utf8) }
    /// Bytes that can start a name, either case (the byte loop of `findNames` skips the others at one compare).
    private static let nameStarts: [Bool] = {
        var t = [Bool](repeating: false, count: 256)
        for n in names { t[Int(n[0])] = true; t[Int(n[0] & ~0x20)] = true }
        return t
    }()
    /// Phrases followed by the value after a space, not `=`/`:` (4.9.4 PlainPermissionManager: "No acl config for %s").
    private static let phraseIndex = 4

    /// Replaces the value after `name=`, `name:`, `name":"` or `name = ` for each credential name.
    static func scrubNamedValues(_ text: String) -> String {
        // Most texts (FOUND, OFFSET_OVERFLOW_ONE, ...) name no credential: find the names without copying.
        let hits = findNames(in: text)
        if hits.isEmpty { return text }
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var copied = 0
        for hit in hits where hit.end >= copied {
            // Skip `"`, spaces, then one of = or :, then spaces and an opening quote.
            var j = hit.end
            while j < bytes.count && (bytes[j] == 0x22 || bytes[j] == 0x20) { j += 1 }
            if hit.name != phraseIndex {
                guard j < bytes.count, bytes[j] == UInt8(ascii: "=") || bytes[j] == UInt8(ascii: ":") else { continue }
                j += 1
            }
            while j < bytes.count && (bytes[j] == 0x20 || bytes[j] == 0x22 || bytes[j] == 0x27) { j += 1 }
            let start = j
            while j < bytes.count, !isDelimiter(bytes[j]) { j += 1 }
            guard j > start else { continue }
            out += bytes[copied..<start]
            out += Array("<redacted>".utf8)
            copied = j
        }
        if copied == 0 { return text }
        out += bytes[copied...]
        return String(decoding: out, as: UTF8.self)
    }

    /// Each credential name in `text` (ASCII case folded), with the index of the name and the byte after it.
    private static func findNames(in text: String) -> [(name: Int, end: Int)] {
        var text = text
        return text.withUTF8 { findNames(in: $0) }
    }

    /// The byte loop of `findNames`: a byte that cannot start a name (`nameStarts`) costs one lookup, so texts
    /// without credentials (nearly all remarks) are passed over at memory speed.
    private static func findNames(in u: UnsafeBufferPointer<UInt8>) -> [(name: Int, end: Int)] {
        var hits: [(name: Int, end: Int)] = []
        var i = 0
        while i < u.count {
            guard nameStarts[Int(u[i])] else {
                i += 1
                continue
            }
            let first = u[i] | 0x20
            var matched = false
            for (n, name) in names.enumerated() where first == name[0] && u.count - i >= name.count {
                var k = 0
                while k < name.count {
                    let b = u[i + k]
                    if (b >= 0x41 && b <= 0x5A ? b | 0x20 : b) != name[k] { break }
                    k += 1
                }
                if k == name.count {
                    hits.append((n, i + k))
                    i += k
                    matched = true
                    break
                }
            }
            if !matched { i += 1 }
        }
        return hits
    }

    private static func isDelimiter(_ b: UInt8) -> Bool {
        b == 0x20 || b == 0x22 || b == 0x27 || b == 0x2C || b == 0x3B || b == 0x7D || b == 0x5D || b == 0x29 || b < 0x20
    }
}

extension ExtFields {
    /// The map with credential values replaced.
    public func redacted() -> ExtFields {
        ExtFields(entries.map { Redaction.isSecret($0.key) ? (key: $0.key, value: Redaction.redact($0.value)) : $0 })
    }

    /// Whether any key is a credential.
    public var hasSecrets: Bool { entries.contains { Redaction.isSecret($0.key) } }

    /// Writes the entries as one JSON object of strings (`{"key":"value",…}`, in order) into `out`, credential
    /// values redacted: what `ExtFieldsView.writeJSONObject` writes for the same entries, with no view made.
    public func writeJSONObject(into out: inout [UInt8]) { writeJSONObject(to: &out) }

    func writeJSONObject<Sink: JSONByteSink>(to out: inout Sink) {
        out.append(UInt8(ascii: "{"))
        for (i, e) in entries.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            JSONWriter.writeString(e.key, to: &out)
            out.append(UInt8(ascii: ":"))
            JSONWriter.writeString(Redaction.isSecret(e.key) ? Redaction.redact(e.value) : e.value, to: &out)
        }
        out.append(UInt8(ascii: "}"))
    }
}

extension String {
    /// Every occurrence of `target` replaced (no Foundation).
    func replacingAll(_ target: String, with replacement: String) -> String {
        let t = Array(target.utf8), r = Array(replacement.utf8)
        let s = Array(utf8)
        guard !t.isEmpty, s.count >= t.count else { return self }
        var out: [UInt8] = []
        out.reserveCapacity(s.count)
        var i = 0
        while i < s.count {
            if i + t.count <= s.count && s[i] == t[0] && s[i..<(i + t.count)].elementsEqual(t) {
                out += r
                i += t.count
            } else {
                out.append(s[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
