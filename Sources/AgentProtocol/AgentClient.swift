import Logging
import NIOCore

/// The coordinator's end of one agent connection. Requests may be sent concurrently:
/// each gets its own request id, and responses are matched by id whatever their order.
public final class AgentClient: Sendable {
    private let channel: any Channel
    private let options: AgentConnectionOptions

    init(channel: any Channel, options: AgentConnectionOptions) {
        self.channel = channel
        self.options = options
    }

    /// Connects to an agent.
    /// - Parameters:
    ///   - specification: where the agent is (`unix:` or `vsock:`).
    ///   - options: limits, timeouts, event loops, logger.
    /// - Throws: ``AgentProtocolError/Code/transportUnavailable`` for a listen-only
    ///   specification, or the connection error.
    public static func connect(
        to specification: TransportSpecification, options: AgentConnectionOptions = AgentConnectionOptions()
    ) async throws -> AgentClient {
        try await specification.transport.connect(options: options)
    }

    /// Sends a request and waits for its response.
    /// - Parameter request: a request message (``MessageType/isRequest``).
    /// - Returns: the response, of the request's ``MessageType/responseType``.
    /// - Throws: ``AgentProtocolError/Code/remoteError`` carrying the agent's ``ErrorMessage``
    ///   when it refused; ``AgentProtocolError/Code/unexpectedMessage`` when `request` is
    ///   not a request or the response has the wrong type; ``AgentProtocolError/Code/connectionClosed``
    ///   when the connection ends or the timeout passes first; the framing and decoding errors.
    public func request(_ request: AgentMessage) async throws -> AgentMessage {
        guard let expected = request.type.responseType else {
            throw AgentProtocolError(.unexpectedMessage, "\(request.type) is a response, not a request")
        }
        let payload = try request.encode()
        let promise = channel.eventLoop.makePromise(of: Frame.self)
        let outgoing = OutgoingRequest(
            type: request.type.rawValue, payload: payload, promise: promise, timeout: options.requestTimeout)
        channel.writeAndFlush(outgoing).whenFailure { error in
            promise.fail(
                error as? AgentProtocolError
                    ?? AgentProtocolError(.connectionClosed, "the request could not be sent: \(error)"))
        }
        let frame = try await promise.futureResult.get()
        let response = try AgentMessage(frame: frame)
        if case .error(let body) = response {
            throw AgentProtocolError(.remoteError, "the agent refused \(request.type): \(body)", remote: body)
        }
        guard response.type == expected else {
            throw AgentProtocolError(
                .unexpectedMessage, "the agent answered \(request.type) with \(response.type), not \(expected)")
        }
        return response
    }

    /// Closes the connection; pending requests fail with ``AgentProtocolError/Code/connectionClosed``.
    public func close() async throws {
        do { try await channel.close() } catch ChannelError.alreadyClosed {}
    }

    /// Completes when the connection has closed, for whatever reason.
    public var closeFuture: EventLoopFuture<Void> { channel.closeFuture }
}

/// A request on its way to the pipeline; the handler gives it its id.
struct OutgoingRequest: Sendable {
    let type: UInt16
    let payload: [UInt8]
    let promise: EventLoopPromise<Frame>
    let timeout: TimeAmount?
}

/// Assigns request ids, remembers the pending promises and completes them as
/// responses arrive in any order. Runs on the channel's event loop only.
final class ClientRequestHandler: ChannelDuplexHandler {
    typealias InboundIn = Frame
    typealias OutboundIn = OutgoingRequest
    typealias OutboundOut = Frame

    private struct Pending {
        let promise: EventLoopPromise<Frame>
        let timeout: Scheduled<Void>?
    }

    private var pending: [UInt64: Pending] = [:]
    private var lastRequestID: UInt64 = 0
    private var failure: AgentProtocolError?
    private let logger: Logger

    init(logger: Logger) { self.logger = logger }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        if let failure {
            request.promise.fail(failure)
            promise?.fail(failure)
            return
        }
        lastRequestID &+= 1
        let id = lastRequestID
        var timeout: Scheduled<Void>?
        if let delay = request.timeout {
            let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
            timeout = context.eventLoop.scheduleTask(in: delay) { handler.value.timeOut(id, after: delay) }
        }
        pending[id] = Pending(promise: request.promise, timeout: timeout)
        let frame = Frame(type: request.type, requestID: id, payload: request.payload)
        context.write(wrapOutboundOut(frame), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if let entry = pending.removeValue(forKey: frame.requestID) {
            entry.timeout?.cancel()
            entry.promise.succeed(frame)
        } else if frame.requestID == 0 || frame.requestID > lastRequestID {
            // An error for the connection, or an answer to a request never sent: the
            // agent is confused or hostile; stop talking to it.
            let reason =
                frame.requestID == 0
                ? (try? AgentMessage(frame: frame)).map { "the agent closed the connection: \($0)" }
                    ?? "the agent sent an undecodable connection-level frame"
                : "the agent answered request \(frame.requestID), which was never sent"
            failAll(AgentProtocolError(.unexpectedMessage, reason))
            context.close(promise: nil)
        } else {
            // A late answer to a request that already timed out.
            logger.info("dropping a late response", metadata: ["request": "\(frame.requestID)"])
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(
            error as? AgentProtocolError
                ?? AgentProtocolError(.connectionClosed, "the connection failed: \(error)"))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(AgentProtocolError(.connectionClosed, "the connection to the agent closed"))
        context.fireChannelInactive()
    }

    private func timeOut(_ id: UInt64, after delay: TimeAmount) {
        pending.removeValue(forKey: id)?.promise.fail(
            AgentProtocolError(.connectionClosed, "no response to request \(id) within \(delay)"))
    }

    private func failAll(_ error: AgentProtocolError) {
        if failure == nil { failure = error }
        let entries = pending
        pending = [:]
        for entry in entries.values {
            entry.timeout?.cancel()
            entry.promise.fail(error)
        }
    }
}
