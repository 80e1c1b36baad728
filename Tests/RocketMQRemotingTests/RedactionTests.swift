import Testing
@testable import RocketMQRemoting

@Test(arguments: [
    // 4.9.4 PlainPermissionManager and AclClientRPCHook texts, and JSON/YAML shapes of ACL bodies.
    ("org.apache.rocketmq.acl.common.AclException: No acl config for RocketMQ-AK1", "org.apache.rocketmq.acl.common.AclException: No acl config for <redacted>"),
    ("Check signature failed for accessKey=RocketMQ-AK1", "Check signature failed for accessKey=<redacted>"),
    ("{\"accessKey\":\"AK1234\",\"secretKey\":\"SK5678\",\"admin\":true}", "{\"accessKey\":\"<redacted>\",\"secretKey\":\"<redacted>\",\"admin\":true}"),
    ("secretKey: 12345678\nadmin: true", "secretKey: <redacted>\nadmin: true"),
    ("SecurityToken = tok-1, ok", "SecurityToken = <redacted>, ok"),
    ("FOUND", "FOUND"),
    ("signature mismatch", "signature mismatch"),
])
func credentialsAreScrubbedFromText(_ c: (String, String)) {
    #expect(Redaction.scrub(c.0) == c.1)
}

@Test func knownSecretValuesAreScrubbedWherever() {
    let text = "[10015:signature-failed] user RocketMQ-AK1 denied (was RocketMQ-AK1)"
    #expect(Redaction.scrub(text, knownSecrets: ["RocketMQ-AK1"]) == "[10015:signature-failed] user <redacted> denied (was <redacted>)")
    #expect((["AccessKey": "AK", "topic": "T"] as ExtFields).redacted()["AccessKey"] == "<redacted 2 bytes>")
    #expect((["AccessKey": "", "topic": "T"] as ExtFields).redacted()["AccessKey"] == "")
}

/// The byte filter of `isSecret(utf8:)` (length and first letter) keeps every credential name and agrees with the
/// String form on near misses of every length.
@Test func isSecretOverBytesAgreesWithTheStringForm() {
    var keys = Array(Redaction.secretKeys) + ["", "a", "AccessKe", "AccessKeyX", "accesskey", "SecretKez", "signaturE",
                                              "SecurityTokens", "queueOffset", "consumerGroup", "maxMsgNums", "Signatur",
                                              "\u{00e9}ccessKey", "0ccessKey", "Zignature"]
    keys += Redaction.secretKeys.map { String($0.dropFirst()) } + Redaction.secretKeys.map { "x" + $0 }
    for k in keys {
        let viaBytes = Array(k.utf8).withUnsafeBytes { Redaction.isSecret(utf8: $0) }
        #expect(viaBytes == Redaction.isSecret(k), "\(k)")
    }
}
