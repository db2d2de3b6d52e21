import Logging
import ShardCrypto
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
    /// - Parameters:
    ///   - request: a request message (``MessageType/isRequest``).
    ///   - timeout: how long to wait for the response, counted from when the request has been
    ///     written to the connection (not while it waits to be written); nil takes the options'
    ///     ``AgentConnectionOptions/requestTimeout``.
    /// - Returns: the response, of the request's ``MessageType/responseType``.
    /// - Throws: ``AgentProtocolError/Code/remoteError`` carrying the agent's ``ErrorMessage``
    ///   when it refused; ``AgentProtocolError/Code/unexpectedMessage`` when `request` is
    ///   not a request or the response has the wrong type; ``AgentProtocolError/Code/connectionClosed``
    ///   when the connection ends or the timeout passes first; ``AgentProtocolError/Code/cancelled``
    ///   as soon as the calling task is cancelled (the connection stays usable: a late answer is
    ///   dropped); the framing and decoding errors.
    public func request(_ request: AgentMessage, timeout: Duration? = nil) async throws(AgentProtocolError) -> AgentMessage {
        guard let expected = request.type.responseType else {
            throw AgentProtocolError(.unexpectedMessage, "\(request.type) is a response, not a request")
        }
        let payload = try request.encode()
        guard !Task.isCancelled else {
            throw AgentProtocolError(.cancelled, "\(request.type) was cancelled before it was sent")
        }
        let promise = channel.eventLoop.makePromise(of: Frame.self)
        let outgoing = OutgoingRequest(
            type: request.type.rawValue, payload: payload, promise: promise,
            timeout: timeout.map(TimeAmount.init) ?? options.requestTimeout)
        channel.writeAndFlush(outgoing).whenFailure { error in
            promise.fail(
                error as? AgentProtocolError
                    ?? AgentProtocolError(.connectionClosed, "the request could not be sent: \(error)"))
        }
        let channel = self.channel
        let type = request.type
        let frame: Frame
        do {
            frame = try await withTaskCancellationHandler {
                try await promise.futureResult.get()
            } onCancel: {
                // The handler forgets the pending entry and fails the promise; if the event cannot reach
                // it (the channel is closing), the promise is failed here (a completed one ignores it).
                channel.triggerUserOutboundEvent(CancelRequest(promise: promise)).whenFailure { _ in
                    promise.fail(AgentProtocolError(.cancelled, "\(type) was cancelled"))
                }
            }
        } catch let error as AgentProtocolError {
            throw error
        } catch {
            // Every failure of the promise is an AgentProtocolError; keep any other's text rather than lose it.
            throw AgentProtocolError(.connectionClosed, "\(type): \(error)")
        }
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

    /// How many requests wait for an answer (for tests: cancelled and timed-out ones must not linger).
    func pendingRequestCount() async throws -> Int {
        let channel = self.channel
        return try await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.handler(type: ClientRequestHandler.self).pendingCount
        }.get()
    }

    /// Opens an authenticated session (see ``Session``): after it returns, every request on this
    /// connection travels sealed under it, and every answer must come sealed (or as a plain
    /// refusal). Call it after the agent's evidence was accepted and its credential activated:
    /// `transportKey` must be the key the accepted quote vouches for.
    /// - Parameters:
    ///   - identity: the coordinator identity the agent booted with.
    ///   - transportKey: the agent's attested transport key.
    /// - Throws: ``AgentProtocolError/Code/remoteError`` when the agent refuses the opening (another
    ///   coordinator's key, for example); ``AgentProtocolError/Code/sessionFailed`` when the agent's
    ///   key confirmation is wrong (it does not hold the attested transport key's private half);
    ///   the errors of ``request(_:timeout:)``; a ``ShardCryptoError`` for a transport key that is
    ///   not a usable point, swift-crypto's signing error, or the channel's error when the session
    ///   cannot be installed (so this one stays untyped).
    public func openSession(identity: CoordinatorIdentity, transportKey: TransportPublicKey) async throws {
        guard case .sessionChallenge(let challenge) = try await request(.sessionHello(SessionHello())) else {
            throw AgentProtocolError(.unexpectedMessage, "the agent answered session-hello with another type")
        }
        let ephemeralSecret = Scalar.random()
        let ephemeral = try Point.generatorMultiple(ephemeralSecret).uncompressed()
        let transcript = Session.transcript(
            coordinator: identity.publicKey, transportKey: transportKey, agentNonce: challenge.nonce,
            ephemeral: ephemeral)
        let open = try SessionOpen(ephemeralKey: ephemeral, signature: try identity.sign(transcript))
        guard case .sessionOpened(let opened) = try await request(.sessionOpen(open)) else {
            throw AgentProtocolError(.unexpectedMessage, "the agent answered session-open with another type")
        }
        let shared = try (ephemeralSecret * Point(sec1: transportKey.uncompressed)).affineX()
        let keys = Session.deriveKeys(sharedX: shared, transcript: transcript)
        guard SecretBytes(opened.confirmation).constantTimeEquals(SecretBytes(keys.confirmationTag)) else {
            throw AgentProtocolError(
                .sessionFailed, "the agent's session confirmation is wrong: it does not hold the attested transport key")
        }
        try await channel.triggerUserOutboundEvent(InstallSession(keys: keys)).get()
    }

    /// Closes the connection; pending requests fail with ``AgentProtocolError/Code/connectionClosed``.
    public func close() async throws {
        do { try await channel.close() } catch ChannelError.alreadyClosed {}
    }

    /// Completes when the connection has closed, for whatever reason.
    public var closeFuture: EventLoopFuture<Void> { channel.closeFuture }
}

/// Tells the pipeline's request handler to seal every later request under these keys.
struct InstallSession: Sendable {
    let keys: SessionKeys
}

/// Tells the pipeline's request handler that the task waiting for this request's answer was
/// cancelled: it forgets the request and fails its promise.
struct CancelRequest: Sendable {
    let promise: EventLoopPromise<Frame>
}

/// A request on its way to the pipeline; the handler gives it its id.
struct OutgoingRequest: Sendable {
    let type: UInt16
    let payload: [UInt8]
    let promise: EventLoopPromise<Frame>
    /// How long to wait for the answer once the request has been written; nil waits until the
    /// connection closes.
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
        /// Scheduled once the request has been written.
        var timeout: Scheduled<Void>?
        /// The session counter the request was sealed with (nil: sent in the clear).
        let counter: UInt64?
    }

    private var session: SessionKeys?
    private var counter: UInt64 = 0

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
        var frame = Frame(type: request.type, requestID: id, payload: request.payload)
        var sealedWith: UInt64?
        let handshake = request.type == MessageType.sessionHello.rawValue || request.type == MessageType.sessionOpen.rawValue
        if let session, !handshake {
            counter += 1
            do {
                frame = try session.seal(frame, response: false, counter: counter)
            } catch {
                let failure = AgentProtocolError(.sessionFailed, "the request could not be sealed")
                request.promise.fail(failure)
                promise?.fail(failure)
                return
            }
            sealedWith = counter
        }
        pending[id] = Pending(promise: request.promise, timeout: nil, counter: sealedWith)
        // The timeout runs from when the frame has been written, so time spent queued behind a
        // slow socket is not counted against the agent.
        let written = context.eventLoop.makePromise(of: Void.self)
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let delay = request.timeout
        let eventLoop = context.eventLoop
        written.futureResult.whenComplete { result in
            switch result {
            case .success:
                if let delay { handler.value.startTimeout(id, after: delay, on: eventLoop) }
            case .failure(let error):
                handler.value.pending.removeValue(forKey: id)?.promise.fail(
                    AgentProtocolError(.connectionClosed, "the request could not be sent: \(error)"))
            }
        }
        if let promise { written.futureResult.cascade(to: promise) }
        context.write(wrapOutboundOut(frame), promise: written)
    }

    /// How many requests wait for an answer.
    var pendingCount: Int { pending.count }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        if let install = event as? InstallSession {
            session = install.keys
            counter = 0
            promise?.succeed(())
        } else if let cancel = event as? CancelRequest {
            cancelRequest(cancel.promise)
            promise?.succeed(())
        } else {
            context.triggerUserOutboundEvent(event, promise: promise)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if let entry = pending.removeValue(forKey: frame.requestID) {
            entry.timeout?.cancel()
            guard let counter = entry.counter else {
                entry.promise.succeed(frame)
                return
            }
            // A sealed request is answered sealed under the same counter, or refused in the clear
            // (the agent could not authenticate it); nothing else is believed.
            if frame.type == MessageType.error.rawValue {
                entry.promise.succeed(frame)
            } else if frame.type == MessageType.sealedResponse.rawValue, let session,
                let (inner, sealedCounter) = session.open(frame, response: true), sealedCounter == counter
            {
                entry.promise.succeed(inner)
            } else {
                entry.promise.fail(
                    AgentProtocolError(.sessionFailed, "the answer to request \(frame.requestID) is not sealed under the session"))
            }
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
            // A late answer to a request that timed out or was cancelled.
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

    private func startTimeout(_ id: UInt64, after delay: TimeAmount, on eventLoop: any EventLoop) {
        guard pending[id] != nil else { return }  // answered, cancelled or failed already
        let handler = NIOLoopBound(self, eventLoop: eventLoop)
        pending[id]?.timeout = eventLoop.scheduleTask(in: delay) { handler.value.timeOut(id, after: delay) }
    }

    private func cancelRequest(_ target: EventLoopPromise<Frame>) {
        let cancelled = AgentProtocolError(.cancelled, "the request was cancelled before its answer arrived")
        guard let (id, entry) = pending.first(where: { $0.value.promise == target }) else {
            target.fail(cancelled)  // not pending (answered or failed already): a completed promise ignores it
            return
        }
        pending.removeValue(forKey: id)
        entry.timeout?.cancel()
        entry.promise.fail(cancelled)
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
