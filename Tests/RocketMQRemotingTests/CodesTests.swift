import Testing
@testable import RocketMQRemoting

@Suite struct CodesTests {
    @Test func requestCodesBothWays() {
        #expect(RequestCode.all.count == 163)
        #expect(RequestCode.name(11) == "PULL_MESSAGE" && RequestCode.info(named: "pull_message")?.code == 11)
        #expect(RequestCode.info(200_050)?.in4_9 == false && RequestCode.info(200_050)?.in5 == .yes)
        #expect(RequestCode.info(50)?.in5 == .note("5.0.0–5.3.2 only"))
        #expect(RequestCode.name(7) == "UNKNOWN_REQUEST(7)")
    }

    @Test func responseCodesWithVersionDependentMeaning() {
        #expect(ResponseCode.all.count == 69)
        #expect(ResponseCode.name(19) == "PULL_NOT_FOUND" && ResponseCode.name(25) == "SUBSCRIPTION_NOT_LATEST")
        #expect(ResponseCode.name(209, responderVersion: 401) == "UPDATE_AND_CREATE_ACL_CONFIG_FAILED")
        #expect(ResponseCode.name(209, responderVersion: 479) == "POLLING_FULL")
        #expect(ResponseCode.name(209) == "UPDATE_AND_CREATE_ACL_CONFIG_FAILED|POLLING_FULL")
        #expect(ResponseCode.name(-1006) == "RPC_TIME_OUT" && ResponseCode.name(5) == "UNKNOWN_RESPONSE(5)")
    }

    @Test func languagesAndVersions() {
        #expect(LanguageCode(code: 12).name == "RUST" && LanguageCode(name: "NODE_JS").code == 13)
        #expect(LanguageCode(code: 40).name == "UNKNOWN(40)")
        #expect(LanguageCode.names == ["JAVA", "CPP", "DOTNET", "PYTHON", "DELPHI", "ERLANG", "RUBY", "OTHER", "HTTP", "GO",
                                       "PHP", "OMS", "RUST", "NODE_JS"])
        // `init(code:)` and `init(name:)` agree with the table, both ways.
        for (i, name) in LanguageCode.names.enumerated() {
            #expect(LanguageCode(code: UInt8(i)).name == name && LanguageCode(name: name).code == UInt8(i))
        }
        #expect(LanguageCode(code: UInt8(LanguageCode.names.count)).name == "UNKNOWN(\(LanguageCode.names.count))")
        let known: [(Int32, String)] = [(0, "V3_0_0_SNAPSHOT"), (15, "V3_0_0_FINAL"), (17, "V3_0_1"), (28, "V3_0_7_SNAPSHOT"),
                                        (232, "V4_1_0_SNAPSHOT"), (293, "V4_4_0"), (317, "V4_5_2"), (333, "V4_6_0"),
                                        (393, "V4_9_0"), (399, "V4_9_3"), (401, "V4_9_4"), (409, "V4_9_8"), (413, "V5_0_0"),
                                        (475, "V5_3_1"), (479, "V5_3_3"), (612, "HIGHER_VERSION")]
        for (v, n) in known { #expect(MQVersion.name(v) == n) }
        #expect(MQVersion.ordinal("V4_9_4") == 401)
    }

    @Test func javaHashMapOrderAndHashCode() {
        #expect(JavaHashMapOrder.javaHashCode("TagA") == 2_598_919)
        let keys = ["consumerGroup", "topic", "queueId", "queueOffset", "maxMsgNums", "sysFlag", "commitOffset",
                    "suspendTimeoutMillis", "subVersion", "expressionType"]
        #expect(JavaHashMapOrder.ordered(keys.map { ($0, "") }).map(\.key)
                == ["queueId", "maxMsgNums", "sysFlag", "suspendTimeoutMillis", "commitOffset", "topic", "queueOffset",
                    "expressionType", "subVersion", "consumerGroup"])
    }

    /// The ordering against its definition (a stable sort by bucket), for maps short and long, ASCII keys and not,
    /// colliding buckets included; the hash against Java's over UTF-16 units.
    @Test func javaHashMapOrderMatchesItsDefinition() {
        func reference(_ entries: [(key: String, value: String)]) -> [String] {
            var capacity = 16
            while Double(entries.count) > Double(capacity) * 0.75 { capacity *= 2 }
            return entries.enumerated().map { i, e -> (Int, Int, String) in
                var h: Int32 = 0
                for u in e.key.utf16 { h = h &* 31 &+ Int32(u) }
                let spread = UInt32(bitPattern: h) ^ (UInt32(bitPattern: h) >> 16)
                return (Int(spread & UInt32(capacity - 1)), i, e.key)
            }.sorted { ($0.0, $0.1) < ($1.0, $1.1) }.map(\.2)
        }
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("abcXYZ_09é中🙂")
        for n in [0, 1, 2, 5, 12, 13, 31, 32, 33, 100, 700] {
            let entries = (0..<n).map { i -> (key: String, value: String) in
                let key = String((0..<Int.random(in: 1...12, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
                return (key, String(i))
            }
            #expect(JavaHashMapOrder.ordered(entries).map(\.key) == reference(entries), "\(n) entries")
            for e in entries {
                var h: Int32 = 0
                for u in e.key.utf16 { h = h &* 31 &+ Int32(u) }
                #expect(JavaHashMapOrder.javaHashCode(e.key) == h)
            }
        }
        #expect(JavaHashMapOrder.javaHashCode("é") == 233 && JavaHashMapOrder.javaHashCode("🙂") == 1_772_965)
    }

    @Test func allocationKnownAnswersUseJavaOrdering() {
        let qs = (0..<10).map { MessageQueue(topic: "topic", brokerName: "brokerName", queueId: Int32($0)) }
        #expect(qs.shuffled().sorted() == qs)
    }
}

@Suite struct AllocationTests {
    static let queues = (0..<10).map { MessageQueue(topic: "topic", brokerName: "brokerName", queueId: Int32($0)) }
    static let cids = (0..<4).map { "CID_PREFIX\($0)" }

    @Test func averagelyKnownAnswers() {
        let got = Self.cids.map { c in AllocationStrategy.averagely.allocate(queues: Self.queues.shuffled(), consumers: Self.cids.shuffled(), current: c).map(\.queueId) }
        #expect(got == [[0, 1, 2], [3, 4, 5], [6, 7], [8, 9]])
    }

    @Test func circleKnownAnswers() {
        let got = Self.cids.map { c in AllocationStrategy.circle.allocate(queues: Self.queues, consumers: Self.cids, current: c).map(\.queueId) }
        #expect(got == [[0, 4, 8], [1, 5, 9], [2, 6], [3, 7]])
    }

    @Test func moreConsumersThanQueuesAndStrangers() {
        let few = Array(Self.queues.prefix(2))
        let got = Self.cids.map { AllocationStrategy.averagely.allocate(queues: few, consumers: Self.cids, current: $0).map(\.queueId) }
        #expect(got == [[0], [1], [], []])
        #expect(AllocationStrategy.averagely.allocate(queues: Self.queues, consumers: Self.cids, current: "other").isEmpty)
        // Every queue is allocated exactly once, whatever the counts.
        for n in 1...12 {
            for c in 1...6 {
                let qs = Array(Self.queues.prefix(min(n, 10))) + (10..<max(10, n)).map { MessageQueue(topic: "topic", brokerName: "brokerName", queueId: Int32($0)) }
                let ids = (0..<c).map { "c\($0)" }
                for s in AllocationStrategy.allCases {
                    let all = ids.flatMap { s.allocate(queues: qs, consumers: ids, current: $0) }
                    #expect(all.count == qs.count && Set(all) == Set(qs))
                }
            }
        }
    }
}
