import NIOCore
import RMQConsumer
import RocketMQRemoting
import Testing

/// Known answers computed outside Swift (python3 hmac/hashlib/base64, the first and third also with
/// `openssl dgst -sha1 -hmac … -binary | base64`) from the same fields, values sorted by key in UTF-16 order.
struct AclSignerTests {
    struct Vector: Sendable, CustomTestStringConvertible {
        var name: String
        var fields: [(String, String)]
        var body: [UInt8]
        var credentials: SessionCredentials
        var signature: String
        var testDescription: String { name }
    }

    static let heartbeatBody = Array(#"{"clientID":"10.0.0.10@4242#1","consumerDataSet":[],"producerDataSet":[{"groupName":"CLIENT_INNER_PRODUCER"}]}"#.utf8)

    static let vectors: [Vector] = [
        Vector(name: "PULL_MESSAGE header, no body",
               fields: [("consumerGroup", "orders_group"), ("topic", "Orders"), ("queueId", "0"), ("queueOffset", "10"),
                        ("maxMsgNums", "32"), ("sysFlag", "3"), ("commitOffset", "10"), ("suspendTimeoutMillis", "15000"),
                        ("subVersion", "1764000000000"), ("expressionType", "TAG")],
               body: [], credentials: SessionCredentials(accessKey: "RocketMQ", secretKey: "12345678"),
               signature: "vq9p7R7o7FLVgSHcDlpIna9jQAA="),
        Vector(name: "SEND_MESSAGE_V2 with body and SecurityToken",
               fields: [("a", "pg"), ("b", "TopicTest"), ("c", "TBW102"), ("d", "4"), ("e", "1"), ("f", "0"), ("g", "1764000000123"),
                        ("h", "0"), ("i", "TAGS\u{1}TagA\u{2}"), ("j", "0"), ("k", "false"), ("m", "false")],
               body: Array("Hello RocketMQ 0".utf8),
               credentials: SessionCredentials(accessKey: "ak-2", secretKey: "sk-2", securityToken: "token-xyz"),
               signature: "HJLkCtzIysv80d6J61Urp5tqA0M="),
        Vector(name: "HEART_BEAT: no extFields, JSON body",
               fields: [], body: heartbeatBody, credentials: SessionCredentials(accessKey: "RocketMQ", secretKey: "12345678"),
               signature: "jecS4qcUIi60te86cHjIa2JkzFg="),
        Vector(name: "UTF-16 key order, non-ASCII values and secret, stale Signature ignored",
               fields: [("\u{FF61}k", "half"), ("\u{1F600}k", "emoji"), ("Zeta", "z"), ("alpha", "été"), ("Signature", "old")],
               body: [0, 1, 2, 255], credentials: SessionCredentials(accessKey: "ak", secretKey: "sécret"),
               signature: "FYr817BSKe+RvFyIv2TRmYgnud8="),
    ]

    @Test(arguments: vectors)
    func knownAnswer(_ v: Vector) {
        let ext: ExtFields? = v.fields.isEmpty ? nil : ExtFields(v.fields.map { (key: $0.0, value: $0.1) })
        let command = RemotingCommand.request(code: 11, opaque: 7, extFields: ext, body: v.body.isEmpty ? nil : ByteBuffer(bytes: v.body))
        let signed = AclSigner(credentials: v.credentials).sign(command)
        #expect(signed.extFields?["Signature"] == v.signature)
        #expect(signed.extFields?["AccessKey"] == v.credentials.accessKey)
        #expect(signed.extFields?["SecurityToken"] == v.credentials.securityToken)
        // Everything else is untouched.
        #expect(signed.body == command.body)
        #expect(signed.opaque == command.opaque && signed.code == command.code)
        for (k, value) in v.fields where k != "Signature" { #expect(signed.extFields?[k] == value) }
    }

    @Test func signingTwiceGivesTheSameSignature() {
        let v = Self.vectors[0]
        let command = RemotingCommand.request(code: 11, opaque: 7, extFields: ExtFields(v.fields.map { (key: $0.0, value: $0.1) }))
        let signer = AclSigner(credentials: v.credentials)
        let once = signer.sign(command)
        let twice = signer.sign(once)
        #expect(twice.extFields?["Signature"] == v.signature)
        #expect(twice.extFields?.count == once.extFields?.count)
    }

    @Test func contentIsSortedValuesThenBody() {
        let content = AclSigner.signedContent(extFields: ["b": "2", "a": "1", "Signature": "x", "B": "3"], body: [0x21])
        #expect(content == Array("312!".utf8))
    }

    @Test func base64Padding() {
        #expect(Base64.encode([]) == "")
        #expect(Base64.encode(Array("f".utf8)) == "Zg==")
        #expect(Base64.encode(Array("fo".utf8)) == "Zm8=")
        #expect(Base64.encode(Array("foo".utf8)) == "Zm9v")
        #expect(Base64.encode([0xFB, 0xFF]) == "+/8=")
    }

    @Test func consumerSignsEveryRequest() {
        var config = Fixture.config()
        config.credentials = SessionCredentials(accessKey: "RocketMQ", secretKey: "12345678")
        var m = PushConsumerStateMachine(configuration: config)
        let sends = m.start(now: Fixture.t0).sentCommands
        #expect(sends.count == 2)
        for (_, c, _) in sends {
            let topic = c.extFields?["topic"] ?? ""
            // The route request's only field is the topic: the content is AccessKey's value then the topic.
            let expected = AclSigner.signature(of: Array(("RocketMQ" + topic).utf8), secretKey: "12345678")
            #expect(c.extFields?["Signature"] == expected)
        }
    }
}
