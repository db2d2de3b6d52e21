import NIOCore

/// NIO decoder: bytes → ``Frame``, through ``FrameCodec/decodeFrame(from:limits:)-(ByteBuffer,_)``.
/// A framing error is thrown into the pipeline (see ``FrameViolationHandler``); at end of
/// stream, leftover bytes are a ``AgentProtocolError/Code/truncatedFrame``.
public struct FrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = Frame

    /// The limits every frame is checked against.
    public let limits: FrameLimits

    /// Creates a decoder.
    public init(limits: FrameLimits = .default) { self.limits = limits }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try FrameCodec.decodeFrame(from: &buffer, limits: limits) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    public mutating func decodeLast(
        context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool
    ) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        if buffer.readableBytes > 0 {
            let count = buffer.readableBytes
            buffer.clear()
            throw AgentProtocolError(.truncatedFrame, "the stream ended \(count) bytes into a frame")
        }
        return .needMoreData
    }
}

/// NIO encoder: ``Frame`` → bytes, refusing frames over the limit.
public struct FrameEncoder: MessageToByteEncoder {
    public typealias OutboundIn = Frame

    /// The limits every frame is checked against.
    public let limits: FrameLimits

    /// Creates an encoder.
    public init(limits: FrameLimits = .default) { self.limits = limits }

    public func encode(data: Frame, out: inout ByteBuffer) throws {
        try FrameCodec.encode(data, into: &out, limits: limits)
    }
}

/// Turns a framing error into an error frame (request id 0) and closes the
/// connection: after bad magic, a bad version or an oversized length the stream
/// cannot be resynchronised. Sits after the decoder and encoder in the pipeline.
final class FrameViolationHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Frame
    typealias InboundOut = Frame
    typealias OutboundOut = Frame

    private let replyWithErrorFrame: Bool
    private var closing = false

    init(replyWithErrorFrame: Bool) { self.replyWithErrorFrame = replyWithErrorFrame }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let protocolError = (error as? ByteToMessageDecoderError.PayloadTooLargeError).map { _ in
            AgentProtocolError(.frameTooLarge, "the peer sent more bytes than the frame limit allows")
        } ?? error as? AgentProtocolError
        guard let protocolError, !closing else {
            context.fireErrorCaught(error)
            return
        }
        closing = true
        if replyWithErrorFrame,
            let frame = try? AgentMessage.error(ErrorMessage(errorFrameFor: protocolError)).frame(requestID: 0)
        {
            // Written before anything else can close the channel; closed once it is out.
            let channel = context.channel
            context.writeAndFlush(Self.wrapOutboundOut(frame)).whenComplete { _ in channel.close(promise: nil) }
        } else {
            context.close(promise: nil)
        }
        // Tells the next handler why the stream is ending.
        context.fireErrorCaught(protocolError)
    }
}

extension ErrorMessage {
    /// The error frame for a local protocol failure: its code and reason.
    init(errorFrameFor error: AgentProtocolError) {
        let code: AgentErrorCode =
            switch error.code {
            case .frameTooLarge: .frameTooLarge
            case .unknownMessageType: .unknownMessageType
            case .malformedMessage: .malformedMessage
            case .unexpectedMessage: .unexpectedMessage
            default: .malformedFrame
            }
        self.init(code: code, text: error.reason)
    }
}
