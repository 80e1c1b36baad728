import Crypto
import NIOCore
import RocketMQRemoting

/// The credentials of an ACL-enabled RocketMQ cluster (Java `SessionCredentials`).
public struct SessionCredentials: Hashable, Sendable {
    public var accessKey: String
    public var secretKey: String
    /// Optional; when set it is sent as extField `SecurityToken` and signed with the rest.
    public var securityToken: String?

    public init(accessKey: String, secretKey: String, securityToken: String? = nil) {
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.securityToken = securityToken
    }
}

/// Signs requests the way RocketMQ 4.9's `AclClientRPCHook.doBeforeRequest` does:
///
/// 1. add extField `AccessKey` (and `SecurityToken` when the credentials have one);
/// 2. take every extField (the custom header's fields included), sorted by key in Java `String.compareTo`
///    order (UTF-16 code units, as a `TreeMap` sorts), and concatenate the **values** only, skipping the key
///    `Signature`;
/// 3. the UTF-8 bytes of that text, followed by the raw body bytes;
/// 4. HMAC-SHA1 keyed with the UTF-8 bytes of the secret key, standard base64 with padding;
/// 5. store the result in extField `Signature`.
///
/// Keys already present are overwritten in place (Java's `HashMap.put`); duplicated keys count once with
/// their last value, as in Java.
public struct AclSigner: Hashable, Sendable {
    public static let accessKeyField = "AccessKey"
    public static let securityTokenField = "SecurityToken"
    public static let signatureField = "Signature"

    public var credentials: SessionCredentials

    public init(credentials: SessionCredentials) { self.credentials = credentials }

    /// `command` with AccessKey, SecurityToken (when given) and Signature added.
    public func sign(_ command: RemotingCommand) -> RemotingCommand {
        var c = command
        var ext = c.extFields ?? ExtFields()
        ext[Self.accessKeyField] = credentials.accessKey
        if let token = credentials.securityToken { ext[Self.securityTokenField] = token }
        let bodyBytes = c.body.map { Array($0.readableBytesView) } ?? []
        ext[Self.signatureField] = Self.signature(extFields: ext, body: bodyBytes, secretKey: credentials.secretKey)
        c.extFields = ext
        return c
    }

    /// The bytes that are signed: the sorted values (without `Signature`) as UTF-8, then the body.
    public static func signedContent(extFields: ExtFields, body: [UInt8]) -> [UInt8] {
        // A Java map holds one value per key: the last one wins.
        var latest: [String: String] = [:]
        for e in extFields.entries { latest[e.key] = e.value }
        let keys = latest.keys.filter { $0 != signatureField }.sorted { $0.utf16.lexicographicallyPrecedes($1.utf16) }
        var out: [UInt8] = []
        for k in keys { out.append(contentsOf: latest[k]!.utf8) }
        out.append(contentsOf: body)
        return out
    }

    /// HMAC-SHA1 of the signed content, base64.
    public static func signature(extFields: ExtFields, body: [UInt8], secretKey: String) -> String {
        signature(of: signedContent(extFields: extFields, body: body), secretKey: secretKey)
    }

    /// `AclSigner.calSignature` of Java: HMAC-SHA1 with the secret key's UTF-8 bytes, standard base64.
    public static func signature(of data: [UInt8], secretKey: String) -> String {
        let key = SymmetricKey(data: Array(secretKey.utf8))
        let mac = HMAC<Insecure.SHA1>.authenticationCode(for: data, using: key)
        return Base64.encode(Array(mac))
    }
}

/// Standard base64 (RFC 4648 alphabet, `=` padding), as commons-codec's `Base64.encodeBase64` writes it.
public enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    public static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)])
            out.append(alphabet[Int(n & 63)])
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let n = UInt32(bytes[i]) << 16
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(UInt8(ascii: "="))
            out.append(UInt8(ascii: "="))
        } else if rest == 2 {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)])
            out.append(UInt8(ascii: "="))
        }
        return String(decoding: out, as: UTF8.self)
    }
}
