import Hummingbird
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Per-connection limits Hummingbird does not apply itself, between the HTTP codec and the
/// request handling:
///
/// - a deadline for reading each request: from the connection's start, or the end of the
///   previous response, to the request's last byte. A client that trickles its head or body
///   (slowloris) or holds an idle connection open is disconnected when it passes. The deadline
///   stops once the request is read, so long operations (a ring rotation) are not cut.
/// - a request head over the configured size is answered 431, not Hummingbird's bare 400.
/// - the end of each response is announced to ``ListMethodRewriter``, which then looks at the
///   next request line.
final class ConnectionLimitsHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let readTimeout: TimeAmount
    private var deadline: Scheduled<Void>?

    init(readTimeout: Duration) {
        self.readTimeout = .nanoseconds(
            readTimeout.components.seconds * 1_000_000_000 + readTimeout.components.attoseconds / 1_000_000_000)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { startDeadline(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        startDeadline(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelDeadline()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelDeadline()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .end = unwrapInboundIn(data) { cancelDeadline() }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            startDeadline(context)
            context.triggerUserOutboundEvent(ListMethod.ResponseComplete(), promise: nil)
        }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError, parserError == .headerOverflow else {
            context.fireErrorCaught(error)
            return
        }
        // The decoder stops after an error, so this connection carries no further request:
        // answer and close it ourselves rather than letting the error reach Hummingbird.
        cancelDeadline()
        let body = #"{"errors":["the request head (request line and headers) is too large"],"code":"bad-request"}"#
        var head = HTTPResponse(status: .requestHeaderFieldsTooLarge)
        head.headerFields[.contentType] = "application/json"
        head.headerFields[.contentLength] = String(body.utf8.count)
        head.headerFields[.connection] = "close"
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(context.channel.allocator.buffer(string: body))), promise: nil)
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in loopBound.value.close(promise: nil) }
    }

    private func startDeadline(_ context: ChannelHandlerContext) {
        cancelDeadline()
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        deadline = context.eventLoop.scheduleTask(in: readTimeout) {
            loopBound.value.close(promise: nil)
        }
    }

    private func cancelDeadline() {
        deadline?.cancel()
        deadline = nil
    }
}
