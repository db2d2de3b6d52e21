import Foundation
import Hummingbird
import KeyshardAPI
import Logging
import Prometheus

// The per-route middleware, outermost first: metrics, caller identity, audit, authorization.
// Audit runs before authorization so that refused calls are recorded too.

/// Counts each request by operation and status and records its latency.
struct MetricsMiddleware: RouterMiddleware {
    typealias Context = KeyshardRequestContext

    let operation: APIOperation
    let metrics: APIMetrics

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws
        -> Response
    {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            metrics.record(operation, status: response.status.code, duration: ContinuousClock.now - start)
            return response
        } catch {
            let (status, _, _) = APIResponses.describe(error, requestID: context.requestID, logger: context.logger)
            metrics.record(operation, status: status.code, duration: ContinuousClock.now - start)
            throw error
        }
    }
}

/// Names the caller from the connection (SO_PEERCRED or the TLS client certificate).
struct CallerMiddleware: RouterMiddleware {
    typealias Context = KeyshardRequestContext

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws
        -> Response
    {
        var context = context
        do {
            context.caller = try await PeerIdentity.caller(on: context.channel)
        } catch {
            throw KeyshardError(.forbidden, "the caller cannot be identified: \(error.description)")
        }
        return try await next(request, context)
    }
}

/// Writes `api.call` before the operation and `api.result` after it. When `api.call` cannot be
/// written the operation does not run (503 `audit-unavailable`). Records carry who, what and
/// which key, never a body.
struct AuditMiddleware: RouterMiddleware {
    typealias Context = KeyshardRequestContext

    let operation: APIOperation
    let sink: any AuditSink

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws
        -> Response
    {
        guard operation.isAudited else { return try await next(request, context) }
        var fields = callFields(request, context)
        do {
            try await sink.record("api.call", fields)
        } catch {
            context.logger.error(
                "audit record not written; operation refused",
                metadata: ["request.id": .string(context.requestID), "error": .string("\(error)")])
            throw KeyshardError(
                .auditUnavailable, "the audit log cannot be written, so keyshardd refuses the operation: \(error)")
        }
        fields = ["request_id": context.requestID, "operation": operation.rawValue]
        do {
            let response = try await next(request, context)
            fields["status"] = String(response.status.code)
            await recordResult(fields, context)
            return response
        } catch {
            let (status, keyshardError, _) = APIResponses.describe(
                error, requestID: context.requestID, logger: context.logger)
            fields["status"] = String(status.code)
            fields["code"] = keyshardError.code.rawValue
            await recordResult(fields, context)
            throw error
        }
    }

    private func callFields(_ request: Request, _ context: Context) -> [String: String] {
        var fields: [String: String] = [
            "request_id": context.requestID,
            "operation": operation.rawValue,
            "method": ListMethod.method(of: request),
            // The path only: query values are not recorded (none is a secret today, but a client
            // may add its own).
            "path": request.uri.path,
        ]
        if let caller = context.caller {
            if let uid = caller.uid { fields["caller_uid"] = String(uid) }
            if let gid = caller.gid { fields["caller_gid"] = String(gid) }
            if let pid = caller.pid { fields["caller_pid"] = String(pid) }
            if let subject = caller.certificateSubject { fields["caller_subject"] = subject }
        }
        if let key = context.parameters.get("name") { fields["key"] = key }
        if let ring = context.parameters.get("ring") ?? request.uri.queryParameters["ring"].map(String.init) {
            fields["ring"] = ring
        }
        return fields
    }

    private func recordResult(_ fields: [String: String], _ context: Context) async {
        do {
            try await sink.record("api.result", fields)
        } catch {
            // The operation has run; the call record exists. Say so loudly rather than fail a
            // request whose effect cannot be undone.
            context.logger.error(
                "audit result record not written",
                metadata: ["request.id": .string(context.requestID), "error": .string("\(error)")])
        }
    }
}

/// Refuses callers whose role (for the request's key) is below the operation's.
struct AuthorizationMiddleware: RouterMiddleware {
    typealias Context = KeyshardRequestContext

    let operation: APIOperation
    let roles: any RoleResolver

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws
        -> Response
    {
        guard let needed = operation.requiredRole else { return try await next(request, context) }
        guard let caller = context.caller else {
            throw KeyshardError(.forbidden, "the caller cannot be identified")
        }
        let key = context.parameters.get("name")
        let scope = key.map { " for key \"\($0)\"" } ?? ""
        guard let role = roles.role(of: caller, forKey: key) else {
            throw KeyshardError(
                .forbidden, "\(caller) has no role\(scope); \(operation.rawValue) needs role \(needed.rawValue)")
        }
        guard role >= needed else {
            throw KeyshardError(
                .forbidden,
                "\(caller) has role \(role.rawValue)\(scope); \(operation.rawValue) needs role \(needed.rawValue)")
        }
        return try await next(request, context)
    }
}

/// The server's Prometheus metrics. Labels are the operation and the status code only, so the
/// number of series is fixed (about 20 operations × a dozen statuses).
struct APIMetrics: Sendable {
    let registry: PrometheusCollectorRegistry

    static let buckets: [Duration] = [
        .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(300),
    ]

    func record(_ operation: APIOperation, status: Int, duration: Duration) {
        registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "keyshard", subsystem: "api", metricName: "requests", unitName: "total",
                helpText: "API requests by operation and HTTP status."),
            labels: [("operation", operation.rawValue), ("status", String(status))]
        ).increment()
        registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(
                namespace: "keyshard", subsystem: "api", metricName: "request_duration", unitName: "seconds",
                helpText: "API request latency by operation."),
            labels: [("operation", operation.rawValue)],
            buckets: Self.buckets
        ).record(duration)
    }
}

/// Refuses Vault's LIST on a path that only reads (LIST arrives as GET with a marker, see
/// ``ListMethod``).
struct RefuseListMiddleware: RouterMiddleware {
    typealias Context = KeyshardRequestContext

    let path: String

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws
        -> Response
    {
        guard !ListMethod.isList(request) else {
            throw HTTPRefusal(
                status: .methodNotAllowed,
                error: KeyshardError(.badRequest, "LIST is not allowed on \(path); use GET"),
                headers: [.allow: "GET"])
        }
        return try await next(request, context)
    }
}
