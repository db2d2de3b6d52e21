import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

/// Vault's LIST verb, which NIO's HTTP parser (llhttp) does not know and would answer with a
/// bare 400. `vault list` and hvac send it, so it is rewritten before the parser sees it:
///
///     LIST /v1/transit/keys HTTP/1.1          GET /v1/transit/keys HTTP/1.1
///     Host: …                           →     X-Keyshard-Method: LIST
///                                             Host: …
///
/// The router then serves `GET` with the marker as LIST (Vault itself maps LIST to a GET with
/// `list=true`). Only the first request line after the previous response is inspected, so a
/// client that pipelines a LIST behind another request gets the 400; Vault clients do not
/// pipeline.
enum ListMethod {
    /// The header that carries the original method.
    static let markerName = "X-Keyshard-Method"

    /// Whether `request` was sent as LIST.
    static func isList(_ request: Request) -> Bool {
        request.method == .get
            && request.headers.contains { $0.name.canonicalName == "x-keyshard-method" && $0.value == "LIST" }
    }

    /// The method to show in audit records and messages.
    static func method(of request: Request) -> String {
        isList(request) ? "LIST" : request.method.rawValue
    }

    /// Told by ``ConnectionLimitsHandler`` (as an outbound user event) that a response is
    /// complete, so the next bytes start a request.
    struct ResponseComplete: Sendable {}
}

/// The byte-level rewrite, first in the pipeline (after TLS, before the HTTP decoder).
final class ListMethodRewriter: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = NIOAny
    typealias OutboundOut = NIOAny

    private static let list = Array("LIST ".utf8)
    private let maximumLine: Int
    private var atRequestStart = true
    private var pending: ByteBuffer?

    /// - Parameter maximumLine: the longest request line buffered while looking for its end.
    init(maximumLine: Int) {
        self.maximumLine = maximumLine
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard atRequestStart else {
            context.fireChannelRead(data)
            return
        }
        var buffer = unwrapInboundIn(data)
        if var held = pending {
            held.writeBuffer(&buffer)
            buffer = held
            pending = nil
        }
        let view = buffer.readableBytesView
        let prefix = Array(view.prefix(Self.list.count))
        guard prefix == Array(Self.list.prefix(prefix.count)) else {
            atRequestStart = false
            context.fireChannelRead(wrapInboundOut(buffer))
            return
        }
        guard prefix.count == Self.list.count, let lineEnd = view.firstIndex(of: 0x0A) else {
            // Not enough yet to tell, or the request line is not complete: wait for more,
            // within the head size limit (the decoder then refuses the oversized head).
            if buffer.readableBytes > maximumLine {
                atRequestStart = false
                context.fireChannelRead(wrapInboundOut(buffer))
            } else {
                pending = buffer
            }
            return
        }
        atRequestStart = false
        var rewritten = context.channel.allocator.buffer(capacity: buffer.readableBytes + 32)
        rewritten.writeString("GET ")
        let lineLength = lineEnd - view.startIndex + 1
        rewritten.writeBytes(view[(view.startIndex + Self.list.count)..<(view.startIndex + lineLength)])
        rewritten.writeString("\(ListMethod.markerName): LIST\r\n")
        rewritten.writeBytes(view[(view.startIndex + lineLength)...])
        context.fireChannelRead(wrapInboundOut(rewritten))
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard event is ListMethod.ResponseComplete else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        atRequestStart = true
        promise?.succeed()
    }
}

/// Hummingbird's HTTP/1.1 child channel with ``ListMethodRewriter`` in front of it: the pipeline
/// of every keyshardd connection, Unix socket or TLS. `package` so that api-fuzz feeds bytes
/// through exactly this pipeline.
package struct VaultHTTP1Channel: ServerChildChannel {
    /// The connection as Hummingbird's request loop reads and writes it.
    package typealias Value = HTTP1Channel.Value

    let base: HTTP1Channel
    let maximumLine: Int

    /// The channel keyshardd serves with `configuration`'s limits.
    /// - Parameters:
    ///   - configuration: the head size limit and read deadline (see
    ///     ``ServerConfiguration/http1Configuration``).
    ///   - responder: answers each request (the router's responder in keyshardd).
    package init(configuration: ServerConfiguration, responder: @escaping HTTPChannelHandler.Responder) {
        base = HTTP1Channel(responder: responder, configuration: configuration.http1Configuration)
        maximumLine = configuration.maximumHeaderSize
    }

    /// Adds ``ListMethodRewriter`` first, then Hummingbird's HTTP/1.1 handlers: NIO's encoder and
    /// decoder (with the head limits), the HTTP types codec, ``ConnectionLimitsHandler``, the
    /// connection state handler and the async channel.
    /// - Returns: the async channel Hummingbird's request loop reads.
    package func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let maximumLine = maximumLine
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(ListMethodRewriter(maximumLine: maximumLine))
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    /// Runs Hummingbird's request loop on the connection.
    package func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

extension ServerConfiguration {
    /// Hummingbird's HTTP/1.1 settings for these limits: NIO's decoder refuses a header field or
    /// header list over `maximumHeaderSize` and more than 100 fields, and
    /// ``ConnectionLimitsHandler`` (the read deadline, 431 for an oversized head) follows the
    /// codec. No Hummingbird idle timeout: the read deadline covers idle connections.
    var http1Configuration: HTTP1Channel.Configuration {
        HTTP1Channel.Configuration(
            additionalChannelHandlers: [ConnectionLimitsHandler(readTimeout: requestReadTimeout)],
            idleTimeout: nil,
            httpDecoderConfiguration: .init(
                maxHeaderFieldSize: maximumHeaderSize, maxHeaderListSize: maximumHeaderSize,
                maxHeaderFieldCount: 100))
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with Vault's LIST verb understood, under `configuration`'s limits.
    static func vaultHTTP1(configuration: ServerConfiguration) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in VaultHTTP1Channel(configuration: configuration, responder: responder) }
    }
}
