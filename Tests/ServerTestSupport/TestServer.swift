import Foundation
import KeyshardAPI
import KeyshardServer
import Logging
import ServiceLifecycle
import TestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// Audit records kept in memory; can be made to fail, as a full disk would.
public actor MemoryAuditSink: AuditSink {
    /// The records written, in order.
    public private(set) var records: [(event: String, fields: [String: String])] = []
    private var failing = false

    /// An empty, working sink.
    public init() {}

    /// Makes every later write throw.
    public func startFailing() { failing = true }

    public func record(_ event: String, _ fields: [String: String]) async throws {
        struct DiskFull: Error, CustomStringConvertible { var description: String { "no space left on device" } }
        if failing { throw DiskFull() }
        records.append((event, fields))
    }
}

/// Roles by uid (Unix callers) or certificate subject (TLS callers).
public struct TableRoleResolver: RoleResolver {
    let byUID: [UInt32: Role]
    let bySubject: [String: Role]

    /// A resolver giving each listed uid or subject its role for every key.
    public init(uids: [UInt32: Role] = [:], subjects: [String: Role] = [:]) {
        self.byUID = uids
        self.bySubject = subjects
    }

    public func role(of caller: Caller, forKey key: String?) -> Role? {
        if let subject = caller.certificateSubject { return bySubject[subject] }
        return caller.uid.flatMap { byUID[$0] }
    }
}

/// A real ``KeyshardServer`` on a Unix socket in a fresh temporary directory, for one test.
public struct TestServer: Sendable {
    /// The directory holding the socket; removed afterwards.
    public let directory: URL
    /// The socket.
    public let socketPath: String
    /// The service behind the server.
    public let service: RecordingService
    /// The audit sink.
    public let audit: MemoryAuditSink

    /// Describes a server to ``run(configuration:roles:_:)``.
    public init(directory: URL, socketPath: String, service: RecordingService, audit: MemoryAuditSink) {
        self.directory = directory
        self.socketPath = socketPath
        self.service = service
        self.audit = audit
    }

    /// The test process's uid (tests usually run as root).
    public static var uid: UInt32 { getuid() }

    /// Starts a server, runs `body`, stops the server and removes its directory.
    /// - Parameters:
    ///   - roles: the role resolver (default: the test's uid is admin).
    ///   - configure: changes to the configuration (socket path already set).
    public static func with<T: Sendable>(
        roles: (any RoleResolver)? = nil, service: RecordingService = RecordingService(),
        configure: @Sendable (inout ServerConfiguration) -> Void = { _ in },
        _ body: @Sendable (TestServer) async throws -> T
    ) async throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ks-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = TestServer(
            directory: directory, socketPath: directory.appendingPathComponent("keyshard.sock").path, service: service,
            audit: MemoryAuditSink())
        var configuration = ServerConfiguration(socketPath: server.socketPath)
        configure(&configuration)
        return try await server.run(
            configuration: configuration, roles: roles ?? TableRoleResolver(uids: [uid: .admin]), body)
    }

    /// Runs the server with `configuration` around `body`.
    public func run<T: Sendable>(
        configuration: ServerConfiguration, roles: any RoleResolver, _ body: @Sendable (TestServer) async throws -> T
    ) async throws -> T {
        var logger = Logger(label: "keyshard-server-test")
        logger.logLevel = .warning
        let (ready, readyContinuation) = AsyncStream.makeStream(of: Void.self)
        let server = KeyshardServer(
            service: service, roles: roles, audit: audit, configuration: configuration, logger: logger,
            onListening: { readyContinuation.yield() })
        // A ServiceGroup, as in keyshardd, so the test ends with a graceful shutdown.
        let services = ServiceGroup(
            services: [server], gracefulShutdownSignals: [], cancellationSignals: [], logger: logger)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                defer { readyContinuation.finish() }
                try await services.run()
                return nil
            }
            var iterator = ready.makeAsyncIterator()
            guard await iterator.next() != nil else {
                // The server stopped before listening: its error is the test's.
                while let _ = try await group.next() {}
                throw TestServerError.stoppedBeforeListening
            }
            do {
                let result = try await body(self)
                await services.triggerGracefulShutdown()
                while let _ = try await group.next() {}
                return result
            } catch {
                await services.triggerGracefulShutdown()
                throw error
            }
        }
    }
}

/// Why a test server did not come up.
public enum TestServerError: Error {
    /// `run()` returned without listening.
    case stoppedBeforeListening
}

/// What curl saw.
public struct CurlResult: Sendable {
    /// The HTTP status (0 when there was none).
    public let status: Int
    /// The response headers, lowercased names.
    public let headers: [String: String]
    /// The body.
    public let body: String
    /// curl's exit status.
    public let exitStatus: Int32

    /// The body as a JSON object.
    public var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
    }
}

/// Raw HTTP over the socket with curl, for what a typed client would hide (methods, envelopes,
/// malformed bodies).
public enum Curl {
    /// Runs curl on a separate thread, so waiting for it does not hold a Swift concurrency
    /// thread the server needs.
    public static func request(
        _ method: String, _ path: String, socket: String, body: String? = nil, headers: [String] = [],
        extraArguments: [String] = []
    ) async throws -> CurlResult {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("curl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let headerFile = scratch.appendingPathComponent("headers").path
        var arguments = [
            "--silent", "--show-error", "--unix-socket", socket, "--request", method, "--dump-header", headerFile,
        ]
        for header in headers { arguments += ["--header", header] }
        var input: [UInt8] = []
        if let body {
            arguments += ["--header", "Content-Type: application/json", "--data-binary", "@-"]
            input = Array(body.utf8)
        }
        arguments += extraArguments
        arguments.append("http://localhost\(path)")
        let finalArguments = arguments
        let finalInput = input
        let result = try await runOffPool {
            try ProcessRunner.run("/usr/bin/curl", finalArguments, input: finalInput, timeout: 60)
        }
        let headerText = (try? String(contentsOfFile: headerFile, encoding: .utf8)) ?? ""
        var status = 0
        var headerFields: [String: String] = [:]
        for line in headerText.split(whereSeparator: \.isNewline) {
            if line.hasPrefix("HTTP/") {
                status = Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
            } else if let colon = line.firstIndex(of: ":") {
                headerFields[line[..<colon].lowercased()] = line[line.index(after: colon)...]
                    .trimmingCharacters(in: .whitespaces)
            }
        }
        return CurlResult(status: status, headers: headerFields, body: result.standardOutput, exitStatus: result.status)
    }
}

/// Runs blocking work (a child process) on its own thread.
public func runOffPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            continuation.resume(with: Result { try work() })
        }
        thread.start()
    }
}
