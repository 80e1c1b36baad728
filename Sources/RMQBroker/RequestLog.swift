import NIOConcurrencyHelpers
import RMQTraceModel
import RocketMQRemoting

/// `--log-requests`: one line per observed event (connection opened/closed, every frame in and out). A
/// stand-in until these go through the shared renderers.
public final class RequestLogObserver: FrameObserver {
    public enum Format: String, Sendable { case text, ndjson }
    let format: Format
    let write: @Sendable (String) -> Void
    let roles = NIOLockedValueBox<[Int: (client: Endpoint, server: Endpoint, role: Role?)]>([:])

    public init(format: Format, write: @escaping @Sendable (String) -> Void) {
        self.format = format
        self.write = write
    }

    public func observe(_ event: ObservedEvent) {
        switch event {
        case .opened(let c):
            roles.withLockedValue { $0[c.id] = (c.client, c.server, c.serverRole) }
            let role = c.serverRole?.rawValue ?? "unknown"
            if format == .text {
                write("\(Self.time(c.time)) #\(c.id) -- open \(c.client) -> \(role) \(c.server)")
            } else {
                write("{\"event\":\"connection\",\"action\":\"open\",\"ts\":\(Self.seconds(c.time)),\"conn\":\(c.id),\"client\":\(Self.q(c.client.description)),\"server\":\(Self.q(c.server.description)),\"server_role\":\(Self.q(role))}")
            }
        case .closed(let id, let reason, let time):
            roles.withLockedValue { $0[id] = nil }
            if format == .text {
                write("\(Self.time(time)) #\(id) -- closed: \(reason)")
            } else {
                write("{\"event\":\"connection\",\"action\":\"close\",\"ts\":\(Self.seconds(time)),\"conn\":\(id),\"reason\":\(Self.q(reason))}")
            }
        case .frame(let f):
            write(line(f))
        case .gap, .rawFrame:
            break
        }
    }

    func line(_ f: ObservedFrame) -> String {
        let c = f.command
        let fields = (c.extFields ?? ExtFields()).redacted()
        let arrow = f.direction == .toServer ? "->" : "<-"
        if format == .text {
            var s = "\(Self.time(f.time)) #\(f.connection) \(arrow) \(c.kind.rawValue) \(c.codeName)(\(c.code)) opaque=\(c.opaque)"
            for e in fields.entries {
                var v = e.value
                if v.count > 80 { v = String(v.prefix(77)) + "..." }
                v = v.replacingControlCharacters()
                s += " \(e.key)=\(v)"
            }
            if let r = c.remark { s += " remark=\"\(String(r.prefix(100)).replacingControlCharacters())\"" }
            if c.bodyLength > 0 { s += " body=\(c.bodyLength)B" }
            return s
        }
        let fieldsJSON = "{" + fields.entries.map { "\(Self.q($0.key)):\(Self.q($0.value))" }.joined(separator: ",") + "}"
        return "{\"event\":\"frame\",\"ts\":\(Self.seconds(f.time)),\"conn\":\(f.connection),\"direction\":\(Self.q(f.direction.rawValue)),\"type\":\(Self.q(c.kind.rawValue)),\"code\":\(c.code),\"name\":\(Self.q(c.codeName)),\"opaque\":\(c.opaque),\"fields\":\(fieldsJSON),\"remark\":\(c.remark.map(Self.q) ?? "null"),\"body_len\":\(c.bodyLength),\"frame_len\":\(f.size)}"
    }

    static func q(_ s: String) -> String {
        var out: [UInt8] = []
        JSONWriter.writeString(s, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    static func seconds(_ t: CaptureTime) -> String {
        let us = t.nanoseconds / 1000
        let frac = String(us % 1_000_000)
        return "\(us / 1_000_000).\(String(repeating: "0", count: 6 - frac.count))\(frac)"
    }

    /// HH:MM:SS.micro, UTC.
    static func time(_ t: CaptureTime) -> String {
        let us = t.nanoseconds / 1000
        let secOfDay = (us / 1_000_000) % 86_400
        func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let frac = String(us % 1_000_000)
        return "\(two(secOfDay / 3600)):\(two((secOfDay / 60) % 60)):\(two(secOfDay % 60)).\(String(repeating: "0", count: 6 - frac.count))\(frac)"
    }
}

extension String {
    func replacingControlCharacters() -> String {
        var out = ""
        for u in unicodeScalars {
            if u.value < 0x20 { out += "\\u{\(String(u.value, radix: 16))}" } else { out.unicodeScalars.append(u) }
        }
        return out
    }
}

/// The time and JSON helpers of the request log, for the command's log handler.
public enum RequestLogObserverTime {
    public static func seconds(_ t: CaptureTime) -> String { RequestLogObserver.seconds(t) }
    public static func clock(_ t: CaptureTime) -> String { RequestLogObserver.time(t) }
    public static func quote(_ s: String) -> String { RequestLogObserver.q(s) }
}
