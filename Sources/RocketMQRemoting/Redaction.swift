/// Credentials that ride in extFields (the ACL hook adds AccessKey, Signature and SecurityToken) never
/// appear in output: every renderer goes through `redacted()`.
public enum Redaction {
    public static let secretKeys: Set<String> = ["AccessKey", "SecretKey", "Signature", "SecurityToken", "accessKey",
                                                 "secretKey", "signature", "securityToken"]

    public static func isSecret(_ key: String) -> Bool { secretKeys.contains(key) }

    /// An empty value stays empty (the C++ client always sends empty keys); anything else is replaced.
    public static func redact(_ value: String) -> String {
        value.isEmpty ? "" : "<redacted \(value.utf8.count) bytes>"
    }
}

extension ExtFields {
    /// The map with credential values replaced.
    public func redacted() -> ExtFields {
        ExtFields(entries.map { Redaction.isSecret($0.key) ? (key: $0.key, value: Redaction.redact($0.value)) : $0 })
    }
}
