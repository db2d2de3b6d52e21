import Logging
import NIOCore

/// The agent's answer to one request. Implemented by the agent executable; the
/// protocol layer has already decoded the request and checked it is one.
public protocol AgentRequestHandler: Sendable {
    /// Answers a request.
    /// - Parameter request: a decoded request (``MessageType/isRequest`` holds).
    /// - Returns: the response, of the request's ``MessageType/responseType``.
    /// - Throws: an ``ErrorMessage`` to refuse with that code and text; any other error is
    ///   answered with ``AgentErrorCode/internalError`` and a generic text, its details
    ///   logged locally only (they might name internal state).
    func handle(_ request: AgentMessage) async throws -> AgentMessage
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
                    var inFlight = 0
                    for try await frame in inbound {
                        if inFlight >= options.maximumConcurrentRequests {
                            // Back-pressure: stop reading until a request finishes.
                            try await group.next()
                            inFlight -= 1
                        }
                        inFlight += 1
                        group.addTask {
                            let response = await respond(to: frame)
                            try await outbound.write(response)
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

    func respond(to frame: Frame) async -> Frame {
        let request: AgentMessage
        do {
            request = try AgentMessage(frame: frame)
        } catch let error as AgentProtocolError {
            return errorFrame(ErrorMessage(errorFrameFor: error), requestID: frame.requestID)
        } catch {
            return errorFrame(ErrorMessage(code: .internalError, text: "request failed"), requestID: frame.requestID)
        }
        guard let expected = request.type.responseType else {
            return errorFrame(
                ErrorMessage(code: .unexpectedMessage, text: "\(request.type) is a response, not a request"),
                requestID: frame.requestID)
        }
        do {
            let response = try await handler.handle(request)
            guard response.type == expected || response.type == .error else {
                options.logger.error(
                    "the handler answered with the wrong type",
                    metadata: ["request": "\(request.type)", "response": "\(response.type)"])
                return errorFrame(
                    ErrorMessage(code: .internalError, text: "the agent could not answer \(request.type)"),
                    requestID: frame.requestID)
            }
            let answer = try response.frame(requestID: frame.requestID)
            guard answer.payload.count <= options.limits.maximumPayloadSize else {
                return errorFrame(
                    ErrorMessage(code: .frameTooLarge, text: "the answer to \(request.type) exceeds the frame limit"),
                    requestID: frame.requestID)
            }
            return answer
        } catch let refusal as ErrorMessage {
            return errorFrame(refusal, requestID: frame.requestID)
        } catch {
            options.logger.info(
                "a request failed", metadata: ["request": "\(request.type)", "error": "\(type(of: error))"])
            return errorFrame(
                ErrorMessage(code: .internalError, text: "the agent could not answer \(request.type)"),
                requestID: frame.requestID)
        }
    }

    private func errorFrame(_ message: ErrorMessage, requestID: UInt64) -> Frame {
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
