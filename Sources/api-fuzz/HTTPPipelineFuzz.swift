import Foundation
import Hummingbird
import HummingbirdCore
import KeyshardServer
// Hummingbird has a ServerConfiguration of its own; this one is keyshardd's.
import struct KeyshardServer.ServerConfiguration
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTPTypes

/// The bytes of one connection through the pipeline keyshardd gives every connection
/// (``VaultHTTP1Channel``: the LIST rewriter, NIO's HTTP/1 decoder with keyshardd's head
/// limits, the HTTP types codec, ``ConnectionLimitsHandler``, Hummingbird's connection state
/// handler), on an `EmbeddedChannel`, the first ``splitPrefix`` bytes in chunks of `chunkSize`.
///
/// Where Hummingbird's request loop would read the decoded parts, a ``RequestCollector`` takes
/// them: it answers each complete request with an empty 200 (so the LIST rewriter and the read
/// deadline see responses end, as they do in keyshardd), closes the connection on a decoding
/// error (as Hummingbird does), and runs the matching body's checks on each request body.
/// Then the clock passes the read deadline, which must close whatever is still open.
///
/// Asserted: no crash, no hang, bounded memory (libFuzzer's limits), and that no request head
/// the decoder lets through exceeds the configured field count or head size.
enum HTTPPipelineFuzz {
    /// keyshardd's defaults: 16 KiB head, 4 MiB body, 30 s read deadline.
    static let configuration = ServerConfiguration(socketPath: "/nonexistent/api-fuzz.sock")
    static let logger = Logger(label: "api-fuzz", factory: { _ in SwiftLogNoOpLogHandler() })
    /// How much of the input is fed in the selector's chunk size; the rest goes in 1 KiB chunks.
    static let splitPrefix = 256

    static func run(_ stream: [UInt8], chunkSize: Int) {
        let channel = EmbeddedChannel()
        let connection: NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>
        do {
            // As in keyshardd: the pipeline is set up before the accepted connection is active.
            connection = try VaultHTTP1Channel(configuration: configuration, responder: { _, _, _ in })
                .setup(channel: channel, logger: logger).wait()
            let state = try channel.pipeline.syncOperations.handler(type: HTTPConnectionStateHandler.self)
            try channel.pipeline.syncOperations.addHandler(
                RequestCollector(configuration: configuration), position: .after(state))
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8200)).wait()
        } catch {
            preconditionFailure("the pipeline does not set up: \(error)")
        }
        defer {
            // Hummingbird's request loop finishes the async channel's writer in
            // `executeThenClose`, which needs an async context a libFuzzer callback lacks and
            // is not run here; an unfinished writer traps when it is released.
            connection.outbound.finish()
            _ = try? channel.finish(acceptAlreadyClosed: true)
        }

        var offset = 0
        while offset < stream.count, channel.isActive {
            // Small chunks where keyshard's own byte-level code looks (the first request line,
            // for LIST) and the first request's head; larger ones after, so that a long input
            // costs a few dozen writes rather than thousands (each is a pass through the pipeline).
            let size = offset < splitPrefix ? chunkSize : max(chunkSize, 1024)
            let end = stream.count - offset <= size ? stream.count : offset + size
            do {
                try channel.writeInbound(channel.allocator.buffer(bytes: stream[offset..<end]))
            } catch {
                break
            }
            offset = end
            drainOutbound(channel)
        }
        // A client that stops sending: the read deadline closes the connection.
        channel.embeddedEventLoop.advanceTime(by: .seconds(31))
        drainOutbound(channel)
        precondition(!channel.isActive, "a connection outlived the read deadline")
    }

    /// Responses are not checked, only discarded, so they do not accumulate.
    static func drainOutbound(_ channel: EmbeddedChannel) {
        while let _ = try? channel.readOutbound(as: IOData.self) {}
    }
}

/// The end of the pipeline in the fuzzer, where Hummingbird's request loop would be.
final class RequestCollector: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias OutboundOut = HTTPResponsePart

    private let configuration: ServerConfiguration
    private var head: HTTPRequest?
    private var body: [UInt8] = []

    init(configuration: ServerConfiguration) {
        self.configuration = configuration
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request):
            checkLimits(request)
            head = request
            body = []
        case .body(let buffer):
            // Bounded by the input's length; keyshardd's own limit (4 MiB) is larger than any input.
            body += buffer.readableBytesView
        case .end:
            if let head { checkBody(head) }
            head = nil
            body = []
            var response = HTTPResponse(status: .ok)
            response.headerFields[.contentLength] = "0"
            context.write(wrapOutboundOut(.head(response)), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Hummingbird's request loop ends the connection on a decoding error.
        context.close(promise: nil)
    }

    /// NIO's decoder counts the request target, header names and values (after
    /// ``ListMethodRewriter`` added its marker) against `maxHeaderListSize`, and the fields
    /// against `maxHeaderFieldCount` (100); a head over either must never reach a handler.
    private func checkLimits(_ request: HTTPRequest) {
        let count = request.headerFields.count
        precondition(count <= 100, "a request head with \(count) fields passed")
        var size = Self.wireBytes(request.path) + Self.wireBytes(request.authority)
        for field in request.headerFields { size += Self.wireBytes(field.name.rawName) + Self.wireBytes(field.value) }
        precondition(size <= configuration.maximumHeaderSize, "a request head of at least \(size) bytes passed")
    }

    /// At least as many bytes as `text` had on the wire: NIO decodes head bytes as UTF-8 with
    /// each invalid sequence (at least one byte) replaced by U+FFFD (three), so that character
    /// counts one. (Found by this fuzzer: counting UTF-8 bytes flagged a head of obs-text.)
    private static func wireBytes(_ text: String?) -> Int {
        guard let text else { return 0 }
        return text.unicodeScalars.reduce(0) { $0 + ($1 == "\u{FFFD}" ? 1 : UTF8.width($1)) }
    }

    /// The body checks of the handler a router would pick for this method and path.
    private func checkBody(_ request: HTTPRequest) {
        guard request.method == .post || request.method == .put, let path = request.path else { return }
        let segments = path.prefix(while: { $0 != "?" }).split(separator: "/", omittingEmptySubsequences: false)
            .map(String.init)
        guard segments.count >= 5, segments[0].isEmpty, segments[1] == "v1", segments[2] == "transit" else { return }
        let kind: APIFuzzTarget.BodyKind?
        var pathAlgorithm: String?
        switch (segments[3], segments.count) {
        case ("keys", 5): kind = .createKey
        case ("keys", 6) where segments[5] == "import": kind = .importKey
        case ("keys", 6) where segments[5] == "config": kind = .keyConfig
        case ("keys", 6) where segments[5] == "trim": kind = .trim
        case ("encrypt", 5): kind = .encrypt
        case ("decrypt", 5), ("rewrap", 5): kind = .ciphertext
        case ("datakey", 6): kind = .dataKey
        case ("sign", 5), ("verify", 5): kind = .signature
        case ("sign", 6), ("verify", 6):
            kind = .signature
            pathAlgorithm = segments[5]
        default: kind = nil
        }
        guard let kind else { return }
        // The `:name` parameter: datakey's follows `plaintext` or `wrapped`.
        _ = try? Names.validate(kind == .dataKey ? segments[5] : segments[4], what: "key")
        APIFuzzTarget.checkBody(kind, Data(body), pathAlgorithm: pathAlgorithm)
    }
}
