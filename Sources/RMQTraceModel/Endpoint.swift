/// Addresses and time: the vocabulary every source of observed frames shares (a capture, the live
/// consumer, the embedded broker).

/// An IP address as captured: IPv4 or IPv6, kept as raw bytes.
public enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    case v4(UInt32)
    case v6(UInt64, UInt64)  // high and low 64 bits, network order

    public var description: String {
        switch self {
        case .v4(let a):
            return "\(a >> 24).\((a >> 16) & 0xff).\((a >> 8) & 0xff).\(a & 0xff)"
        case .v6(let hi, let lo):
            var groups: [UInt16] = []
            for shift in stride(from: 48, through: 0, by: -16) { groups.append(UInt16((hi >> UInt64(shift)) & 0xffff)) }
            for shift in stride(from: 48, through: 0, by: -16) { groups.append(UInt16((lo >> UInt64(shift)) & 0xffff)) }
            // RFC 5952: compress the longest run (length >= 2) of zero groups.
            var bestStart = -1, bestLen = 0, i = 0
            while i < 8 {
                if groups[i] == 0 {
                    var j = i
                    while j < 8 && groups[j] == 0 { j += 1 }
                    if j - i > bestLen && j - i >= 2 { bestStart = i; bestLen = j - i }
                    i = j
                } else { i += 1 }
            }
            func hex(_ r: ArraySlice<UInt16>) -> String { r.map { String($0, radix: 16) }.joined(separator: ":") }
            if bestStart < 0 { return hex(groups[0..<8]) }
            return hex(groups[0..<bestStart]) + "::" + hex(groups[(bestStart + bestLen)..<8])
        }
    }
}

/// One end of a TCP connection. Printed as `ip:port`, IPv6 as `[ip]:port`.
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    public var address: IPAddress
    public var port: UInt16
    public init(address: IPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }
    public var description: String {
        switch address {
        case .v4: return "\(address):\(port)"
        case .v6: return "[\(address)]:\(port)"
        }
    }
}

/// Capture time in nanoseconds since the Unix epoch.
public struct CaptureTime: Hashable, Comparable, Sendable {
    public var nanoseconds: Int64
    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }
    public init(seconds: Int64, microseconds: Int64) { self.nanoseconds = seconds * 1_000_000_000 + microseconds * 1000 }
    public var seconds: Double { Double(nanoseconds) / 1e9 }
    public static func < (a: CaptureTime, b: CaptureTime) -> Bool { a.nanoseconds < b.nanoseconds }
}

extension Dictionary {
    /// Runs `body` on the value of `key` in place, nil when the key is absent. Through `values[index]` (its
    /// `_modify` yields the stored value itself): the optional-chained `dict[key]?.mutate()` copied the whole
    /// value on write-back (Swift 6.3), a retain and a release per reference it holds, once per packet or
    /// frame for the connection tables of the capture decoder and the exchange tracker. Inlinable: the
    /// modules that call it are others, and without its body there they called it unspecialized, through
    /// the dictionary's generic witnesses (about 800 instructions a call, with the Optional's destruction).
    @inlinable @inline(__always)
    package mutating func modifyValue<R>(forKey key: Key, _ body: (inout Value) throws -> R) rethrows -> R? {
        guard let i = index(forKey: key) else { return nil }
        return try body(&values[i])
    }
}

extension Array {
    /// `removeAll(keepingCapacity: true)` for the scratch arrays the pipeline refills per packet or frame (most
    /// hold one element): the standard call goes through the generic `replaceSubrange`, about 400 instructions
    /// for one element; popping costs a tenth of that.
    @inlinable @inline(__always)
    package mutating func clearKeepingCapacity() {
        while !isEmpty { removeLast() }
    }

    /// Hands each element to `body`, first to last, moved out of the array, which is left empty with its capacity:
    /// for the same scratch arrays, where iterating would copy each element and clearing then destroy it.
    @inlinable @inline(__always)
    package mutating func removeEachInOrder(_ body: (Element) -> Void) {
        reverse()
        while let e = popLast() { body(e) }
    }
}

/// A table keyed by connection id, for the per-frame lookups of the exchange tracker and the analyzer. Connection
/// ids are numbers the sources hand out in sequence (the capture's connection table, the live consumer, the
/// broker), never values read from the input, so they are hashed with one multiply (`ConnectionNumber`) rather
/// than SipHash: about 100 instructions saved per lookup, and nothing a capture holds can make ids collide.
package typealias ConnectionMap<Value> = [ConnectionNumber: Value]

extension Dictionary where Key == ConnectionNumber {
    /// The ids, in no order.
    @inlinable package var ids: [Int] { keys.map(\.id) }

    @inlinable package subscript(_ id: Int) -> Value? {
        get { self[ConnectionNumber(id)] }
        _modify { yield &self[ConnectionNumber(id)] }
    }

    @inlinable package subscript(_ id: Int, default value: @autoclosure () -> Value) -> Value {
        get { self[ConnectionNumber(id), default: value()] }
        _modify { yield &self[ConnectionNumber(id), default: value()] }
    }

    @inlinable @inline(__always)
    package mutating func modifyValue<R>(forKey id: Int, _ body: (inout Value) throws -> R) rethrows -> R? {
        try modifyValue(forKey: ConnectionNumber(id), body)
    }

    @inlinable @discardableResult
    package mutating func removeValue(forKey id: Int) -> Value? { removeValue(forKey: ConnectionNumber(id)) }
}

/// A connection id as a dictionary key (`ConnectionMap`): hashed by a multiply with the table's seed mixed in.
@usableFromInline package struct ConnectionNumber: Hashable, Sendable {
    @usableFromInline package let id: Int
    @inlinable package init(_ id: Int) { self.id = id }
    @inlinable package func hash(into hasher: inout Hasher) { hasher.combine(id) }
    @inlinable package func _rawHashValue(seed: Int) -> Int {
        // Fibonacci hashing: the product's high half, where every bit of the id counts.
        let x = UInt64(truncatingIfNeeded: id ^ seed) &* 0x9E37_79B9_7F4A_7C15
        return Int(truncatingIfNeeded: x >> 32 ^ x)
    }
}
