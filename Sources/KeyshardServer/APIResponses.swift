import Foundation
import Hummingbird
import KeyshardAPI
import Logging
import NIOCore
import NIOHTTP1

/// A refusal at the HTTP level (unknown path, wrong method, oversized body) that has its own
/// status, with the ``KeyshardError`` its body carries.
struct HTTPRefusal: Error {
    let status: HTTPResponse.Status
    let error: KeyshardError
    var headers: HTTPFields = [:]
}

extension KeyshardError.Code {
    /// The HTTP status of an error with this code (docs/API.md has the table).
    var httpStatus: HTTPResponse.Status {
        switch self {
        case .badRequest, .unsupported: .badRequest
        // Vault answers 400 when a key exists; clients written for Vault expect it.
        case .exists: .badRequest
        case .notFound: .notFound
        case .forbidden: .forbidden
        case .busy: .conflict
        case .belowThreshold, .auditUnavailable: .serviceUnavailable
        case .custodianFailure: .badGateway
        case .internalError: .internalServerError
        }
    }

    /// Whether the error is the caller's to fix (Vault's "user error" in a batch).
    var isCallerError: Bool { httpStatus.code < 500 }
}

/// Builds the server's JSON responses: Vault's envelope for results, its error body for refusals.
enum APIResponses {
    /// Seconds a client should wait before retrying a `busy` refusal (an epoch change is under way).
    static let busyRetryAfter = 5

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()

    /// `{"request_id", …, "data": data, …}`.
    static func envelope<Payload: Codable & Sendable>(
        _ data: Payload, context: KeyshardRequestContext, status: HTTPResponse.Status = .ok, warnings: [String]? = nil
    ) throws -> Response {
        try json(VaultWire.Envelope(requestID: context.requestID, data: data, warnings: warnings), status: status)
    }

    /// Any encodable body as JSON.
    static func json(
        _ body: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]
    ) throws
        -> Response
    {
        var fields = headers
        fields[.contentType] = "application/json"
        let bytes = try encoder.encode(body)
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// 204, as Vault answers a delete.
    static func noContent() -> Response { Response(status: .noContent) }

    /// The error body and status for anything a handler or middleware threw. Errors that are not
    /// keyshard's own are logged and answered 500 without detail: their text is not reviewed for
    /// secrets, so it goes to the daemon's log only.
    static func refusal(for error: any Error, requestID: String, logger: Logger) -> Response {
        let (status, keyshardError, headers) = describe(error, requestID: requestID, logger: logger)
        do {
            return try json(VaultWire.ErrorBody(keyshardError), status: status, headers: headers)
        } catch {
            return Response(status: .internalServerError)
        }
    }

    /// The status, error and extra headers for `error`.
    static func describe(
        _ error: any Error, requestID: String, logger: Logger
    ) -> (
        HTTPResponse.Status, KeyshardError, HTTPFields
    ) {
        switch error {
        case let error as KeyshardError:
            var headers: HTTPFields = [:]
            if error.code == .busy { headers[.retryAfter] = String(busyRetryAfter) }
            return (error.code.httpStatus, error, headers)
        case let refusal as HTTPRefusal:
            return (refusal.status, refusal.error, refusal.headers)
        case let error as HTTPParserError:
            // A body that breaks HTTP/1.1 (a bad chunk size, say) surfaces only when the handler
            // reads it: the caller's fault, 400, and the parser's fixed sentence, never bytes of
            // the request. The decoder stops after it, so the connection ends with this answer.
            return (
                .badRequest, KeyshardError(.badRequest, "the request is not valid HTTP/1.1: \(error)"),
                [.connection: "close"]
            )
        case is NIOTooManyBytesError:
            return (.contentTooLarge, KeyshardError(.badRequest, "the request body is too large"), [.connection: "close"])
        case let error as HTTPError where error.status == .notFound:
            return (.notFound, KeyshardError(.notFound, "no such path"), [:])
        case let error as any HTTPResponseError:
            let code: KeyshardError.Code = error.status.code < 500 ? .badRequest : .internalError
            return (error.status, KeyshardError(code, error.status.reasonPhrase), [:])
        default:
            logger.error(
                "unexpected error", metadata: ["request.id": .string(requestID), "error": .string("\(error)")])
            return (
                .internalServerError,
                KeyshardError(.internalError, "an unexpected error; keyshardd's log names it (request \(requestID))"),
                [:]
            )
        }
    }
}

/// The outermost middleware: every error becomes Vault's error body with keyshard's `code`.
struct ErrorBodyMiddleware: RouterMiddleware {
    typealias Context = KeyshardRequestContext

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async
        -> Response
    {
        do {
            return try await next(request, context)
        } catch {
            return APIResponses.refusal(for: error, requestID: context.requestID, logger: context.logger)
        }
    }
}
