/// The start-offset decision of PROTOCOL.md 7.4 (`RebalancePushImpl.computePullFromWhereWithException`) as a
/// pure function, one step at a time.
public enum StartOffset {
    /// What `readOffset(mq, READ_FROM_STORE)` found: QUERY_CONSUMER_OFFSET (clustering) or the local store
    /// (broadcasting).
    public enum StoredOffset: Hashable, Sendable {
        /// SUCCESS with an offset ≥ 0.
        case found(Int64)
        /// QUERY_NOT_FOUND (Java's −1): the group has no offset for the queue.
        case notFound
        /// Any other failure (Java's −2): timeout, connection lost, another error code.
        case failed(String)
    }

    /// The next step after the stored-offset lookup.
    public enum Step: Hashable, Sendable {
        /// Start at this offset.
        case use(Int64)
        /// Ask the queue's master for its max offset (GET_MAX_OFFSET) and start there.
        case getMaxOffset
        /// Ask the queue's master for the offset of this time (SEARCH_OFFSET_BY_TIMESTAMP) and start there.
        case searchOffset(timestampMillis: Int64)
        /// The queue is not added this round (it is tried again at the next rebalance).
        case notAdded(String)
    }

    /// The table of 7.4: rows by `consumeFrom`, columns by what the lookup found.
    public static func step(after stored: StoredOffset, consumeFrom: ConsumeFrom, isRetryTopic: Bool,
                            utcOffsetSeconds: Int = 0) -> Step {
        switch stored {
        case .found(let offset):
            return .use(offset)
        case .failed(let why):
            return .notAdded(why)
        case .notFound:
            switch consumeFrom {
            case .lastOffset:
                return isRetryTopic ? .use(0) : .getMaxOffset
            case .firstOffset:
                return .use(0)
            case .timestamp(let text):
                if isRetryTopic { return .getMaxOffset }
                guard let ms = ConsumeTimestamp.parse(text, utcOffsetSeconds: utcOffsetSeconds) else {
                    return .notAdded("consumeTimestamp \"\(text)\" is not yyyyMMddHHmmss")
                }
                return .searchOffset(timestampMillis: ms)
            }
        }
    }
}
