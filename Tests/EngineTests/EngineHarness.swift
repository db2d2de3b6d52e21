import Attestation
import AuditLog
import CustodianBackend
import Engine
import Foundation
import KeyStore
import KeyshardAPI
import Logging
import ProcessBackend
import Synchronization
import Testing

/// A real engine on the process backend in a scratch state directory: real agents, real swtpms,
/// a real SQLite store and audit log. ``start()`` runs it as its service would; ``stop()``
/// cancels it (custodians keep running, as after a daemon stop); ``destroy()`` removes everything.
final class EngineHarness: @unchecked Sendable {
    let directory: URL
    let configuration: EngineConfiguration
    private(set) var engine: Engine!
    private(set) var backend: ProcessBackend!
    private var runner: Task<Void, any Error>?
    let logger: Logger

    /// The agent binary beside the test bundle.
    static var agentExecutable: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("keyshard-agent").path
    }

    init(threshold: Int = 2, shares: Int = 3, directory: URL? = nil) {
        self.directory = directory
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("keyshard-engine-\(UUID().uuidString.prefix(8))")
        var configuration = EngineConfiguration()
        configuration.heartbeatInterval = .milliseconds(500)
        configuration.freshnessWindow = .seconds(10)
        configuration.maximumCustodianAge = nil
        configuration.defaultRing = .init(name: "default", threshold: threshold, shares: shares)
        configuration.structuralWait = .seconds(60)
        self.configuration = configuration
        var logger = Logger(label: "engine-test")
        logger.logLevel = .warning
        self.logger = logger
    }

    /// Runs `body` with a new harness and always destroys it afterwards.
    static func with(_ body: (EngineHarness) async throws -> Void) async throws {
        let harness = EngineHarness()
        do {
            try await body(harness)
        } catch {
            await harness.destroy()
            throw error
        }
        await harness.destroy()
    }

    /// Opens the state (identity, store, audit log, backend) and runs the engine until ``stop()``.
    func start(
        policySource: @escaping @Sendable () throws -> AttestationPolicy? = { nil },
        configure: (inout EngineConfiguration) -> Void = { _ in },
        wrapBackend: (ProcessBackend) -> any CustodianBackend = { $0 }
    ) async throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let identity = try EngineIdentity.loadOrCreate(path: directory.appendingPathComponent("coordinator.key").path)
        let store = try KeyStore(path: directory.appendingPathComponent("keyshard.db").path)
        let audit = try AuditLog(path: directory.appendingPathComponent("audit.log").path)
        backend = try ProcessBackend(stateDirectory: directory.path, agentExecutable: Self.agentExecutable, logger: logger)
        var configuration = configuration
        configure(&configuration)
        engine = Engine(
            configuration: configuration, store: store, audit: AuditLogRecorder(audit), backend: wrapBackend(backend),
            identity: identity, policySource: policySource, logger: logger)
        let engine = engine!
        runner = Task { try await engine.run() }
        _ = try await engine.rings()  // waits until startup reconciled
    }

    /// Cancels the engine's run and waits for it; custodians keep running.
    func stop() async {
        runner?.cancel()
        _ = try? await runner?.value
        runner = nil
    }

    /// Stops the engine, destroys every custodian and removes the directory.
    func destroy() async {
        await stop()
        if let backend {
            for record in (try? await backend.discover()) ?? [] { try? await backend.destroy(record) }
        }
        try? FileManager.default.removeItem(at: directory)
    }

    /// Waits until `condition` holds, polling; false after `seconds`.
    func eventually(seconds: Double = 60, _ condition: () async throws -> Bool) async rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(200))
        }
        return try await condition()
    }

    /// The audit log's lines.
    var auditLines: [String] {
        ((try? String(contentsOf: directory.appendingPathComponent("audit.log"), encoding: .utf8)) ?? "")
            .split(separator: "\n").map(String.init)
    }
}
