import Foundation
import Testing
import RocketMQRemoting
import RMQTraceModel
@testable import RMQTraceCore
import RMQTestSupport

// The consume-flow analyzer on its own: observed frames in (through the exchange tracker, as every source
// feeds it), typed findings out. Each case stages one situation, including ones where it must stay quiet.

let client1 = "10.0.0.50@1234#1"
let client2 = "10.0.0.51@5678#2"
let brokerAddr = "10.0.0.2:10911"
let namesrvAddr = "10.0.0.3:9876"

/// Runs a conversation through a tracker and returns every event and the findings.
func track(_ c: Conversation, configuration: TrackerConfiguration = TrackerConfiguration()) -> (events: [TraceEvent], findings: [Finding], tracker: ExchangeTracker) {
    var tracker = ExchangeTracker(configuration: configuration)
    var events: [TraceEvent] = []
    for e in c.events { tracker.observe(e, into: &events) }
    tracker.finish(into: &events)
    let findings = events.compactMap { e -> Finding? in if case .finding(let f) = e { return f } else { return nil } }
    return (events, findings, tracker)
}

/// A consumer that routes, registers, gets its list and pulls queue 0 from `offset`.
func startedConsumer(_ c: inout Conversation, client: String = client1, group: String = "g", endpoint: String = "10.0.0.50:40000") -> Int {
    let ns = c.connect(client: endpoint.replacingOccurrences(of: ":40", with: ":41"), server: namesrvAddr)
    c.route(ns, topic: "T", brokers: [("broker-a", brokerAddr)], queues: 1)
    let b = c.connect(client: endpoint, server: brokerAddr)
    c.heartbeat(b, clientID: client, group: group, subscriptions: [("T", "*")])
    c.consumerList(b, group: group, ids: [client])
    return b
}

struct AnalyzerCase: CustomTestStringConvertible, Sendable {
    let name: String
    let build: @Sendable () -> Conversation
    /// Kinds expected among warnings and errors (exactly these).
    let problems: [String]
    /// Kinds expected at info level (at least these).
    var infos: [String] = []
    let check: @Sendable ([Finding]) -> Bool
    var testDescription: String { name }
}

let analyzerCases: [AnalyzerCase] = [
    AnalyzerCase(name: "healthy consumer: quiet", build: {
        var c = Conversation()
        let b = startedConsumer(&c)
        c.pull(b, group: "g", topic: "T", queueId: 0, offset: 0, count: 4, maxOffset: 4)
        c.commit(b, group: "g", topic: "T", queueId: 0, offset: 4)
        c.pull(b, group: "g", topic: "T", queueId: 0, offset: 4, count: 0, maxOffset: 4, commit: 4)
        c.unregister(b, clientID: client1, group: "g")
        return c
    }, problems: [], check: { _ in true }),

    AnalyzerCase(name: "committed offset goes back", build: {
        var c = Conversation()
        let b = startedConsumer(&c)
        c.pull(b, group: "g", topic: "T", queueId: 0, offset: 0, count: 10, maxOffset: 10)
        c.commit(b, group: "g", topic: "T", queueId: 0, offset: 10)
        c.commit(b, group: "g", topic: "T", queueId: 0, offset: 3)
        return c
    }, problems: ["offset-backwards"], check: { f in
        f.contains { if case .offsetBackwards(let g, let q, 10, 3, client1) = $0.detail { return g == "g" && q.queueId == 0 && q.broker == "broker-a" } else { return false } }
    }),

    AnalyzerCase(name: "uncommitted messages at unregister", build: {
        var c = Conversation()
        let b = startedConsumer(&c)
        c.pull(b, group: "g", topic: "T", queueId: 0, offset: 0, count: 10, maxOffset: 10)
        c.commit(b, group: "g", topic: "T", queueId: 0, offset: 6)
        c.unregister(b, clientID: client1, group: "g")
        return c
    }, problems: ["uncommitted-at-shutdown"], check: { f in
        f.contains {
            if case .uncommittedAtShutdown("g", client1, let ranges) = $0.detail {
                return ranges == [UncommittedRange(queue: QueueRef(topic: "T", broker: "broker-a", queueId: 0), deliveredUpTo: 10, committed: 6)]
            }
            return false
        }
    }),

    AnalyzerCase(name: "broadcasting consumers commit nothing on the wire: quiet at unregister", build: {
        var c = Conversation()
        let ns = c.connect(client: "10.0.0.50:41000", server: namesrvAddr)
        c.route(ns, topic: "T", brokers: [("broker-a", brokerAddr)], queues: 1)
        let b = c.connect(client: "10.0.0.50:40000", server: brokerAddr)
        c.heartbeat(b, clientID: client1, group: "g", subscriptions: [("T", "*")], model: "BROADCASTING")
        c.pull(b, group: "g", topic: "T", queueId: 0, offset: 0, count: 10, maxOffset: 10)
        c.unregister(b, clientID: client1, group: "g")
        return c
    }, problems: [], check: { _ in true }),

    AnalyzerCase(name: "group not online", build: {
        var c = Conversation()
        let b = c.connect(client: "10.0.0.50:40000", server: brokerAddr)
        c.exchange(b, RequestCode.getConsumerListByGroup, ConsumerGroupHeader(consumerGroup: "ghost").extFields,
                   answer: ResponseCode.systemError, remark: "no consumer for this group, ghost")
        return c
    }, problems: ["group-not-online"], check: { f in
        f.contains { if case .groupNotOnline("ghost", brokerAddr, "SYSTEM_ERROR", "no consumer for this group, ghost") = $0.detail { return true } else { return false } }
    }),

    AnalyzerCase(name: "no route for a topic is an error, for the retry topic information", build: {
        var c = Conversation()
        let ns = c.connect(client: "10.0.0.50:41000", server: namesrvAddr)
        c.exchange(ns, RequestCode.getRouteInfoByTopic, GetRouteInfoRequestHeader(topic: "Missing").extFields, answer: ResponseCode.topicNotExist)
        c.exchange(ns, RequestCode.getRouteInfoByTopic, GetRouteInfoRequestHeader(topic: "Missing").extFields, answer: ResponseCode.topicNotExist)
        c.exchange(ns, RequestCode.getRouteInfoByTopic, GetRouteInfoRequestHeader(topic: "%RETRY%g").extFields, answer: ResponseCode.topicNotExist)
        return c
    }, problems: ["no-route"], infos: ["no-route"], check: { f in
        f.contains { if case .noRoute("Missing", 2) = $0.detail { return $0.severity == .error } else { return false } }
            && f.contains { if case .noRoute("%RETRY%g", 1) = $0.detail { return $0.severity == .info } else { return false } }
    }),

    AnalyzerCase(name: "two endpoints with one clientID", build: {
        var c = Conversation()
        let a = c.connect(client: "10.0.0.50:40000", server: brokerAddr)
        c.heartbeat(a, clientID: client1, group: "g", subscriptions: [("T", "*")])
        let b = c.connect(client: "10.0.0.51:40000", server: brokerAddr)
        c.heartbeat(b, clientID: client1, group: "g", subscriptions: [("T", "*")])
        return c
    }, problems: ["duplicate-client-id"], check: { f in
        f.contains { if case .duplicateClientID(client1, "10.0.0.50:40000", "10.0.0.51:40000", brokerAddr) = $0.detail { return true } else { return false } }
    }),

    AnalyzerCase(name: "a reconnect with the same clientID is not a duplicate", build: {
        var c = Conversation()
        let a = c.connect(client: "10.0.0.50:40000", server: brokerAddr)
        c.heartbeat(a, clientID: client1, group: "g", subscriptions: [("T", "*")])
        c.close(a)
        let b = c.connect(client: "10.0.0.50:40001", server: brokerAddr)
        c.heartbeat(b, clientID: client1, group: "g", subscriptions: [("T", "*")])
        return c
    }, problems: [], check: { _ in true }),

    AnalyzerCase(name: "members subscribe differently; names with '|' stay apart", build: {
        var c = Conversation()
        let a = c.connect(client: "10.0.0.50:40000", server: brokerAddr)
        c.heartbeat(a, clientID: "a|b", group: "g|x", subscriptions: [("T", "TagA")])
        let b = c.connect(client: "10.0.0.51:40000", server: brokerAddr)
        c.heartbeat(b, clientID: "a", group: "g|x", subscriptions: [("T", "TagB")])
        return c
    }, problems: ["subscription-mismatch", "subscription-applied"], check: { f in
        f.contains { if case .subscriptionMismatch("g|x", let m) = $0.detail { return Set(m.keys) == ["a|b", "a"] } else { return false } }
    }),

    AnalyzerCase(name: "a subscription mismatch: the broker applies the newest subVersion's to everyone", build: {
        var c = Conversation()
        let a = startedConsumer(&c, client: client1, endpoint: "10.0.0.50:40000")   // subscribes T "*"
        let b = c.connect(client: "10.0.0.51:40000", server: brokerAddr)
        var hb = ScenarioBuilder.heartbeat(clientID: client2, group: "g", subscriptions: [("T", "TagB")])
        // A newer subVersion than client1's: the broker now applies TagB.
        hb = Array(String(decoding: hb, as: UTF8.self).replacingOccurrences(of: "1764000000000", with: "1764000009999").utf8)
        c.exchange(b, RequestCode.heartBeat, body: hb)
        c.pull(a, group: "g", topic: "T", queueId: 0, offset: 0, count: 3, maxOffset: 9)
        let r = c.request(a, RequestCode.pullMessage, ScenarioBuilder.pull(group: "g", topic: "T", queueId: 0, offset: 3))
        c.answer(a, r, ResponseCode.pullRetryImmediately, remark: "OFFSET_FOUND_NULL",
                 ext: PullMessageResponseHeader(nextBeginOffset: 9, minOffset: 0, maxOffset: 9).extFields)
        return c
    }, problems: ["subscription-mismatch", "subscription-applied"], check: { f in
        f.contains {
            if case .subscriptionApplied("g", "T", "TAG \"TagB\"", client2, 1, let others, let retry, let delivered, _, _) = $0.detail {
                return others == [client1: "TAG \"*\""] && retry[client1] == 1 && delivered[client1] == 3
            }
            return false
        }
    }),

    AnalyzerCase(name: "a subscription mismatch: what a member drops, and the queue whose committed offset stays put", build: {
        var c = Conversation()
        let a = startedConsumer(&c, client: client1, endpoint: "10.0.0.50:40000")   // subscribes T "*": filters nothing
        c.wait(seconds: 1)
        let b = c.connect(client: "10.0.0.51:40000", server: brokerAddr)
        // client2 subscribes TagA, client3 (newest subVersion) TagB: the broker applies TagB.
        c.heartbeat(b, clientID: client2, group: "g", subscriptions: [("T", "TagA")])
        let d = c.connect(client: "10.0.0.52:40000", server: brokerAddr)
        var hb = ScenarioBuilder.heartbeat(clientID: "10.0.0.52@3#3", group: "g", subscriptions: [("T", "TagB")])
        hb = Array(String(decoding: hb, as: UTF8.self).replacingOccurrences(of: "1764000000000", with: "1764000009999").utf8)
        c.exchange(d, RequestCode.heartBeat, body: hb)
        // client2 owns queue 0: it commits 4, then is delivered TagB messages it drops; its offset stays at 4.
        c.commit(b, group: "g", topic: "T", queueId: 0, offset: 4)
        c.pull(b, group: "g", topic: "T", queueId: 0, offset: 4, count: 3, maxOffset: 9, tags: "TagB")
        c.pull(b, group: "g", topic: "T", queueId: 0, offset: 7, count: 2, maxOffset: 9, commit: 4, tags: "TagB")
        c.commit(b, group: "g", topic: "T", queueId: 0, offset: 4)
        _ = a
        return c
    }, problems: ["subscription-mismatch", "subscription-applied"], check: { f in
        f.contains {
            if case .subscriptionApplied("g", "T", "TAG \"TagB\"", "10.0.0.52@3#3", _, let others, _, let delivered, let filtered, let held) = $0.detail {
                return Set(others.keys) == [client1, client2] && delivered[client2] == 5 && filtered[client2] == 5 && filtered[client1] == nil
                    && held == [FilteredQueue(client: client2, queue: QueueRef(topic: "T", broker: "broker-a", queueId: 0), committed: 4, filtered: 5)]
                    && $0.message.contains("5 of them not matching its own tags") && $0.message.contains("T@broker-a#0 stays at 4")
            }
            return false
        }
    }),

    AnalyzerCase(name: "a subscription mismatch whose member commits past what it drops: no held queue", build: {
        var c = Conversation()
        let b = startedConsumer(&c, client: client2, endpoint: "10.0.0.51:40000")
        let d = c.connect(client: "10.0.0.52:40000", server: brokerAddr)
        var hb = ScenarioBuilder.heartbeat(clientID: "10.0.0.52@3#3", group: "g", subscriptions: [("T", "TagB")])
        hb = Array(String(decoding: hb, as: UTF8.self).replacingOccurrences(of: "1764000000000", with: "1764000009999").utf8)
        c.exchange(d, RequestCode.heartBeat, body: hb)
        c.heartbeat(b, clientID: client2, group: "g", subscriptions: [("T", "TagA || TagC")])
        c.commit(b, group: "g", topic: "T", queueId: 0, offset: 0)
        c.pull(b, group: "g", topic: "T", queueId: 0, offset: 0, count: 3, maxOffset: 3, tags: "TagB")
        c.commit(b, group: "g", topic: "T", queueId: 0, offset: 3)
        return c
    }, problems: ["subscription-mismatch", "subscription-applied"], check: { f in
        f.contains {
            if case .subscriptionApplied(_, _, _, _, _, _, _, _, let filtered, let held) = $0.detail { return filtered[client2] == 3 && held.isEmpty }
            return false
        }
    }),

    AnalyzerCase(name: "long polls answered late, again and again on one queue: one finding with a count", build: {
        var c = Conversation()
        let b = startedConsumer(&c)
        for i in 0..<3 { c.pull(b, group: "g", topic: "T", queueId: 0, offset: Int64(i), count: 0, maxOffset: 0, after: 31_000) }
        return c
    }, problems: ["long-poll-timeout"], check: { f in
        let timeouts = f.filter { $0.kind == "long-poll-timeout" }
        return timeouts.count == 1 && timeouts[0].occurrences == 3 && timeouts[0].message.contains("(3 times on this queue over 62.0 s)")
    }),

    AnalyzerCase(name: "pull answered after the client's timeout", build: {
        var c = Conversation()
        let b = startedConsumer(&c)
        c.pull(b, group: "g", topic: "T", queueId: 0, offset: 0, count: 0, maxOffset: 0, after: 31_000)
        return c
    }, problems: ["long-poll-timeout"], check: { f in
        f.contains { if case .longPollTimeout("g", "T", 0, let l, 30_000_000_000) = $0.detail { return l >= 31_000_000_000 } else { return false } }
    }),

    AnalyzerCase(name: "PULL_OFFSET_MOVED says where the consumer jumps", build: {
        var c = Conversation()
        let b = startedConsumer(&c)
        let r = c.request(b, RequestCode.pullMessage, ScenarioBuilder.pull(group: "g", topic: "T", queueId: 0, offset: 5))
        c.answer(b, r, ResponseCode.pullOffsetMoved, remark: "OFFSET_TOO_SMALL",
                 ext: PullMessageResponseHeader(nextBeginOffset: 20, minOffset: 20, maxOffset: 30).extFields)
        return c
    }, problems: ["offset-moved"], check: { f in
        f.contains { if case .offsetMoved("g", "T", 0, "OFFSET_TOO_SMALL", 5, 20, 30, 20) = $0.detail { return true } else { return false } }
    }),

    AnalyzerCase(name: "committed offset stuck while pulls deliver", build: {
        var c = Conversation()
        let b = startedConsumer(&c)
        c.pull(b, group: "g", topic: "T", queueId: 0, offset: 0, count: 5, maxOffset: 5)
        c.commit(b, group: "g", topic: "T", queueId: 0, offset: 2)
        for i in 1...8 {
            c.wait(seconds: 5)
            c.pull(b, group: "g", topic: "T", queueId: 0, offset: Int64(i * 5), count: 5, maxOffset: Int64(i * 5 + 5), commit: 2)
        }
        return c
    }, problems: ["offset-stuck"], check: { f in
        f.contains { if case .offsetStuck("g", let q, 2, let nanos, _) = $0.detail { return q.queueId == 0 && nanos > 30_000_000_000 } else { return false } }
    }),

    AnalyzerCase(name: "error answers are counted once per kind", build: {
        var c = Conversation()
        let b = startedConsumer(&c)
        for _ in 0..<3 {
            let r = c.request(b, RequestCode.pullMessage, ScenarioBuilder.pull(group: "g", topic: "T", queueId: 0, offset: 0))
            c.answer(b, r, ResponseCode.systemBusy, remark: "busy")
        }
        return c
    }, problems: ["error-answer"], check: { f in
        f.filter { $0.kind == "error-answer" }.count == 1
            && f.contains { if case .errorAnswer(RequestCode.pullMessage, ResponseCode.systemBusy, _, 3) = $0.detail { return $0.frames.count == 3 } else { return false } }
    }),

    AnalyzerCase(name: "a request never answered", build: {
        var c = Conversation()
        let b = c.connect(client: "10.0.0.50:40000", server: brokerAddr)
        c.request(b, RequestCode.queryConsumerOffset,
                  QueryConsumerOffsetRequestHeader(consumerGroup: "g", topic: "T", queueId: 0).extFields)
        c.close(b)
        return c
    }, problems: ["unanswered"], check: { f in
        f.contains { if case .unanswered(RequestCode.queryConsumerOffset, 1) = $0.detail { return true } else { return false } }
    }),

    AnalyzerCase(name: "a consumer killed: its connection resets without UNREGISTER_CLIENT", build: {
        var c = Conversation()
        let b = startedConsumer(&c)
        c.pull(b, group: "g", topic: "T", queueId: 0, offset: 0, count: 10, maxOffset: 10)
        c.commit(b, group: "g", topic: "T", queueId: 0, offset: 4)
        c.close(b, reason: "reset")
        return c
    }, problems: ["consumer-vanished"], check: { f in
        f.contains {
            if case .consumerVanished(client1, ["g"], "reset", let ranges) = $0.detail {
                return ranges.count == 1 && ranges[0].deliveredUpTo == 10 && ranges[0].committed == 4 && $0.severity == .error
            }
            return false
        }
    }),

    AnalyzerCase(name: "a reconnect within the grace period is not a vanishing", build: {
        var c = Conversation()
        let b = startedConsumer(&c)
        c.pull(b, group: "g", topic: "T", queueId: 0, offset: 0, count: 3, maxOffset: 3)
        c.close(b, reason: "reset")
        c.wait(seconds: 3)
        let b2 = c.connect(client: "10.0.0.50:40009", server: brokerAddr)
        c.heartbeat(b2, clientID: client1, group: "g", subscriptions: [("T", "*")])
        c.pull(b2, group: "g", topic: "T", queueId: 0, offset: 3, count: 0, maxOffset: 3, commit: 3)
        c.wait(seconds: 40)
        c.unregister(b2, clientID: client1, group: "g")
        return c
    }, problems: [], check: { _ in true }),

    AnalyzerCase(name: "hand-over after a restart redelivers what the previous owner had not committed", build: {
        var c = Conversation()
        let a = startedConsumer(&c, client: client1, endpoint: "10.0.0.50:40000")
        c.pull(a, group: "g", topic: "T", queueId: 0, offset: 0, count: 10, maxOffset: 10)
        c.commit(a, group: "g", topic: "T", queueId: 0, offset: 6)
        c.close(a, reason: "reset")
        c.wait(seconds: 2)
        let b = startedConsumer(&c, client: client2, endpoint: "10.0.0.51:40000")
        c.pull(b, group: "g", topic: "T", queueId: 0, offset: 6, count: 4, maxOffset: 10)
        c.commit(b, group: "g", topic: "T", queueId: 0, offset: 10)
        c.unregister(b, clientID: client2, group: "g")
        return c
    }, problems: ["consumer-vanished", "redelivered"], check: { f in
        f.contains { if case .redelivered("g", let q, client1, client2, 6, 10) = $0.detail { return q.queueId == 0 } else { return false } }
    }),

    AnalyzerCase(name: "a queue with messages nobody pulls for longer than the threshold", build: {
        var c = Conversation()
        let b = startedConsumer(&c)
        c.pull(b, group: "g", topic: "T", queueId: 0, offset: 0, count: 2, maxOffset: 8)
        c.commit(b, group: "g", topic: "T", queueId: 0, offset: 2)
        c.wait(seconds: 12)
        c.pull(b, group: "g", topic: "T", queueId: 0, offset: 2, count: 6, maxOffset: 8)
        c.commit(b, group: "g", topic: "T", queueId: 0, offset: 8)
        c.unregister(b, clientID: client1, group: "g")
        return c
    }, problems: ["queue-unattended"], check: { f in
        f.contains { if case .queueUnattended("g", _, let from, let until, false, 6, _) = $0.detail { return until - from > 12_000_000_000 } else { return false } }
    }),

    AnalyzerCase(name: "long polls in flight are not gaps", build: {
        var c = Conversation()
        let b = startedConsumer(&c)
        c.pull(b, group: "g", topic: "T", queueId: 0, offset: 0, count: 2, maxOffset: 2)
        c.commit(b, group: "g", topic: "T", queueId: 0, offset: 1)
        c.pull(b, group: "g", topic: "T", queueId: 0, offset: 2, count: 0, maxOffset: 2, after: 15_000)
        c.pull(b, group: "g", topic: "T", queueId: 0, offset: 2, count: 0, maxOffset: 2, commit: 2, after: 15_000)
        c.unregister(b, clientID: client1, group: "g")
        return c
    }, problems: [], check: { _ in true }),

    AnalyzerCase(name: "a stale long poll of the previous owner is not counted as its delivery", build: {
        var c = Conversation()
        let a = startedConsumer(&c, client: client1, endpoint: "10.0.0.50:40000")
        let r = c.request(a, RequestCode.pullMessage, ScenarioBuilder.pull(group: "g", topic: "T", queueId: 0, offset: 0))
        let b = startedConsumer(&c, client: client2, endpoint: "10.0.0.51:40000")
        c.pull(b, group: "g", topic: "T", queueId: 0, offset: 0, count: 5, maxOffset: 5)
        c.answer(a, r, ResponseCode.success, remark: "FOUND",
                 ext: PullMessageResponseHeader(nextBeginOffset: 5, minOffset: 0, maxOffset: 5).extFields,
                 body: ScenarioBuilder.messages(topic: "T", queueId: 0, from: 0, count: 5))
        c.commit(b, group: "g", topic: "T", queueId: 0, offset: 5)
        return c
    }, problems: [], infos: ["stale-pull"], check: { f in
        f.contains { if case .stalePull("g", _, client1, client2, 5) = $0.detail { return true } else { return false } }
    }),

    AnalyzerCase(name: "group not online after its last member left is information", build: {
        var c = Conversation()
        let b = startedConsumer(&c)
        c.unregister(b, clientID: client1, group: "g")
        c.exchange(b, RequestCode.getConsumerListByGroup, ConsumerGroupHeader(consumerGroup: "g").extFields,
                   answer: ResponseCode.systemError, remark: "no consumer for this group, g")
        return c
    }, problems: [], infos: ["group-not-online"], check: { _ in true }),

    AnalyzerCase(name: "ACL: a wrong secret key and a missing permission are told apart; a refused heartbeat", build: {
        var c = Conversation()
        let b = c.connect(client: "10.0.0.50:40000", server: brokerAddr)
        var hb = ExtFields()
        hb["AccessKey"] = "AK-one"
        hb["Signature"] = "sig-1"
        let h = c.request(b, RequestCode.heartBeat, hb,
                          body: ScenarioBuilder.heartbeat(clientID: client1, group: "g", subscriptions: [("T", "*")]))
        c.answer(b, h, ResponseCode.systemError,
                 remark: "org.apache.rocketmq.acl.common.AclException: Check signature failed for accessKey=AK-one, org.apache...")
        var pull = ScenarioBuilder.pull(group: "g", topic: "T", queueId: 0, offset: 0)
        pull["AccessKey"] = "AK-two"
        pull["Signature"] = "sig-2"
        for _ in 0..<2 {
            let r = c.request(b, RequestCode.pullMessage, pull)
            c.answer(b, r, ResponseCode.systemError, remark: "org.apache.rocketmq.acl.common.AclException: No default permission for Topic:T, org.apache...")
        }
        return c
    }, problems: ["acl-denied", "heartbeat-refused"], infos: ["signed-traffic"], check: { f in
        f.contains { if case .aclDenied(.signatureMismatch, RequestCode.heartBeat, "account-1", nil, 1) = $0.detail { return true } else { return false } }
            && f.contains { if case .aclDenied(.noPermission, RequestCode.pullMessage, "account-2", "Topic:T", 2) = $0.detail { return true } else { return false } }
            && f.contains { if case .heartbeatRefused(_, ["g"], "account-1") = $0.detail { return true } else { return false } }
            && !f.contains { $0.message.contains("AK-one") || $0.message.contains("AK-two") }
    }),

    AnalyzerCase(name: "allocation inferred from what the clients pull", build: {
        var c = Conversation()
        let ns = c.connect(client: "10.0.0.50:41000", server: namesrvAddr)
        c.route(ns, topic: "T", brokers: [("broker-a", brokerAddr)], queues: 4)
        let a = c.connect(client: "10.0.0.50:40000", server: brokerAddr)
        c.heartbeat(a, clientID: client1, group: "g", subscriptions: [("T", "*")])
        let b = c.connect(client: "10.0.0.51:40000", server: brokerAddr)
        c.heartbeat(b, clientID: client2, group: "g", subscriptions: [("T", "*")])
        c.consumerList(a, group: "g", ids: [client1, client2])
        c.consumerList(b, group: "g", ids: [client1, client2])
        // AVG_BY_CIRCLE: client1 gets 0 and 2, client2 gets 1 and 3.
        for (conn, queues) in [(a, [0, 2]), (b, [1, 3])] {
            for q in queues { c.pull(conn, group: "g", topic: "T", queueId: Int32(q), offset: 0, count: 0, maxOffset: 0) }
        }
        return c
    }, problems: [], infos: ["allocation"], check: { f in
        f.contains { if case .allocationInferred("g", "AVG_BY_CIRCLE", 2) = $0.detail { return true } else { return false } }
    }),

    AnalyzerCase(name: "orderly consumer: a lock not granted because another client holds it", build: {
        var c = Conversation()
        let b = c.connect(client: "10.0.0.50:40000", server: brokerAddr)
        let mqs = (0..<3).map { MessageQueue(topic: "T", brokerName: "broker-a", queueId: Int32($0)) }
        for _ in 0..<2 {
            c.exchange(b, RequestCode.lockBatchMQ,
                       body: Array(LockBatchRequestBody(consumerGroup: "og", clientId: client1, mqSet: mqs).json.compactText.utf8),
                       answerBody: Array(LockBatchResponseBody.json([mqs[0]]).compactText.utf8))
        }
        c.exchange(b, RequestCode.unlockBatchMQ,
                   body: Array(LockBatchRequestBody(consumerGroup: "og", clientId: client1, mqSet: [mqs[0]]).json.compactText.utf8))
        return c
    }, problems: ["lock-not-granted"], check: { f in
        f.contains { if case .lockNotGranted("og", client1, ["T@broker-a#1", "T@broker-a#2"], 2) = $0.detail { return true } else { return false } }
    }),

    AnalyzerCase(name: "orderly consumer: owns a queue but does not pull it, for lack of its lock", build: {
        var c = Conversation()
        let mqs = (0..<2).map { MessageQueue(topic: "T", brokerName: "broker-a", queueId: Int32($0)) }
        let ns = c.connect(client: "10.0.0.50:41000", server: namesrvAddr)
        c.route(ns, topic: "T", brokers: [("broker-a", brokerAddr)], queues: 2)
        let h = c.connect(client: "10.0.0.51:40000", server: brokerAddr)   // client2 holds queue 1 and pulls it
        c.exchange(h, RequestCode.lockBatchMQ,
                   body: Array(LockBatchRequestBody(consumerGroup: "og", clientId: client2, mqSet: [mqs[1]]).json.compactText.utf8),
                   answerBody: Array(LockBatchResponseBody.json([mqs[1]]).compactText.utf8))
        c.pull(h, group: "og", topic: "T", queueId: 1, offset: 0, count: 0, maxOffset: 0)
        let b = c.connect(client: "10.0.0.50:40000", server: brokerAddr)
        for _ in 0..<3 {   // client1's lockAll every 20 s: queue 1 is never granted
            c.exchange(b, RequestCode.lockBatchMQ,
                       body: Array(LockBatchRequestBody(consumerGroup: "og", clientId: client1, mqSet: mqs).json.compactText.utf8),
                       answerBody: Array(LockBatchResponseBody.json([mqs[0]]).compactText.utf8))
            c.pull(b, group: "og", topic: "T", queueId: 0, offset: 0, count: 0, maxOffset: 0)
            c.wait(seconds: 20)
        }
        return c
    }, problems: ["lock-not-granted", "queue-locked-out"], check: { f in
        f.contains {
            if case .queueLockedOut("og", let q, client1, client2?, _, _, true, _) = $0.detail { return q.queueId == 1 }
            return false
        } && !f.contains { if case .queueLockedOut(_, let q, _, _, _, _, _, _) = $0.detail { return q.queueId == 0 } else { return false } }
    }),

    AnalyzerCase(name: "orderly consumer: a lock granted a few seconds later is no lock-out", build: {
        var c = Conversation()
        let mqs = [MessageQueue(topic: "T", brokerName: "broker-a", queueId: 0)]
        let b = c.connect(client: "10.0.0.50:40000", server: brokerAddr)
        c.exchange(b, RequestCode.lockBatchMQ,
                   body: Array(LockBatchRequestBody(consumerGroup: "og", clientId: client1, mqSet: mqs).json.compactText.utf8),
                   answerBody: Array(LockBatchResponseBody.json([]).compactText.utf8))
        c.wait(seconds: 3)
        c.exchange(b, RequestCode.lockBatchMQ,
                   body: Array(LockBatchRequestBody(consumerGroup: "og", clientId: client1, mqSet: mqs).json.compactText.utf8),
                   answerBody: Array(LockBatchResponseBody.json(mqs).compactText.utf8))
        c.pull(b, group: "og", topic: "T", queueId: 0, offset: 0, count: 0, maxOffset: 0)
        c.wait(seconds: 30)
        return c
    }, problems: ["lock-not-granted"], check: { f in !f.contains { $0.kind == "queue-locked-out" } }),

    AnalyzerCase(name: "a queue two clients pull at once", build: {
        var c = Conversation()
        let a = startedConsumer(&c, client: client1, endpoint: "10.0.0.50:40000")
        let b = startedConsumer(&c, client: client2, endpoint: "10.0.0.51:40000")
        for i in 0..<6 {
            c.pull(a, group: "g", topic: "T", queueId: 0, offset: Int64(i), count: 0, maxOffset: 0)
            c.pull(b, group: "g", topic: "T", queueId: 0, offset: Int64(i), count: 0, maxOffset: 0)
            c.wait(seconds: 5)
        }
        return c
    }, problems: ["queue-double-owner"], check: { f in
        f.contains { if case .queueDoubleOwner("g", let q, let who, _) = $0.detail { return q.queueId == 0 && Set(who) == [client1, client2] } else { return false } }
    }),
]

@Test(arguments: analyzerCases)
func analyzerFindings(_ c: AnalyzerCase) {
    let (_, findings, _) = track(c.build())
    let problems = findings.filter { $0.severity > .info }.map(\.kind)
    #expect(Set(problems) == Set(c.problems), "problems: \(findings.map(\.message))")
    for kind in c.infos { #expect(findings.contains { $0.severity == .info && $0.kind == kind }) }
    #expect(c.check(findings), "findings: \(findings.map { "\($0.detail)" })")
    // Every finding renders a line of its own.
    for f in findings { #expect(!f.message.isEmpty && !f.message.contains("\n")) }
}

@Test func analyzerTracksProgressPerQueue() {
    var c = Conversation()
    let b = startedConsumer(&c)
    c.pull(b, group: "g", topic: "T", queueId: 0, offset: 0, count: 7, maxOffset: 9)
    c.commit(b, group: "g", topic: "T", queueId: 0, offset: 5)
    let (_, _, tracker) = track(c)
    let rows = tracker.analyzer.lagTable
    #expect(rows.count == 1)
    let q = rows[0]
    #expect(q.group == "g" && q.queue == "T@broker-a#0")
    #expect(q.brokerMaxOffset == 9 && q.committedOffset == 5 && q.deliveredOffset == 7 && q.lag == 4)
    #expect(q.pulls == 1 && q.messages == 7 && q.owner == client1)
}

/// The queue keys are interned ids, and a connection's pulls reuse the ids of its previous pull when they name the
/// same group, topic and broker. A route that names the broker behind an address must still move the following
/// pulls to the broker's name, and a pull of another group on the same connection must get its own queue.
@Test func pullsOfAConnectionFollowARouteThatNamesTheirBroker() {
    var c = Conversation()
    let b = c.connect(client: "10.0.0.50:40000", server: brokerAddr)
    c.pull(b, group: "g", topic: "T", queueId: 0, offset: 0, count: 2, maxOffset: 2)
    c.pull(b, group: "g", topic: "T", queueId: 0, offset: 2, count: 1, maxOffset: 3)
    let ns = c.connect(client: "10.0.0.50:41000", server: namesrvAddr)
    c.route(ns, topic: "T", brokers: [("broker-a", brokerAddr)], queues: 1)
    c.pull(b, group: "g", topic: "T", queueId: 0, offset: 3, count: 4, maxOffset: 7)
    c.pull(b, group: "g2", topic: "T", queueId: 0, offset: 0, count: 5, maxOffset: 7)
    let (_, _, tracker) = track(c)
    let rows = tracker.analyzer.lagTable.map { "\($0.group) \($0.queue) pulls \($0.pulls) messages \($0.messages)" }
    #expect(rows == ["g T@10.0.0.2:10911#0 pulls 2 messages 3", "g T@broker-a#0 pulls 1 messages 4", "g2 T@broker-a#0 pulls 1 messages 5"])
}

/// Memory stays within the configuration however many names a capture brings: past `maxTracked` queues (and
/// three names each) a pull's queue is counted as not tracked, and nothing is kept for it.
@Test func queuesBeyondTheLimitAreCountedNotKept() {
    var c = Conversation()
    let b = c.connect(client: "10.0.0.50:40000", server: brokerAddr)
    for i in 0..<10 { c.pull(b, group: "g\(i)", topic: "T\(i)", queueId: 0, offset: 0, count: 1, maxOffset: 1) }
    var configuration = TrackerConfiguration()
    configuration.analyzer.maxTracked = 2
    let (_, _, tracker) = track(c, configuration: configuration)
    #expect(tracker.analyzer.lagTable.map(\.group) == ["g0", "g1"])
    #expect(tracker.analyzer.untracked > 0)
    #expect(tracker.analyzer.nameCount <= 3 * 2)
}

@Test func lagStatusAsBurrowJudgesIt() {
    // Queue 0 keeps up (OK); queue 1's commits stop while pulls go on (STALL); queue 2 is neither committed nor
    // pulled in the last window (STOP); queue 3's committed offset goes back (REWIND).
    var c = Conversation()
    let ns = c.connect(client: "10.0.0.50:41000", server: namesrvAddr)
    c.route(ns, topic: "T", brokers: [("broker-a", brokerAddr)], queues: 4)
    let b = c.connect(client: "10.0.0.50:40000", server: brokerAddr)
    c.heartbeat(b, clientID: client1, group: "g", subscriptions: [("T", "*")])
    c.pull(b, group: "g", topic: "T", queueId: 2, offset: 0, count: 5, maxOffset: 10)
    c.commit(b, group: "g", topic: "T", queueId: 2, offset: 5)
    c.commit(b, group: "g", topic: "T", queueId: 3, offset: 5)
    c.commit(b, group: "g", topic: "T", queueId: 3, offset: 2)
    c.pull(b, group: "g", topic: "T", queueId: 3, offset: 2, count: 0, maxOffset: 9)
    var offset: Int64 = 0
    for i in 0..<10 {
        c.wait(seconds: 5)
        c.pull(b, group: "g", topic: "T", queueId: 0, offset: Int64(i), count: 1, maxOffset: Int64(i + 1))
        c.commit(b, group: "g", topic: "T", queueId: 0, offset: Int64(i + 1))
        c.pull(b, group: "g", topic: "T", queueId: 1, offset: offset, count: 1, maxOffset: offset + 5)
        if i == 0 { c.commit(b, group: "g", topic: "T", queueId: 1, offset: 1) }
        offset += 1
    }
    let (_, _, tracker) = track(c)
    let status = Dictionary(uniqueKeysWithValues: tracker.analyzer.lagTable.map { ($0.queueId, $0.status) })
    #expect(status[0] == .ok)
    #expect(status[1] == .stall)
    #expect(status[2] == .stop)
    #expect(status[3] == .rewind)
    let q1 = tracker.analyzer.lagTable.first { $0.queueId == 1 }!
    #expect(q1.lagFirst == 4 && q1.lagLast == 13 && q1.lagMax == 13)
}
