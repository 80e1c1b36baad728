// The hand-written part of the typed headers: which header a command code carries (`TypedHeader`), the
// SendMessageRequestHeader V1/V2 forms and the flag types. The header structs themselves are generated from
// the table of scripts/gen-headers.py (Generated/Headers.generated.swift).

/// PULL_MESSAGE sysFlag bits (PullSysFlag).
public struct PullSysFlag: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    public static let commitOffset = PullSysFlag(rawValue: 0x1)
    public static let suspend = PullSysFlag(rawValue: 0x2)
    public static let subscription = PullSysFlag(rawValue: 0x4)
    public static let classFilter = PullSysFlag(rawValue: 0x8)
    public static let litePull = PullSysFlag(rawValue: 0x10)

    static let names: [(PullSysFlag, String)] = [(.commitOffset, "COMMIT_OFFSET"), (.suspend, "SUSPEND"),
                                                 (.subscription, "SUBSCRIPTION"), (.classFilter, "CLASS_FILTER"),
                                                 (.litePull, "LITE_PULL")]
    /// e.g. `COMMIT_OFFSET|SUSPEND`; unknown bits as hex.
    public var description: String {
        // The 32 combinations of the known bits are built once (every pull line of a timeline prints one).
        let known = Self.knownDescriptions[Int(rawValue & 0x1F)]
        let rest = rawValue & ~0x1F
        if rest == 0 { return known }
        let unknown = "0x" + String(rest, radix: 16)
        return rawValue & 0x1F == 0 ? unknown : known + "|" + unknown
    }
    private static let knownDescriptions: [String] = (Int32(0)..<32).map { bits in
        let parts = names.filter { PullSysFlag(rawValue: bits).contains($0.0) }.map(\.1)
        return parts.isEmpty ? "NONE" : parts.joined(separator: "|")
    }
}

/// GET_CONSUMER_LIST_BY_GROUP (38) request: the consumer-group-only header.
public typealias GetConsumerListByGroupRequestHeader = ConsumerGroupHeader
/// NOTIFY_CONSUMER_IDS_CHANGED (40) request: the consumer-group-only header.
public typealias NotifyConsumerIdsChangedRequestHeader = ConsumerGroupHeader
/// GET_MAX_OFFSET (30), GET_MIN_OFFSET (31), GET_EARLIEST_MSG_STORETIME (32), SEARCH_OFFSET_BY_TIMESTAMP (29)
/// requests share one shape (`QueueOffsetRequestHeader`).
public typealias GetMaxOffsetRequestHeader = QueueOffsetRequestHeader
public typealias GetMinOffsetRequestHeader = QueueOffsetRequestHeader
public typealias GetEarliestMsgStoretimeRequestHeader = QueueOffsetRequestHeader
public typealias SearchOffsetRequestHeader = QueueOffsetRequestHeader

extension SendMessageRequestHeader {
    /// V1 key ↔ V2 letter, in the V2 class's order a…n.
    public static let v2Keys: [(long: String, short: String)] = zip(wireKeys, v2WireKeys).map { (long: $0, short: $1) }
    public static func longName(ofV2Key key: String) -> String? { v2Keys.first { $0.short == key }?.long }

    /// Decodes the V1 (long keys) or V2 (letters) form.
    public init(extFields: ExtFields, v2: Bool) throws {
        try self.init(fields: ExtFieldsView(extFields), v2: v2)
    }

    /// Decodes the V1 (long keys) or V2 (letters, SendMessageRequestHeaderV2) form from the lazy fields.
    public init(fields: borrowing ExtFieldsView, v2: Bool, ownText: Bool = false) throws {
        let keys: KeySet = v2 ? .v2Wire : .wire
        self = try fields.withUnsafeFieldsAndSource {
            ownText ? try Self.decode($0, $1, source: $2, text: OwnText.self, header: Self.headerName(v2: v2), keys: keys)
                : try Self.decode($0, $1, source: $2, text: SpanText.self, header: Self.headerName(v2: v2), keys: keys)
        }
    }

    static func headerName(v2: Bool) -> String { v2 ? "SendMessageRequestHeaderV2" : javaName }

    /// The message properties of the `properties` field (6.4), parsed the Java way.
    public var parsedProperties: [(key: String, value: String)] { MessageProperties.parse(properties ?? "") }
}

extension QueueOffsetRequestHeader {
    /// SEARCH_OFFSET_BY_TIMESTAMP requires `timestamp`.
    public static func searchOffset(extFields: ExtFields) throws -> QueueOffsetRequestHeader {
        try searchOffset(fields: ExtFieldsView(extFields))
    }
    public static func searchOffset(fields: borrowing ExtFieldsView, ownText: Bool = false) throws -> QueueOffsetRequestHeader {
        let h = try QueueOffsetRequestHeader(fields: fields, ownText: ownText)
        if h.timestamp == nil { throw RemotingDecodingError("SearchOffsetRequestHeader", .missingField(field: "timestamp")) }
        return h
    }
}

/// The typed header of a command, chosen by its request code (and, for responses, by the code of the
/// request it answers).
public indirect enum TypedHeader: Hashable, Sendable {
    case getRouteInfo(GetRouteInfoRequestHeader)
    case unregisterClient(UnregisterClientRequestHeader)
    case getConsumerListByGroup(ConsumerGroupHeader)
    case notifyConsumerIdsChanged(ConsumerGroupHeader)
    case queryConsumerOffset(QueryConsumerOffsetRequestHeader)
    case updateConsumerOffset(UpdateConsumerOffsetRequestHeader)
    case pullMessage(PullMessageRequestHeader)
    case sendMessage(SendMessageRequestHeader, v2: Bool)
    case consumerSendMsgBack(ConsumerSendMsgBackRequestHeader)
    case queueOffset(QueueOffsetRequestHeader)
    case getConsumerRunningInfo(GetConsumerRunningInfoRequestHeader)
    case offsetResponse(OffsetResponseHeader)
    case pullMessageResponse(PullMessageResponseHeader)
    case sendMessageResponse(SendMessageResponseHeader)
    // Broker, name server, admin and transactions.
    case createTopic(CreateTopicRequestHeader)
    case earliestMsgStoretimeResponse(GetEarliestMsgStoretimeResponseHeader)
    case consumeMessageDirectly(ConsumeMessageDirectlyResultRequestHeader)
    case resetOffset(ResetOffsetRequestHeader)
    case getConsumerStatus(GetConsumerStatusRequestHeader)
    case viewMessage(ViewMessageRequestHeader)
    case queryMessage(QueryMessageRequestHeader)
    case queryMessageResponse(QueryMessageResponseHeader)
    case endTransaction(EndTransactionRequestHeader)
    case checkTransactionState(CheckTransactionStateRequestHeader)
    case registerBroker(RegisterBrokerRequestHeader)
    case registerBrokerResponse(RegisterBrokerResponseHeader)
    case unregisterBroker(UnregisterBrokerRequestHeader)
    // 5.x POP.
    case popMessage(PopMessageRequestHeader)
    case popMessageResponse(PopMessageResponseHeader)
    case ackMessage(AckMessageRequestHeader)
    case peekMessage(PeekMessageRequestHeader)
    case changeInvisibleTime(ChangeInvisibleTimeRequestHeader)
    case changeInvisibleTimeResponse(ChangeInvisibleTimeResponseHeader)
    case notification(NotificationRequestHeader)
    case notificationResponse(NotificationResponseHeader)
    case pollingInfo(PollingInfoRequestHeader)
    case pollingInfoResponse(PollingInfoResponseHeader)

    /// The header of a request (or oneway) with this code, or nil when the code has no typed header here.
    public static func decodeRequest(code: Int32, extFields: ExtFields?) throws -> TypedHeader? {
        try decodeRequest(code: code, fields: ExtFieldsView(extFields ?? ExtFields()))
    }

    /// The header of a request (or oneway) with this code, decoded from the lazy fields of a command (an
    /// absent map reads as empty, as Java reads a null extFields).
    public static func decodeRequest(code: Int32, fields: ExtFieldsView?) throws -> TypedHeader? {
        try decodeRequest(code: code, view: fields ?? .empty)
    }

    /// `ownText`: the header's String fields are Strings of their own, not spans of the view's bytes, for a
    /// caller that keeps the header while the frame's buffer should go.
    static func decodeRequest(code: Int32, view f: borrowing ExtFieldsView, ownText: Bool = false) throws -> TypedHeader? {
        switch code {
        case RequestCode.getRouteInfoByTopic: return .getRouteInfo(try .init(fields: f, ownText: ownText))
        case RequestCode.unregisterClient: return .unregisterClient(try .init(fields: f, ownText: ownText))
        case RequestCode.getConsumerListByGroup: return .getConsumerListByGroup(try .init(fields: f, ownText: ownText))
        case RequestCode.notifyConsumerIdsChanged:
            do { return .notifyConsumerIdsChanged(try .init(fields: f, ownText: ownText)) } catch var e as RemotingDecodingError {
                e.context = "NotifyConsumerIdsChangedRequestHeader"
                throw e
            }
        case RequestCode.queryConsumerOffset: return .queryConsumerOffset(try .init(fields: f, ownText: ownText))
        case RequestCode.updateConsumerOffset: return .updateConsumerOffset(try .init(fields: f, ownText: ownText))
        case RequestCode.pullMessage, RequestCode.litePullMessage: return .pullMessage(try .init(fields: f, ownText: ownText))
        case RequestCode.sendMessage, RequestCode.sendReplyMessage:
            return .sendMessage(try .init(fields: f, v2: false, ownText: ownText), v2: false)
        case RequestCode.sendMessageV2, RequestCode.sendBatchMessage, RequestCode.sendReplyMessageV2:
            return .sendMessage(try .init(fields: f, v2: true, ownText: ownText), v2: true)
        case RequestCode.consumerSendMsgBack: return .consumerSendMsgBack(try .init(fields: f, ownText: ownText))
        case RequestCode.getMaxOffset, RequestCode.getMinOffset, RequestCode.getEarliestMsgStoretime:
            return .queueOffset(try .init(fields: f, ownText: ownText))
        case RequestCode.searchOffsetByTimestamp: return .queueOffset(try .searchOffset(fields: f, ownText: ownText))
        case RequestCode.getConsumerRunningInfo: return .getConsumerRunningInfo(try .init(fields: f, ownText: ownText))
        case RequestCode.updateAndCreateTopic: return .createTopic(try .init(fields: f, ownText: ownText))
        case RequestCode.consumeMessageDirectly: return .consumeMessageDirectly(try .init(fields: f, ownText: ownText))
        case RequestCode.resetConsumerClientOffset: return .resetOffset(try .init(fields: f, ownText: ownText))
        case RequestCode.getConsumerStatusFromClient: return .getConsumerStatus(try .init(fields: f, ownText: ownText))
        case RequestCode.viewMessageById: return .viewMessage(try .init(fields: f, ownText: ownText))
        case RequestCode.queryMessage: return .queryMessage(try .init(fields: f, ownText: ownText))
        case RequestCode.endTransaction: return .endTransaction(try .init(fields: f, ownText: ownText))
        case RequestCode.checkTransactionState: return .checkTransactionState(try .init(fields: f, ownText: ownText))
        case RequestCode.registerBroker: return .registerBroker(try .init(fields: f, ownText: ownText))
        case RequestCode.unregisterBroker: return .unregisterBroker(try .init(fields: f, ownText: ownText))
        case RequestCode.popMessage: return .popMessage(try .init(fields: f, ownText: ownText))
        case RequestCode.ackMessage: return .ackMessage(try .init(fields: f, ownText: ownText))
        case RequestCode.peekMessage: return .peekMessage(try .init(fields: f, ownText: ownText))
        case RequestCode.changeMessageInvisibleTime: return .changeInvisibleTime(try .init(fields: f, ownText: ownText))
        case RequestCode.notification: return .notification(try .init(fields: f, ownText: ownText))
        case RequestCode.pollingInfo: return .pollingInfo(try .init(fields: f, ownText: ownText))
        default: return nil
        }
    }

    /// The header of a response with `responseCode` to a request with `requestCode`. Error answers carry no
    /// typed header (nil), except the pull statuses that keep the offsets.
    public static func decodeResponse(requestCode: Int32, responseCode: Int32, extFields: ExtFields?) throws -> TypedHeader? {
        guard let ext = extFields else { return nil }
        return try decodeResponse(requestCode: requestCode, responseCode: responseCode, fields: ExtFieldsView(ext))
    }

    /// `decodeResponse` over the lazy fields of a command (nil: the response has no extFields, no header).
    public static func decodeResponse(requestCode: Int32, responseCode: Int32, fields: ExtFieldsView?) throws -> TypedHeader? {
        guard let f = fields else { return nil }
        return try decodeResponse(requestCode: requestCode, responseCode: responseCode, view: f)
    }

    static func decodeResponse(requestCode: Int32, responseCode: Int32, view f: borrowing ExtFieldsView) throws -> TypedHeader? {
        let success = responseCode == ResponseCode.success
        switch requestCode {
        case RequestCode.pullMessage, RequestCode.litePullMessage:
            switch responseCode {
            case ResponseCode.success, ResponseCode.pullNotFound, ResponseCode.pullRetryImmediately, ResponseCode.pullOffsetMoved:
                return .pullMessageResponse(try .init(fields: f))
            default:
                return nil
            }
        case RequestCode.queryConsumerOffset, RequestCode.getMaxOffset, RequestCode.getMinOffset,
             RequestCode.searchOffsetByTimestamp:
            return success ? .offsetResponse(try .init(fields: f)) : nil
        case RequestCode.sendMessage, RequestCode.sendMessageV2, RequestCode.sendBatchMessage:
            switch responseCode {
            case 0, 10, 11, 12: return .sendMessageResponse(try .init(fields: f))
            default: return nil
            }
        case RequestCode.getEarliestMsgStoretime: return success ? .earliestMsgStoretimeResponse(try .init(fields: f)) : nil
        case RequestCode.queryMessage: return success ? .queryMessageResponse(try .init(fields: f)) : nil
        case RequestCode.registerBroker: return success ? .registerBrokerResponse(try .init(fields: f)) : nil
        case RequestCode.popMessage:
            // The broker answers with the header's primitive fields on these statuses (POLLING_FULL 209 and
            // POLLING_TIMEOUT 210 in their 5.x meaning).
            switch responseCode {
            case ResponseCode.success, ResponseCode.pullNotFound, 209, 210: return .popMessageResponse(try .init(fields: f))
            default: return nil
            }
        case RequestCode.changeMessageInvisibleTime:
            return success ? .changeInvisibleTimeResponse(try .init(fields: f)) : nil
        case RequestCode.notification: return success ? .notificationResponse(try .init(fields: f)) : nil
        case RequestCode.pollingInfo: return success ? .pollingInfoResponse(try .init(fields: f)) : nil
        default:
            return nil
        }
    }

    /// The header value itself.
    public var value: any CustomHeader {
        switch self {
        case .getRouteInfo(let h): return h
        case .unregisterClient(let h): return h
        case .getConsumerListByGroup(let h), .notifyConsumerIdsChanged(let h): return h
        case .queryConsumerOffset(let h): return h
        case .updateConsumerOffset(let h): return h
        case .pullMessage(let h): return h
        case .sendMessage(let h, _): return h
        case .consumerSendMsgBack(let h): return h
        case .queueOffset(let h): return h
        case .getConsumerRunningInfo(let h): return h
        case .offsetResponse(let h): return h
        case .pullMessageResponse(let h): return h
        case .sendMessageResponse(let h): return h
        case .createTopic(let h): return h
        case .earliestMsgStoretimeResponse(let h): return h
        case .consumeMessageDirectly(let h): return h
        case .resetOffset(let h): return h
        case .getConsumerStatus(let h): return h
        case .viewMessage(let h): return h
        case .queryMessage(let h): return h
        case .queryMessageResponse(let h): return h
        case .endTransaction(let h): return h
        case .checkTransactionState(let h): return h
        case .registerBroker(let h): return h
        case .registerBrokerResponse(let h): return h
        case .unregisterBroker(let h): return h
        case .popMessage(let h): return h
        case .popMessageResponse(let h): return h
        case .ackMessage(let h): return h
        case .peekMessage(let h): return h
        case .changeInvisibleTime(let h): return h
        case .changeInvisibleTimeResponse(let h): return h
        case .notification(let h): return h
        case .notificationResponse(let h): return h
        case .pollingInfo(let h): return h
        case .pollingInfoResponse(let h): return h
        }
    }

    /// The Java class name of the header.
    public var javaName: String {
        switch self {
        case .getConsumerListByGroup: return "GetConsumerListByGroupRequestHeader"
        case .notifyConsumerIdsChanged: return "NotifyConsumerIdsChangedRequestHeader"
        case .sendMessage(_, let v2): return v2 ? "SendMessageRequestHeaderV2" : SendMessageRequestHeader.javaName
        case .queueOffset: return QueueOffsetRequestHeader.javaName
        default: return type(of: value).javaName
        }
    }

    /// Named fields for display: declared fields with the V2 letters spelled out and flag bits named.
    public var displayFields: [(key: String, value: String)] { value.displayFields }

    /// The extFields the header encodes to (V2 letters for the V2 send forms).
    public var extFields: ExtFields {
        if case .sendMessage(let h, true) = self { return h.v2ExtFields }
        return value.extFields
    }

    /// The topic the header names (ConsumerSendMsgBack: the original topic), if any.
    public var topic: String? { value.flowTopic }
    /// The consumer group the header names, if any.
    public var consumerGroup: String? { value.flowConsumerGroup }
    /// The producer group the header names, if any.
    public var producerGroup: String? { value.flowProducerGroup }
    /// The group of the exchange: the consumer group, else the producer group.
    public var group: String? { value.flowConsumerGroup ?? value.flowProducerGroup }
    /// The queue id the header names, if any.
    public var queueId: Int32? { value.flowQueueId }
    /// The client id the header names, if any.
    public var clientID: String? { value.flowClientID }
}
