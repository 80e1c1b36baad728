import NIOCore
import NIOPosix
import NIOTestUtils
import RMQTraceModel
import RocketMQRemoting
import RocketMQRemotingNIO
import Testing

/// A server handler for the transport tests: echoes requests as SUCCESS responses carrying the request's code
/// in the remark; code 999 makes it send a request of its own to the client and answer with the client's reply.
struct EchoHandler: RemotingRequestHandler {
    let opened = Box<[Int]>([])
    let closed = Box<[String]>([])
    let replies = Box<[RemotingCommand]>([])

    func connectionOpened(_ connection: RemotingConnection) { opened.with { $0.append(connection.id) } }
    func connectionClosed(_ connection: RemotingConnection, reason: String) { closed.with { $0.append(reason) } }

    func received(_ command: RemotingCommand, on connection: RemotingConnection) {
        if command.isResponse {
            replies.with { $0.append(command) }
            return
        }
        if command.isOneway { return }
        if command.code == 999 {
            connection.send(RemotingCommand.request(code: RequestCode.getConsumerRunningInfo, opaque: 5000,
                                                    extFields: ["consumerGroup": "g", "clientId": "c", "jstackEnable": "false"]))
        }
        if command.code == 998 { return }  // never answered
        connection.send(RemotingCommand.response(to: command, code: 0, remark: "code \(command.code)", body: command.body))
    }
}

@Suite(.serialized) struct RemotingNIOTests {
    @Test func sizedDecoderVerifier() throws {
        var frames: [(ByteBuffer, [SizedCommand])] = []
        for i in 0..<3 {
            let cmd = RemotingCommand.request(code: 10 + Int32(i), opaque: Int32(i), extFields: ["k": "v\(i)"],
                                              body: ByteBuffer(bytes: Array(repeating: UInt8(i), count: (i + 1) * 10)))
            frames.append((RemotingFrame.encode(cmd), [SizedCommand(command: cmd, size: RemotingFrame.encode(cmd).readableBytes)]))
        }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: frames, decoderFactory: { SizedFrameDecoder() })
    }

    @Test func correlationOnewaysServerRequestsAndTimeouts() async throws {
        let handler = EchoHandler()
        let obs = CollectingObserver()
        let server = try await RemotingServer.start(configuration: RemotingServerConfiguration(port: 0, role: .broker, observer: obs),
                                                    group: sharedGroup, handler: handler)
        var cfg = RemotingClientConfiguration()
        cfg.onServerRequest = { cmd in
            RemotingCommand.response(to: cmd, code: 0, remark: "client answers \(cmd.code)")
        }
        let client = try await RemotingClient.connect(host: "127.0.0.1", port: server.localPort, group: sharedGroup, configuration: cfg)
        // Concurrent requests, each answered by its own opaque.
        try await withThrowingTaskGroup(of: Void.self) { g in
            for i in 0..<20 {
                g.addTask {
                    let r = try await client.request(RemotingCommand.request(code: Int32(100 + i), opaque: 0), timeout: .seconds(5))
                    #expect(r.remark == "code \(100 + i)")
                }
            }
            try await g.waitForAll()
        }
        try await client.oneway(RemotingCommand.request(code: 15, opaque: 0))
        // The server asks the client; the client's callback answers.
        _ = try await client.request(RemotingCommand.request(code: 999, opaque: 0))
        #expect(await waitUntil { handler.replies.get.count == 1 })
        #expect(handler.replies.get.first?.opaque == 5000 && handler.replies.get.first?.remark == "client answers 307")
        // A request never answered times out.
        await #expect(throws: RemotingClientError.self) {
            _ = try await client.request(RemotingCommand.request(code: 998, opaque: 0), timeout: .milliseconds(100))
        }
        // Pending requests fail when the connection closes.
        let pending = Task { try await client.request(RemotingCommand.request(code: 998, opaque: 0), timeout: .seconds(30)) }
        try await Task.sleep(for: .milliseconds(50))
        await client.close()
        await #expect(throws: RemotingClientError.self) { _ = try await pending.value }
        #expect(await waitUntil { handler.closed.get.count == 1 })
        let frames = obs.events.get.compactMap { if case .frame(let f) = $0 { return f } else { return nil } }
        #expect(frames.contains { $0.command.code == 15 && $0.command.isOneway && $0.direction == .toServer })
        #expect(frames.contains { $0.command.code == RequestCode.getConsumerRunningInfo && $0.direction == .toClient })
        await server.close()
    }

    @Test func frameSizeLimit() async throws {
        let handler = EchoHandler()
        let server = try await RemotingServer.start(configuration: RemotingServerConfiguration(port: 0, maxFrameLength: 4096, role: .broker),
                                                    group: sharedGroup, handler: handler)
        let client = try await RemotingClient.connect(host: "127.0.0.1", port: server.localPort, group: sharedGroup)
        let small = try await client.request(RemotingCommand.request(code: 10, opaque: 0, body: ByteBuffer(bytes: [UInt8](repeating: 1, count: 1000))))
        #expect(small.code == 0)
        await #expect(throws: RemotingClientError.self) {
            _ = try await client.request(RemotingCommand.request(code: 10, opaque: 0, body: ByteBuffer(bytes: [UInt8](repeating: 1, count: 5000))))
        }
        #expect(await waitUntil { handler.closed.get.first?.contains("exceeds the maximum of 4096") == true })
        await server.close()
    }
}
