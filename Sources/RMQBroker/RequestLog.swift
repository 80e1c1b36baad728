import RMQTraceModel
import RocketMQRemoting

/// Time and JSON text for the command-line tools' own log lines (the broker's and the consumer's log handlers).
/// Their request logs go through the shared renderers (`LiveTraceLog`).
public enum RequestLogObserverTime {
    public static func seconds(_ t: CaptureTime) -> String { LogText.seconds(t) }
    public static func clock(_ t: CaptureTime) -> String { LogText.time(t) }
    public static func quote(_ s: String) -> String { LogText.q(s) }
}

enum LogText {
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
