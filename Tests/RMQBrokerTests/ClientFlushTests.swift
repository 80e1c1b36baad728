import NIOCore
import NIOEmbedded
import RocketMQRemoting
@testable import RocketMQRemotingNIO
import Testing

/// The client's flushes: a request written while the client reads answers (a driver sending its next request as
/// soon as one is answered) waits for the end of the read burst, so the requests set off by the answers of one
/// read leave in one socket write; a request written outside a burst is flushed at once.
@Suite struct ClientFlushTests {
    func request(_ opaque: Int32) -> RemotingCommand {
        var c = RemotingCommand.request(code: RequestCode.pullMessage, opaque: opaque)
        c.opaque = opaque
        return c
    }
    func answer(_ opaque: Int32) -> NIOAny {
        NIOAny(SizedCommand(command: RemotingCommand.response(to: request(opaque), code: ResponseCode.pullNotFound), size: 30))
    }

    @Test func requestsSetOffByTheAnswersOfOneReadLeaveInOneFlush() throws {
        let channel = EmbeddedChannel()
        let handler = ClientHandler(reporter: ConnectionReporter(observer: nil, id: 1),
                                    config: RemotingClientConfiguration())
        try channel.pipeline.syncOperations.addHandler(handler)
        func send(_ opaque: Int32) -> EventLoopFuture<RemotingCommand> {
            let p = channel.eventLoop.makePromise(of: RemotingCommand.self)
            handler.register(request(opaque), promise: p, timeout: .seconds(30), channel: channel)
            return p.futureResult
        }
        // Outside a read burst: each request is flushed as it is written.
        let first = send(1)
        #expect(try channel.readOutbound(as: RemotingCommand.self)?.opaque == 1)
        let second = send(2)
        #expect(try channel.readOutbound(as: RemotingCommand.self)?.opaque == 2)
        // Each answer sets off the next request, as a pulling consumer or a chain of sends does.
        var thirdAndFourth: [EventLoopFuture<RemotingCommand>] = []
        first.whenSuccess { _ in thirdAndFourth.append(send(3)) }
        second.whenSuccess { _ in thirdAndFourth.append(send(4)) }
        // Two answers in one read: nothing leaves until the burst ends, then both requests, in order.
        channel.pipeline.fireChannelRead(answer(1))
        channel.pipeline.fireChannelRead(answer(2))
        #expect(thirdAndFourth.count == 2)
        #expect(try channel.readOutbound(as: RemotingCommand.self) == nil)
        channel.pipeline.fireChannelReadComplete()
        #expect(try channel.readOutbound(as: RemotingCommand.self)?.opaque == 3)
        #expect(try channel.readOutbound(as: RemotingCommand.self)?.opaque == 4)
        #expect(try channel.readOutbound(as: RemotingCommand.self) == nil)
        // After the burst, a request is flushed at once again.
        _ = send(5)
        #expect(try channel.readOutbound(as: RemotingCommand.self)?.opaque == 5)
        _ = try channel.finish(acceptAlreadyClosed: true)
    }
}
