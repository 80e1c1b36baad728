import NIOCore
import RocketMQRemoting

extension RemotingClient {
    /// `request` without `async`: the request is registered and written in call order (at once when called on
    /// the channel's event loop), and the future completes with the answer or fails on timeout or close. For
    /// drivers that keep their state on one event loop and need their writes in the order they decided them.
    public func requestFuture(_ command: RemotingCommand, timeout: TimeAmount? = nil) -> EventLoopFuture<RemotingCommand> {
        var cmd = command
        cmd.opaque = makeOpaque()
        cmd.flag &= ~RemotingCommand.onewayFlag
        let promise = channel.eventLoop.makePromise(of: RemotingCommand.self)
        let t = timeout ?? configuration.defaultTimeout
        let handler = self.handler
        let channel = self.channel
        let sendable = cmd
        if channel.eventLoop.inEventLoop {
            handler.register(sendable, promise: promise, timeout: t, channel: channel)
        } else {
            channel.eventLoop.execute { handler.register(sendable, promise: promise, timeout: t, channel: channel) }
        }
        return promise.futureResult
    }

    /// `oneway` without `async`: written in call order.
    @discardableResult
    public func onewayFuture(_ command: RemotingCommand) -> EventLoopFuture<Void> {
        var cmd = command
        cmd.opaque = makeOpaque()
        cmd.flag |= RemotingCommand.onewayFlag
        return channel.writeAndFlush(cmd)
    }

    /// Writes a command as it is (an answer to a server's request: opaque and response flag already set).
    @discardableResult
    public func writeCommand(_ command: RemotingCommand) -> EventLoopFuture<Void> {
        channel.writeAndFlush(command)
    }
}
