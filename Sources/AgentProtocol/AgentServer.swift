import Logging
import NIOCore

/// The agent's answer to one request. Implemented by the agent executable; the
/// protocol layer has already decoded the request, checked it is one, and — for every type
/// outside ``Session/unauthenticatedRequests`` — opened it under an authenticated session.
public protocol AgentRequestHandler: Sendable {
    /// Answers a request.
    /// - Parameters:
    ///   - request: a decoded request (``MessageType/isRequest`` holds), never a session message.
    ///   - authenticated: whether it arrived sealed under a session the pinned coordinator opened.
    ///     The protocol layer refuses unauthenticated requests other than the attestation steps
    ///     before they get here; handlers check again for what must never run without one.
    /// - Returns: the response, of the request's ``MessageType/responseType``.
    /// - Throws: an ``ErrorMessage`` to refuse with that code and text; any other error is
    ///   answered with ``AgentErrorCode/internalError`` and a generic text, its details
    ///   logged locally only (they might name internal state).
    func handle(_ request: AgentMessage, authenticated: Bool) async throws -> AgentMessage

    /// The pinned coordinator key and the transport key's Diffie–Hellman that sessions need.
    var sessionAcceptor: SessionAcceptor { get }
}

/// Serves one frame stream: decodes each request, runs the handler (up to the
/// configured number concurrently), answers with the same request id.
struct ConnectionServer: Sendable {
    let options: AgentConnectionOptions
    let handler: any AgentRequestHandler

    func serve(_ channel: NIOAsyncChannel<Frame, Frame>) async {
        let logger = options.logger
        do {
            try await channel.executeThenClose { inbound, outbound in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    // The stream's session state, touched only by this loop: frames are opened and
                    // their counters checked in arrival order, before any handler runs.
                    var session = StreamSession()
                    var inFlight = 0
                    for try await frame in inbound {
                        let work: Work
                        switch await session.admit(frame, acceptor: handler.sessionAcceptor) {
                        case .answer(let answer):
                            try await outbound.write(answer)
                            continue
                        case .dispatch(let admitted): work = admitted
                        }
                        if inFlight >= options.maximumConcurrentRequests {
                            // Back-pressure: stop reading until a request finishes.
                            try await group.next()
                            inFlight -= 1
                        }
                        inFlight += 1
                        group.addTask {
                            let response = await respond(to: work.frame, authenticated: work.keys != nil)
                            if let keys = work.keys {
                                try await outbound.write(
                                    try keys.seal(response, response: true, counter: work.counter))
                            } else {
                                try await outbound.write(response)
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
        } catch let error as AgentProtocolError {
            logger.info("closed an agent connection", metadata: ["reason": "\(error)"])
        } catch {
            logger.info("an agent connection ended", metadata: ["error": "\(error)"])
        }
    }

    /// A request ready for the handler: its inner frame and, when it came sealed, the session
    /// keys and counter its answer is sealed with.
    struct Work: Sendable {
        let frame: Frame
        let keys: SessionKeys?
        let counter: UInt64
    }

    /// Session bookkeeping of one stream (a connection, or the whole virtio-serial port, whose
    /// host side may change hands without the guest seeing a new connection: hence a session is
    /// cryptographic state, never "whoever is connected").
    struct StreamSession {
        enum Admission {
            case answer(Frame)
            case dispatch(Work)
        }

        private var pendingNonce: Nonce?
        private var keys: SessionKeys?
        private var lastCounter: UInt64 = 0

        mutating func admit(_ frame: Frame, acceptor: SessionAcceptor) async -> Admission {
            func refuse(_ code: AgentErrorCode, _ text: String) -> Admission {
                .answer(ConnectionServer.errorFrame(ErrorMessage(code: code, text: text), requestID: frame.requestID))
            }
            switch MessageType(rawValue: frame.type) {
            case .sessionHello?:
                let nonce = Nonce.random()
                pendingNonce = nonce
                return .answer(
                    (try? AgentMessage.sessionChallenge(SessionChallenge(nonce: nonce)).frame(requestID: frame.requestID))
                        ?? ConnectionServer.errorFrame(
                            ErrorMessage(code: .internalError, text: "no session nonce"), requestID: frame.requestID))
            case .sessionOpen?:
                guard case .sessionOpen(let open)? = try? AgentMessage(frame: frame) else {
                    return refuse(.malformedMessage, "the session opening does not decode")
                }
                guard let nonce = pendingNonce else {
                    return refuse(.badSession, "a session opening needs a fresh session-hello first")
                }
                pendingNonce = nil
                do {
                    let opened = try await acceptor.accept(open, agentNonce: nonce)
                    keys = opened
                    lastCounter = 0
                    let answer = try SessionOpened(confirmation: opened.confirmationTag)
                    return .answer(try AgentMessage.sessionOpened(answer).frame(requestID: frame.requestID))
                } catch let refusal as ErrorMessage {
                    return .answer(ConnectionServer.errorFrame(refusal, requestID: frame.requestID))
                } catch {
                    return refuse(.badSession, "the session could not be opened")
                }
            case .sealedRequest?:
                guard let keys else {
                    return refuse(.noSession, "a sealed request needs an open session: session-hello, session-open")
                }
                guard let (inner, counter) = keys.open(frame, response: false) else {
                    return refuse(.badSession, "the sealed request failed authentication under this session")
                }
                guard counter > lastCounter else {
                    return refuse(.badSession, "sealed request counter \(counter) does not follow \(lastCounter): replayed or reordered")
                }
                lastCounter = counter
                if let type = MessageType(rawValue: inner.type),
                    [.sessionHello, .sessionOpen, .sealedRequest].contains(type)
                {
                    return .answer(
                        (try? keys.seal(
                            ConnectionServer.errorFrame(
                                ErrorMessage(code: .unexpectedMessage, text: "\(type) cannot travel sealed"),
                                requestID: frame.requestID), response: true, counter: counter))
                            ?? ConnectionServer.errorFrame(
                                ErrorMessage(code: .internalError, text: "sealing failed"), requestID: frame.requestID))
                }
                return .dispatch(Work(frame: inner, keys: keys, counter: counter))
            default:
                if let type = MessageType(rawValue: frame.type), type.isRequest,
                    !Session.unauthenticatedRequests.contains(type)
                {
                    return refuse(
                        .noSession,
                        "\(type) needs an authenticated session with this custodian's coordinator")
                }
                return .dispatch(Work(frame: frame, keys: nil, counter: 0))
            }
        }
    }

    func respond(to frame: Frame, authenticated: Bool) async -> Frame {
        let request: AgentMessage
        do {
            request = try AgentMessage(frame: frame)
        } catch {
            return Self.errorFrame(ErrorMessage(errorFrameFor: error), requestID: frame.requestID)
        }
        guard let expected = request.type.responseType else {
            return Self.errorFrame(
                ErrorMessage(code: .unexpectedMessage, text: "\(request.type) is a response, not a request"),
                requestID: frame.requestID)
        }
        do {
            let response = try await handler.handle(request, authenticated: authenticated)
            guard response.type == expected || response.type == .error else {
                options.logger.error(
                    "the handler answered with the wrong type",
                    metadata: ["request": "\(request.type)", "response": "\(response.type)"])
                return Self.errorFrame(
                    ErrorMessage(code: .internalError, text: "the agent could not answer \(request.type)"),
                    requestID: frame.requestID)
            }
            let answer = try response.frame(requestID: frame.requestID)
            guard answer.payload.count <= options.limits.maximumPayloadSize - Self.sealingOverhead else {
                return Self.errorFrame(
                    ErrorMessage(code: .frameTooLarge, text: "the answer to \(request.type) exceeds the frame limit"),
                    requestID: frame.requestID)
            }
            return answer
        } catch let refusal as ErrorMessage {
            return Self.errorFrame(refusal, requestID: frame.requestID)
        } catch {
            options.logger.info(
                "a request failed", metadata: ["request": "\(request.type)", "error": "\(type(of: error))"])
            return Self.errorFrame(
                ErrorMessage(code: .internalError, text: "the agent could not answer \(request.type)"),
                requestID: frame.requestID)
        }
    }

    /// What sealing adds to a payload: counter (8), box length (4), inner type (2), GCM tag (16).
    static let sealingOverhead = 8 + 4 + 2 + 16

    static func errorFrame(_ message: ErrorMessage, requestID: UInt64) -> Frame {
        // Force-try: an error body with text cut to 1024 bytes always encodes.
        try! AgentMessage.error(message).frame(requestID: requestID)
    }
}

/// Serves accepted connections until the listening channel closes or the task is cancelled.
func serveListener(
    _ server: NIOAsyncChannel<NIOAsyncChannel<Frame, Frame>, Never>, options: AgentConnectionOptions,
    handler: any AgentRequestHandler, onReady: @escaping @Sendable () -> Void
) async throws {
    let connectionServer = ConnectionServer(options: options, handler: handler)
    try await server.executeThenClose { connections in
        onReady()
        try await withThrowingDiscardingTaskGroup { group in
            for try await connection in connections {
                group.addTask { await connectionServer.serve(connection) }
            }
        }
    }
}
