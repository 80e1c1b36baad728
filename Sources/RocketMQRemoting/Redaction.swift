/// Credentials never appear in output. They ride in extFields (the ACL hook adds AccessKey, Signature and
/// SecurityToken), but also in text: a broker's AclException remark quotes the AccessKey ("No acl config for
/// AK…", "Check signature failed for accessKey=AK…"), and admin bodies (ACL configs) carry secret keys. So every
/// output goes through `redacted()` for maps and `scrub` for text.
public enum Redaction {
    public static let secretKeys: Set<String> = ["AccessKey", "SecretKey", "Signature", "SecurityToken", "accessKey",
                                                 "secretKey", "signature", "securityToken"]

    public static func isSecret(_ key: String) -> Bool { secretKeys.contains(key) }
    private static let secretKeysUTF8: [[UInt8]] = secretKeys.map { Array($0.utf8) }
    private static let secretKeyLengths = secretKeysUTF8.map(\.count).min()!...secretKeysUTF8.map(\.count).max()!
    /// `isSecret` over a key's UTF-8 bytes (no String built).
    public static func isSecret(utf8 key: UnsafeRawBufferPointer) -> Bool {
        guard secretKeyLengths.contains(key.count) else { return false }
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
        var hits: [(name: Int, end: Int)] = []
        var i = text.utf8.startIndex
        let u = text.utf8
        while i != u.endIndex {
            var matched = false
            for (n, name) in names.enumerated() where (u[i] | 0x20) == name[0] {
                var j = i
                var k = 0
                while k < name.count, j != u.endIndex, (u[j] >= 0x41 && u[j] <= 0x5A ? u[j] | 0x20 : u[j]) == name[k] {
                    k += 1
                    j = u.index(after: j)
                }
                if k == name.count {
                    hits.append((n, u.distance(from: u.startIndex, to: j)))
                    i = j
                    matched = true
                    break
                }
            }
            if !matched { i = u.index(after: i) }
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
