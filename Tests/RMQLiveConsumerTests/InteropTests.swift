import Foundation
import RMQConsumer
import RMQLiveConsumer
import RocketMQRemoting
import Testing

// Apache RocketMQ's C++ PushConsumer (the interop driver of the interop branch: librocketmq through PyPI's
// rocketmq 0.4.4 binding) and ours in one group on the embedded broker. Skipped where the venv is absent
// (`scripts/interop-venv.sh` makes it; .ci/run does; INTEROP_ROOT points elsewhere).

let interopRoot = ProcessInfo.processInfo.environment["INTEROP_ROOT"] ?? packageRoot.path
let interopPython = interopRoot + "/.venv-interop/bin/python"
let interopDriver = interopRoot + "/Tests/Interop/cpp_client.py"
let interopAvailable = FileManager.default.isExecutableFile(atPath: interopPython) && FileManager.default.fileExists(atPath: interopDriver)

@Test(.enabled(if: interopAvailable, "needs the C++ client driver (\(interopDriver)) and its venv"))
func theCppPushConsumerAndOursShareOneGroup() async throws {
    let broker = try await startBroker()
    let seen = Deliveries()
    let ours = LiveConsumer(configuration: consumerConfiguration(nameServer: broker.nameServerAddress, topic: "T", group: "gcpp", instance: "swift"),
                            group: testGroup, listener: seen.listener("swift"))
    try await ours.start()
    let home = NSTemporaryDirectory() + "rmq-cpp-home-\(getpid())"
    let cpp = Process()
    cpp.executableURL = URL(fileURLWithPath: interopPython)
    cpp.arguments = [interopDriver, "consume-for", "9", "--namesrv", broker.nameServerAddress, "--topic", "T", "--group", "gcpp",
                     "--instance", "cpp", "--print-messages"]
    var env = ProcessInfo.processInfo.environment
    env["RMQ_CPP_HOME"] = home
    cpp.environment = env
    let outPath = NSTemporaryDirectory() + "rmq-cpp-\(getpid()).out"
    defer {
        try? FileManager.default.removeItem(atPath: outPath)
        try? FileManager.default.removeItem(atPath: home)
    }
    FileManager.default.createFile(atPath: outPath, contents: nil)
    cpp.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
    cpp.standardError = FileHandle.nullDevice
    try cpp.run()
    defer { if cpp.isRunning { cpp.terminate() } }
    // The C++ client joins: the broker notifies us, and we keep two of the four queues.
    let mine: @Sendable () async -> [Int32] = { await ours.withMachine { m in m.assignedQueues.filter { $0.topic == "T" }.map(\.queueId) } }
    #expect(await eventually(8) { await mine().count == 2 })
    let shared = await mine()
    _ = try await produce(broker, count: 400)
    // Wait for the C++ client to end (consume-for 9 s), then for us to take its queues back and read the rest.
    _ = await eventually(20) { !cpp.isRunning }
    #expect(cpp.terminationStatus == 0)
    let text = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
    var cppIDs: [String] = []
    var cppQueues: Set<Int32> = []
    for line in text.split(separator: "\n") where line.hasPrefix("{\"msg\"") {
        guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let msg = obj["msg"] as? [String: Any], let id = msg["id"] as? String else { continue }
        cppIDs.append(id)
        if let q = msg["queueId"] as? Int { cppQueues.insert(Int32(q)) }
    }
    let cppSet = Set(cppIDs)
    #expect(await eventually(10) { cppSet.union(seen.distinct).count >= 400 })
    try? await Task.sleep(for: .milliseconds(300))
    #expect(await ours.shutdown().isClean)
    let oursIDs = seen.distinct
    // While both ran, each took two queues: the C++ client only the ones we did not have.
    #expect(!cppIDs.isEmpty)
    #expect(cppQueues.isDisjoint(with: Set(shared)), "C++ queues \(cppQueues.sorted()), ours \(shared)")
    #expect(Set(cppIDs).union(oursIDs).count == 400)
    let twice = Set(cppIDs).intersection(oursIDs).count
    print("C++ consumer: \(cppIDs.count) deliveries on queues \(cppQueues.sorted()); ours: \(seen.count) on \(shared) (then all four); read by both: \(twice)")
    #expect(committed(broker, group: "gcpp") == maxOffsets(broker))
    await broker.shutdown()
}
