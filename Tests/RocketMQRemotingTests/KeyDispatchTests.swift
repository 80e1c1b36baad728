import NIOCore
import Testing
@testable import RocketMQRemoting

/// The binary scanner dispatches a PULL_MESSAGE request's keys to their fields while it walks the extFields
/// block (`RawExtField.slot`), and the typed decoder takes them from there. What it decodes must be what the
/// decoder makes of the same entries without the scanner's help: duplicates (the later wins), keys it does not
/// declare (`extra`), any order, and a view of those entries read as another header.
@Suite struct KeyDispatchTests {
    static let entries: [(String, String)] = [
        ("queueOffset", "1"), ("consumerGroup", "GID_order-service_payment-consumer"), ("topic", "TOPIC_order-events"),
        ("queueId", "3"), ("bname", "broker-a"), ("maxMsgNums", "32"), ("sysFlag", "7"), ("commitOffset", "1284631"),
        ("suspendTimeoutMillis", "15000"), ("subscription", "TagA || TagB"), ("subVersion", "1718012345678"),
        ("expressionType", "TAG"), ("queueOffset", "1284663"), ("lo", "false"),
    ]

    static func binaryFrame(code: Int32, entries: [(String, String)], response: Bool = false) throws -> RemotingCommand {
        var cmd = RemotingCommand.request(code: code, opaque: 9, extFields: ExtFields(entries), serializeType: .rocketmq)
        if response { cmd.flag |= RemotingCommand.responseFlag }
        return try RemotingFrame.decode(RemotingFrame.encode(cmd))
    }

    @Test(arguments: [RequestCode.pullMessage, RequestCode.litePullMessage])
    func dispatchedKeysDecodeAsTheMapDoes(code: Int32) throws {
        let cmd = try Self.binaryFrame(code: code, entries: Self.entries)
        let view = try #require(cmd.fields)
        // Every entry was dispatched, to the field its key names (-1: not declared).
        view.withUnsafeFields { b, f in
            for e in f {
                #expect(e.slotOwner == PullMessageRequestHeaderWireSlots.owner)
                #expect(Int(e.slot) == PullMessageRequestHeader.wireSlot(ascii: e.keyBytes(in: b)))
            }
        }
        let h = try cmd.header(PullMessageRequestHeader.self)
        #expect(h == (try PullMessageRequestHeader(extFields: ExtFields(Self.entries))))
        #expect(h.queueOffset == 1_284_663)  // the later of the two
        #expect(h.extra.entries.map(\.key) == ["bname", "lo"])
        // The same entries read as another header: the tags are not theirs, their keys are matched again.
        #expect(try QueueOffsetRequestHeader(fields: view) == QueueOffsetRequestHeader(extFields: ExtFields(Self.entries)))
    }

    @Test func otherCommandsAreNotDispatched() throws {
        for cmd in [try Self.binaryFrame(code: RequestCode.queryConsumerOffset, entries: Self.entries),
                    try Self.binaryFrame(code: RequestCode.pullMessage, entries: Self.entries, response: true)] {
            try #require(cmd.fields).withUnsafeFields { _, f in
                #expect(f.allSatisfy { $0.slotOwner == 0 })
            }
        }
    }

    @Test func aMissingFieldIsStillTheOneJavaNames() throws {
        let cmd = try Self.binaryFrame(code: RequestCode.pullMessage, entries: Self.entries.filter { $0.0 != "commitOffset" })
        #expect(throws: (any Error).self) { try cmd.header(PullMessageRequestHeader.self) }
        do {
            _ = try cmd.header(PullMessageRequestHeader.self)
        } catch {
            #expect("\(error)".contains("commitOffset"))
        }
    }
}
