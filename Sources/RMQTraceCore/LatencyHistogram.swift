/// Latency percentiles in bounded memory: log-linear buckets over microseconds (64 sub-buckets per power of
/// two, under 1.6 % relative error), whatever the number of samples.
public struct LatencyHistogram: Sendable {
    private var counts: [Int] = []
    public private(set) var count = 0
    public private(set) var maxNanos: Int64 = 0
    public private(set) var sumNanos: Int64 = 0

    public init() {}

    static func bucket(_ micros: Int64) -> Int {
        if micros < 64 { return Int(max(0, micros)) }
        let e = (64 - micros.leadingZeroBitCount) - 6
        return e * 64 + Int(micros >> Int64(e))
    }
    static func value(_ bucket: Int) -> Int64 {
        if bucket < 64 { return Int64(bucket) }
        let e = bucket / 64
        let m = Int64(bucket % 64)
        return m << Int64(e)
    }

    public mutating func add(nanos: Int64) {
        let b = Self.bucket(max(0, nanos) / 1000)
        if b >= counts.count { counts += [Int](repeating: 0, count: b + 1 - counts.count) }
        counts[b] += 1
        count += 1
        maxNanos = max(maxNanos, nanos)
        sumNanos &+= nanos
    }

    /// The latency at quantile q (0...1), in nanoseconds (bucket lower bound).
    public func quantile(_ q: Double) -> Int64 {
        guard count > 0 else { return 0 }
        let rank = max(1, Int((q * Double(count)).rounded(.up)))
        var seen = 0
        for (i, c) in counts.enumerated() where c > 0 {
            seen += c
            if seen >= rank { return min(Self.value(i) * 1000, maxNanos) }
        }
        return maxNanos
    }
}
