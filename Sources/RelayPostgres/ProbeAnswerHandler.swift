import NIOCore

/// Completes a probe when the probed node answers (any frame), fails it when the link closes.
final class ProbeAnswerHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    let answer: EventLoopPromise<Void>

    init(answer: EventLoopPromise<Void>) {
        self.answer = answer
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.answer.succeed(())
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.answer.fail(ChannelError.ioOnClosedChannel)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.answer.fail(error)
        context.close(promise: nil)
    }
}
