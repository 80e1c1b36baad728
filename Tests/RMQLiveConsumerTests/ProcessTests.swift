import Foundation
import NIOPosix
import RMQConsumer
import RMQLiveConsumer
import RocketMQRemoting
import Testing

// The built rmq-trace binary: `consume` processes against an `rmq-trace broker` process, stopped with SIGINT or
// killed with SIGKILL in the middle of a backlog.

let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let binary = packageRoot.appendingPathComponent(".build/debug/rmq-trace").path

final class Spawned: @unchecked Sendable {
    let process = Process()
    let stdoutPath: String
    let stderrPath: String

    let dir: String

    init(_ args: [String], name: String) throws {
        dir = NSTemporaryDirectory() + "rmq-proc-\(getpid())-\(name)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        stdoutPath = dir + "/\(name).out"
        stderrPath = dir + "/\(name).err"
        FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = args
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        try process.run()
    }

    /// Its output files go with it (a process still running keeps writing to the unlinked files).
    deinit {
        try? FileManager.default.removeItem(atPath: dir)
    }

    var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    func signal(_ s: Int32) { kill(process.processIdentifier, s) }

    func wait(seconds: Double = 20) async -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning { signal(SIGKILL); process.waitUntilExit(); return nil }
        return process.terminationStatus
    }
}

/// Consumed (queue id, offset) pairs from `--print-messages` lines: `MSG T T@broker-a#2@17 … => CONSUME_SUCCESS`.
func consumedOffsets(_ text: String) -> [Int32: [Int64]] {
    var out: [Int32: [Int64]] = [:]
    for line in text.split(separator: "\n") where line.hasPrefix("MSG ") && line.contains("=> CONSUME_SUCCESS") {
        let fields = line.split(separator: " ")
        guard fields.count > 2 else { continue }
        let where_ = fields[2]  // T@broker-a#2@17
        let parts = where_.split(separator: "@")
        guard parts.count == 3, let hash = parts[1].lastIndex(of: "#"), let q = Int32(parts[1][parts[1].index(after: hash)...]),
              let o = Int64(parts[2]) else { continue }
        out[q, default: []].append(o)
    }
    return out
}

@Suite(.serialized) struct ProcessTests {
    struct Setup {
        var broker: Spawned
        var nameServer: String
        var perQueue: [Int32: Int64]
    }

    func startBrokerProcess(messages: Int) async throws -> Setup {
        // One event loop for the name server and the broker (the in-process tests run them on several).
        let broker = try Spawned(["broker", "--namesrv-port", "0", "--broker-port", "0", "--topic", "T", "--loop-threads", "1"],
                                 name: "broker-\(UUID().uuidString.prefix(8))")
        var ns: String?
        for _ in 0..<250 {
            if let line = broker.stderr.split(separator: "\n").first(where: { $0.contains("name server listening on") }) {
                ns = String(line.split(separator: " ").last!)
                break
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        guard let ns else { broker.signal(SIGKILL); throw ProducerError(description: "the broker process did not start: \(broker.stderr)") }
        let p = try await SimpleProducer.connect(nameServer: ns, topic: "T", on: testGroup.next())
        let produced = try await p.produce(count: messages, batchSize: 50)
        await p.close()
        var perQueue: [Int32: Int64] = [:]
        for (q, n) in produced { perQueue[q.queueId] = Int64(n) }
        return Setup(broker: broker, nameServer: ns, perQueue: perQueue)
    }

    func consume(_ ns: String, instance: String, slow: Bool, name: String) throws -> Spawned {
        var args = ["consume", "--namesrv", ns, "--topic", "T", "--group", "gproc", "--from", "first", "--instance", instance,
                    "--print-messages", "--format", "summary", "--persist-interval", "0.5", "--duration", "30"]
        if slow { args += ["--work-ms", "5", "--threads", "2", "--pull-threshold-for-queue", "40"] }
        return try Spawned(args, name: name)
    }

    func waitFor(_ p: Spawned, atLeast n: Int, seconds: Double = 15) async -> Bool {
        await eventually(seconds) { consumedOffsets(p.stdout).values.reduce(0) { $0 + $1.count } >= n }
    }

    /// The secret key read from --secret-key-file signs every request (the Signature field on the wire) and
    /// appears nowhere in the output; an --access-key without any secret key is refused before starting.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: binary), "needs the built rmq-trace (swift build)"))
    func secretKeyFromAFileSigns() async throws {
        let s = try await startBrokerProcess(messages: 20)
        let keyFile = NSTemporaryDirectory() + "rmq-secret-\(getpid())"
        try "s3cretFromFile\n".write(toFile: keyFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: keyFile) }
        let signed = try Spawned(["consume", "--namesrv", s.nameServer, "--topic", "T", "--group", "gacl", "--from", "first",
                                  "--access-key", "AK1", "--secret-key-file", keyFile, "--max-messages", "20", "--format", "ndjson",
                                  "--duration", "20"], name: "acl-\(getpid())")
        #expect(await signed.wait() == 0, "\(signed.stderr)")
        let out = signed.stdout + signed.stderr
        #expect(out.contains("\"Signature\":\"<redacted 28 bytes>\""), "\(out.prefix(2000))")
        #expect(out.contains("\"consumed\":20"))
        #expect(!out.contains("s3cretFromFile"))
        let unsigned = try Spawned(["consume", "--namesrv", s.nameServer, "--topic", "T", "--group", "gacl2", "--access-key", "AK1"],
                                   name: "acl-missing-\(getpid())")
        #expect(await unsigned.wait() != 0)
        #expect(unsigned.stderr.contains("give both --access-key and a secret key"), "\(unsigned.stderr)")
        s.broker.signal(SIGTERM)
        _ = await s.broker.wait()
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: binary), "needs the built rmq-trace (swift build)"))
    func sigintInTheMiddleLosesNothing() async throws {
        let s = try await startBrokerProcess(messages: 2000)
        defer { s.broker.signal(SIGTERM) }
        let first = try consume(s.nameServer, instance: "first", slow: true, name: "sigint-first")
        #expect(await waitFor(first, atLeast: 300))
        first.signal(SIGINT)
        #expect(await first.wait() == 0, "\(first.stderr)")
        #expect(first.stdout.contains("shutdown: clean"))
        let a = consumedOffsets(first.stdout)
        let total = a.values.reduce(0) { $0 + $1.count }
        #expect(total < 2000, "SIGINT came after everything was consumed")
        let second = try consume(s.nameServer, instance: "second", slow: false, name: "sigint-second")
        #expect(await waitFor(second, atLeast: 2000 - total))
        try await Task.sleep(for: .milliseconds(300))
        second.signal(SIGINT)
        #expect(await second.wait() == 0)
        let b = consumedOffsets(second.stdout)
        for q in Int32(0)..<4 {
            let x = (a[q] ?? []).sorted(), y = (b[q] ?? []).sorted()
            let cut = Int64(x.count)
            // The first consumed exactly [0, cut) and committed cut; the second started there: no gap, no duplicate.
            #expect(x == Array(0..<cut), "queue \(q) first")
            #expect(y == Array(cut..<(s.perQueue[q] ?? 0)), "queue \(q) second")
        }
        s.broker.signal(SIGTERM)
        _ = await s.broker.wait()
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: binary), "needs the built rmq-trace (swift build)"))
    func killInTheMiddleRedeliversOnlyWhatWasUncommitted() async throws {
        let s = try await startBrokerProcess(messages: 2000)
        defer { s.broker.signal(SIGTERM) }
        let first = try consume(s.nameServer, instance: "first", slow: true, name: "kill-first")
        #expect(await waitFor(first, atLeast: 600))
        first.signal(SIGKILL)
        _ = await first.wait()
        let a = consumedOffsets(first.stdout)
        let total = a.values.reduce(0) { $0 + $1.count }
        let second = try consume(s.nameServer, instance: "second", slow: false, name: "kill-second")
        // The second gets everything from the last commit on.
        #expect(await eventually(15) {
            let b = consumedOffsets(second.stdout)
            return (0..<4).allSatisfy { q in (b[Int32(q)] ?? []).contains((s.perQueue[Int32(q)] ?? 0) - 1) }
        })
        try await Task.sleep(for: .milliseconds(300))
        second.signal(SIGINT)
        #expect(await second.wait() == 0)
        let b = consumedOffsets(second.stdout)
        var redelivered = 0
        for q in Int32(0)..<4 {
            let x = (a[q] ?? []).sorted(), y = (b[q] ?? []).sorted()
            let end = s.perQueue[q] ?? 0
            guard let start = y.first else { Issue.record("queue \(q): nothing consumed by the second"); continue }
            // The second starts at the committed offset and reads to the end without gap or duplicate.
            #expect(y == Array(start..<end), "queue \(q) second")
            // The first consumed [0, k) (contiguous up to what it finished; in-flight ones may be missing at the top).
            #expect(start <= Int64(x.count), "queue \(q): the commit was beyond what the first consumed")
            #expect(Set(x).union(y) == Set(0..<end), "queue \(q): a message was lost")
            redelivered += Set(x).intersection(y).count
        }
        // What was redelivered is what the first consumed after its last commit: fewer than what it consumed.
        print("kill -9 after \(total) consumed: \(redelivered) redelivered (consumed after the last commit)")
        #expect(redelivered < total)
        s.broker.signal(SIGTERM)
        _ = await s.broker.wait()
    }
}

/// `rmq-trace demo`: the two-consumer story ends with every message consumed once and committed.
@Test(.enabled(if: FileManager.default.fileExists(atPath: binary), "needs the built rmq-trace (swift build)"))
func theDemoConsumesEverythingOnce() async throws {
    let demo = try Spawned(["demo", "--format", "summary"], name: "demo-\(getpid())")
    #expect(await demo.wait(seconds: 30) == 0, "\(demo.stderr)")
    let out = demo.stdout
    #expect(out.contains("demo: 300 produced, 300 distinct consumed, 3 redelivered through %RETRY%demo_group, 0 duplicates; the broker holds 300 committed for DemoTopic"), "\(out.suffix(600))")
    #expect(out.components(separatedBy: "shutdown: clean").count == 3)
}
