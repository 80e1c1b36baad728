
import RocketMQRemoting

/// Where a frame sits in the push consumer's conversation (PROTOCOL.md 7.3).
public enum Phase: String, Sendable, CaseIterable {
    case route          // GET_ROUTEINFO_BY_TOPIC, GET_BROKER_CLUSTER_INFO
    case register       // HEART_BEAT
    case rebalance      // GET_CONSUMER_LIST_BY_GROUP, NOTIFY_CONSUMER_IDS_CHANGED, LOCK/UNLOCK_BATCH_MQ
    case startOffset = "start-offset"  // QUERY_CONSUMER_OFFSET, GET_MAX/MIN_OFFSET, SEARCH_OFFSET_BY_TIMESTAMP
    case pull           // PULL_MESSAGE
    case commit         // UPDATE_CONSUMER_OFFSET
    case retry          // CONSUMER_SEND_MSG_BACK, sends to %RETRY%
    case shutdown       // UNREGISTER_CLIENT
    case pop            // 5.x POP_MESSAGE, PEEK_MESSAGE, NOTIFICATION, POLLING_INFO
    case ack            // 5.x ACK_MESSAGE, BATCH_ACK_MESSAGE
    case changeInvisible = "change-invisible"  // 5.x CHANGE_MESSAGE_INVISIBLETIME
    case produce        // SEND_MESSAGE*, END_TRANSACTION, CHECK_TRANSACTION_STATE
    case admin          // management and query calls
    case brokerRegistration = "broker-registration"  // REGISTER_BROKER & co. (broker ↔ name server)
    case clientManagement = "client-management"    // broker → client calls (running info, reset offset, ...)
    case other
}

/// Who an endpoint is.
public enum Role: String, Sendable {
    case nameServer = "namesrv"
    case broker
    case client
    case unknown
}

/// What a response answered: the request's code, time, frame number and header.
///
/// A class: every answered frame carries one (its record, the pairing, the analyzer), and as a struct each
/// copy and destruction of it (and of its Optional) went through value witnesses of its large header enum,
/// about 700 instructions a frame on small frames; now each is a retain or a release. Immutable.
public final class RequestRef: Sendable {
    public let code: Int32
    public let time: CaptureTime
    public let frameIndex: Int
    public let header: TypedHeader?
    public let body: BodySummary
    /// The ACL account label of the request, when it was signed.
    public let account: String?

    public init(code: Int32, time: CaptureTime, frameIndex: Int, header: TypedHeader? = nil, body: BodySummary, account: String? = nil) {
        self.code = code
        self.time = time
        self.frameIndex = frameIndex
        self.header = header
        self.body = body
        self.account = account
    }
}

/// What a body held, reduced to what the timeline, the analyzer and the summary need (the body itself is
/// not kept, so memory does not grow with the capture).
public enum BodySummary: Sendable {
    case none
    /// Stored messages of a pull/query/view response: count and first/last queue offsets (walked by
    /// TOTALSIZE only); `clean` is false when the records did not end exactly at the end of the body.
    case messages(count: Int, firstOffset: Int64?, lastOffset: Int64?, clean: Bool)
    case route(TopicRouteData)
    case heartbeat(HeartbeatData)
    case consumerIds([String])
    case lockRequest(LockBatchRequestBody)
    case lockedQueues([MessageQueue])
    /// 5.x: QUERY_ASSIGNMENT asked and answered, SET_MESSAGE_REQUEST_MODE, BATCH_ACK_MESSAGE.
    case queryAssignment(QueryAssignmentRequestBody)
    case assignments([MessageQueueAssignment])
    case requestMode(SetMessageRequestModeRequestBody)
    case batchAck(BatchAckMessageRequestBody)
    case messageBody(length: Int)
    case other(length: Int)
    case undecodable(length: Int, error: String)
}

/// One decoded frame with everything the renderers print.
///
/// A value with copy-on-write storage: the record is large (command, typed headers, the request it answers), and
/// it travels through the tracker, the analyzer, the event list and the renderers, so each hand-over copies a
/// reference instead of some 800 bytes and a dozen retains. The first change to a shared record copies it.
public struct FrameRecord: Sendable {
    @usableFromInline final class Storage: @unchecked Sendable {
        @usableFromInline @exclusivity(unchecked) var index: Int
        @usableFromInline @exclusivity(unchecked) var time: CaptureTime
        @usableFromInline @exclusivity(unchecked) var connection: Int
        @usableFromInline @exclusivity(unchecked) var source: String
        @usableFromInline @exclusivity(unchecked) var destination: String
        @usableFromInline @exclusivity(unchecked) var sourceRole: Role
        @usableFromInline @exclusivity(unchecked) var destinationRole: Role
        @usableFromInline @exclusivity(unchecked) var command: RemotingCommand
        @usableFromInline @exclusivity(unchecked) var frameSize: Int
        @usableFromInline @exclusivity(unchecked) var bodyLength: Int
        @usableFromInline @exclusivity(unchecked) var header: TypedHeader?
        @usableFromInline @exclusivity(unchecked) var headerError: String?
        @usableFromInline @exclusivity(unchecked) var body: BodySummary
        @usableFromInline @exclusivity(unchecked) var request: RequestRef?
        @usableFromInline @exclusivity(unchecked) var phase: Phase
        @usableFromInline @exclusivity(unchecked) var client: String?
        @usableFromInline @exclusivity(unchecked) var annotation: String?
        @usableFromInline @exclusivity(unchecked) var account: String?
        @usableFromInline @exclusivity(unchecked) var messageOffsets: [MessageOffset]?
        @usableFromInline @exclusivity(unchecked) var messageTags: [String?]?
        @usableFromInline init(index: Int, time: CaptureTime, connection: Int, source: String, destination: String, sourceRole: Role, destinationRole: Role, command: RemotingCommand, frameSize: Int, bodyLength: Int, header: TypedHeader?, headerError: String?, body: BodySummary, request: RequestRef?, phase: Phase, client: String?, annotation: String?, account: String?, messageOffsets: [MessageOffset]?, messageTags: [String?]?) {
            self.index = index
            self.time = time
            self.connection = connection
            self.source = source
            self.destination = destination
            self.sourceRole = sourceRole
            self.destinationRole = destinationRole
            self.command = command
            self.frameSize = frameSize
            self.bodyLength = bodyLength
            self.header = header
            self.headerError = headerError
            self.body = body
            self.request = request
            self.phase = phase
            self.client = client
            self.annotation = annotation
            self.account = account
            self.messageOffsets = messageOffsets
            self.messageTags = messageTags
        }
        @usableFromInline func copy() -> Storage {
            Storage(index: index, time: time, connection: connection, source: source, destination: destination, sourceRole: sourceRole, destinationRole: destinationRole, command: command, frameSize: frameSize, bodyLength: bodyLength, header: header, headerError: headerError, body: body, request: request, phase: phase, client: client, annotation: annotation, account: account, messageOffsets: messageOffsets, messageTags: messageTags)
        }
    }
    @usableFromInline var storage: Storage

    /// Makes the storage this record's own before a change (copy on write).
    @inlinable mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
    }

    /// 0-based number of this frame among all frames decoded.
    @inlinable public var index: Int {
        _read { yield storage.index }
        _modify { makeUnique(); yield &storage.index }
    }
    @inlinable public var time: CaptureTime {
        _read { yield storage.time }
        _modify { makeUnique(); yield &storage.time }
    }
    /// Connection number (1-based, in order of first appearance).
    @inlinable public var connection: Int {
        _read { yield storage.connection }
        _modify { makeUnique(); yield &storage.connection }
    }
    @inlinable public var source: String {
        _read { yield storage.source }
        _modify { makeUnique(); yield &storage.source }
    }
    @inlinable public var destination: String {
        _read { yield storage.destination }
        _modify { makeUnique(); yield &storage.destination }
    }
    @inlinable public var sourceRole: Role {
        _read { yield storage.sourceRole }
        _modify { makeUnique(); yield &storage.sourceRole }
    }
    @inlinable public var destinationRole: Role {
        _read { yield storage.destinationRole }
        _modify { makeUnique(); yield &storage.destinationRole }
    }
    @inlinable public var command: RemotingCommand {
        _read { yield storage.command }
        _modify { makeUnique(); yield &storage.command }
    }
    @inlinable public var frameSize: Int {
        _read { yield storage.frameSize }
        _modify { makeUnique(); yield &storage.frameSize }
    }
    /// Body bytes of the frame (the body itself is not kept).
    @inlinable public var bodyLength: Int {
        _read { yield storage.bodyLength }
        _modify { makeUnique(); yield &storage.bodyLength }
    }
    @inlinable public var header: TypedHeader? {
        _read { yield storage.header }
        _modify { makeUnique(); yield &storage.header }
    }
    @inlinable public var headerError: String? {
        _read { yield storage.headerError }
        _modify { makeUnique(); yield &storage.headerError }
    }
    @inlinable public var body: BodySummary {
        _read { yield storage.body }
        _modify { makeUnique(); yield &storage.body }
    }
    /// For responses: the request answered (nil when it was not seen). Read with `get`: a read coroutine was not
    /// inlined at the analyzer's call sites and, the value being larger than a coroutine's inline buffer, took a
    /// malloc and a memcpy per read (two per response).
    @inlinable public var request: RequestRef? {
        get { storage.request }
        _modify { makeUnique(); yield &storage.request }
    }
    @inlinable public var phase: Phase {
        _read { yield storage.phase }
        _modify { makeUnique(); yield &storage.phase }
    }
    /// The client this frame belongs to: its clientID when known, else its address.
    @inlinable public var client: String? {
        _read { yield storage.client }
        _modify { makeUnique(); yield &storage.client }
    }
    /// What the analyzer derived from this frame (e.g. the allocation a consumer list implies).
    @inlinable public var annotation: String? {
        _read { yield storage.annotation }
        _modify { makeUnique(); yield &storage.annotation }
    }
    /// The ACL account that signed it (a label in order of appearance: the AccessKey itself is never kept).
    @inlinable public var account: String? {
        _read { yield storage.account }
        _modify { makeUnique(); yield &storage.account }
    }
    /// POP and PEEK answers: the queue and offset of each message (at most `FrameRecord.maxMessageOffsets`).
    @inlinable public var messageOffsets: [MessageOffset]? {
        _read { yield storage.messageOffsets }
        _modify { makeUnique(); yield &storage.messageOffsets }
    }
    public static let maxMessageOffsets = 1024
    /// Pull answers the analyzer asked for (a group whose members subscribe differently): each message's
    /// TAGS property, nil where it has none (at most `maxMessageOffsets`).
    @inlinable public var messageTags: [String?]? {
        _read { yield storage.messageTags }
        _modify { makeUnique(); yield &storage.messageTags }
    }

    /// Never negative: a capture may record an answer before its request (the pair is still made).
    public var latencyNanos: Int64? { request.map { max(0, time.nanoseconds - $0.time.nanoseconds) } }
    /// The request code of the exchange: the frame's own code for requests, the answered request's code for
    /// responses.
    public var requestCode: Int32? { command.isResponse ? request?.code : command.code }
    /// The typed header of the request side of the exchange.
    public var requestHeader: TypedHeader? { command.isResponse ? request?.header : header }

    public init(index: Int, time: CaptureTime, connection: Int, source: String, destination: String, sourceRole: Role, destinationRole: Role, command: RemotingCommand, frameSize: Int, bodyLength: Int, header: TypedHeader? = nil, headerError: String? = nil, body: BodySummary, request: RequestRef? = nil, phase: Phase, client: String? = nil, annotation: String? = nil) {
        storage = Storage(index: index, time: time, connection: connection, source: source, destination: destination, sourceRole: sourceRole, destinationRole: destinationRole, command: command, frameSize: frameSize, bodyLength: bodyLength, header: header, headerError: headerError, body: body, request: request, phase: phase, client: client, annotation: annotation, account: nil, messageOffsets: nil, messageTags: nil)
    }
}

public enum GapKind: String, Sendable {
    /// Bytes lost in the capture (the reassembler skipped them).
    case lostBytes = "lost"
    /// Bytes skipped while looking for the next frame boundary (mid-frame start, after a gap or a bad frame).
    case resync
    /// A frame that failed to decode.
    case badFrame = "bad-frame"
    /// TLS traffic: not decoded.
    case tls
}

public struct GapRecord: Sendable {
    public var time: CaptureTime
    public var connection: Int
    public var source: String
    public var destination: String
    public var kind: GapKind
    public var byteCount: UInt64
    /// Stream offset (bytes from the start of this direction's stream) where it happened.
    public var streamOffset: UInt64
    public var detail: String

    public init(time: CaptureTime, connection: Int, source: String, destination: String, kind: GapKind, byteCount: UInt64, streamOffset: UInt64, detail: String) {
        self.time = time
        self.connection = connection
        self.source = source
        self.destination = destination
        self.kind = kind
        self.byteCount = byteCount
        self.streamOffset = streamOffset
        self.detail = detail
    }
}

/// The event stream shared by `decode` and the live consumer: renderers consume only these.
public enum TraceEvent: Sendable {
    case connectionOpened(id: Int, client: String?, server: String?, time: CaptureTime)
    case connectionClosed(id: Int, reason: String, time: CaptureTime)
    case frame(FrameRecord)
    case gap(GapRecord)
    /// A request that never got an answer by the end of the capture (or of the connection).
    /// `listedAt` is when it is listed (its connection's end): later than the request, so the line is out of
    /// time order and renderers mark it so.
    case unanswered(FrameRecord, reason: String, listedAt: CaptureTime)
    case finding(Finding)
    /// A problem with the input itself (e.g. the capture file ends in the middle of a packet).
    case inputError(String)
}

/// A stored message's place: its queue id and queue offset.
public struct MessageOffset: Hashable, Sendable {
    public var queueId: Int32
    public var offset: Int64
    public init(queueId: Int32, offset: Int64) {
        self.queueId = queueId
        self.offset = offset
    }
}
