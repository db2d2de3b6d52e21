import AgentProtocol
import Attestation
import Coordinator
import CustodianBackend
import Foundation
import KeyStore
import KeyshardAPI
import Logging
import ServiceLifecycle
import ShardCrypto
import Synchronization

/// Where the engine writes its audit records; keyshardd adapts the `AuditLog` to it. A record
/// that cannot be written refuses the operation that wanted it.
public protocol EngineAuditing: Sendable {
    /// Appends one record (event name and flat fields, never secrets).
    func record(_ event: String, _ fields: [String: String]) async throws
}

/// keyshardd's engine: keeps rings of attested custodians alive and runs every key operation
/// across them. It implements ``KeyshardAPI/KeyshardService`` for the server and is a `Service`
/// whose `run()` rediscovers custodians left by an earlier daemon, then heart-beats them,
/// watches the backend for custodians that stop, and repairs rings, until shutdown.
///
/// Shares exist only inside custodians: the engine moves sealed or credential-wrapped payloads
/// between them and keeps public commitments (``KeyStore``), never a share.
public final class Engine: KeyshardService, Service, Sendable {
    let configuration: EngineConfiguration
    let store: KeyStore
    let audit: any EngineAuditing
    let backend: any CustodianBackend
    let identity: CoordinatorIdentity
    let logger: Logger
    /// The attestation policy when the configuration names one; nil uses the backend's.
    let policySource: @Sendable () throws -> AttestationPolicy?
    let version: String

    private let attestorBox = Mutex<CustodianAttestor?>(nil)
    let ringsBox = Mutex<[String: RingRuntime]>([:])
    let custodiansBox = Mutex<[String: LiveCustodian]>([:])
    let readiness = Readiness()
    let repairQueue: AsyncStream<String>
    let repairContinuation: AsyncStream<String>.Continuation

    /// Creates an engine; nothing runs until `run()`.
    /// - Parameters:
    ///   - configuration: cadences, windows and defaults.
    ///   - store: the durable state.
    ///   - audit: where audit records go.
    ///   - backend: where custodians run.
    ///   - identity: the coordinator key custodians pin (persist it: a new key orphans every custodian).
    ///   - policySource: reads the configured attestation policy (called again on reload); nil
    ///     result means the backend's own.
    ///   - version: keyshardd's version, for health answers.
    ///   - logger: operational log (never secrets).
    public init(
        configuration: EngineConfiguration, store: KeyStore, audit: any EngineAuditing, backend: any CustodianBackend,
        identity: CoordinatorIdentity, policySource: @escaping @Sendable () throws -> AttestationPolicy? = { nil },
        version: String = "dev", logger: Logger
    ) {
        self.configuration = configuration
        self.store = store
        self.audit = audit
        self.backend = backend
        self.identity = identity
        self.policySource = policySource
        self.version = version
        self.logger = logger
        (repairQueue, repairContinuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .unbounded)
    }

    // MARK: Service

    public func run() async throws {
        do {
            try makeAttestor()
            try await reconcile()
        } catch {
            readiness.fail(KeyshardError(.internalError, "keyshardd could not start its engine: \(error)"))
            throw error
        }
        readiness.open()
        logger.info("engine ready", metadata: ["rings": "\(ringsBox.withLock { $0.count })", "backend": "\(backend.kind)"])
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.backend.monitor() }
                group.addTask { await self.watchBackendEvents() }
                group.addTask { await self.heartbeatLoop() }
                group.addTask { await self.repairLoop() }
                group.addTask { await self.ageLoop() }
                // Runs until cancelled (graceful shutdown cancels the service's task).
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    self.readiness.onShutdown { continuation.resume() }
                }
                group.cancelAll()
            }
            } onGracefulShutdown: {
                self.readiness.shutdown()
            }
        } onCancel: {
            self.readiness.shutdown()
        }
        repairContinuation.finish()
        let open = custodiansBox.withLock { Array($0.values) }
        for custodian in open { try? await custodian.client.close() }
        logger.info("engine stopped; custodians keep running for the next keyshardd")
    }

    /// Destroys every custodian this engine knows (the `--dev` daemon's clean exit).
    public func destroyAllCustodians() async {
        for record in (try? await backend.discover()) ?? [] {
            try? await backend.destroy(record)
            _ = try? await store.deleteCustodian(record.backendID)
        }
    }

    /// Runs `body` with every custodian answer passed through `tamper` first: how tests play a
    /// compromised custodian (a wrong partial, a forged signature share). Test use only.
    public static func withTamperedAnswers<T>(
        _ tamper: @escaping @Sendable (CustodianRecord, AgentMessage) async throws -> AgentMessage,
        _ body: () async throws -> T
    ) async rethrows -> T {
        try await LiveCustodian.$tamperedAnswers.withValue(tamper) { try await body() }
    }

    // MARK: Attestor

    var attestor: CustodianAttestor {
        get throws(KeyshardError) {
            guard let attestor = attestorBox.withLock({ $0 }) else {
                throw KeyshardError(.internalError, "the engine has no attestor yet")
            }
            return attestor
        }
    }

    /// The pins every custodian boots with.
    func pins() throws(KeyshardError) -> CustodianPins {
        do {
            let roots = try backend.endorsementRootsPEM()
            return try CustodianPins(
                coordinatorKey: identity.publicKey,
                endorsementRootDigests: try CustodianPins.endorsementRootDigests(pemTexts: roots),
                minimumThreshold: configuration.minimumThreshold)
        } catch {
            throw KeyshardError(.internalError, "cannot make the custodians' pins: \(error)")
        }
    }

    /// (Re)builds the attestor from the configured or the backend's policy and installs it.
    @discardableResult
    func makeAttestor() throws(KeyshardError) -> CustodianAttestor {
        let attestor = try buildAttestor()
        attestorBox.withLock { $0 = attestor }
        return attestor
    }

    /// Installs an attestor built by ``buildAttestor()``.
    func install(_ attestor: CustodianAttestor) { attestorBox.withLock { $0 = attestor } }

    /// An attestor for the configured or the backend's policy as it reads now (not installed).
    func buildAttestor() throws(KeyshardError) -> CustodianAttestor {
        let pins = try pins()
        do {
            let policy = try policySource() ?? backend.attestationPolicy(for: pins)
            var attestor = CustodianAttestor(
                policy: policy, identity: identity, endorsementRootsPEM: try backend.endorsementRootsPEM())
            attestor.heartbeatWindow = configuration.freshnessWindow
            return attestor
        } catch {
            throw KeyshardError(.badRequest, "the attestation policy cannot be loaded: \(error)")
        }
    }

    // MARK: Errors

    /// Runs an API operation: waits for startup, converts every error to a ``KeyshardError``.
    func api<T: Sendable>(_ body: () async throws -> T) async throws(KeyshardError) -> T {
        try await readiness.wait()
        do {
            return try await body()
        } catch {
            throw Self.keyshardError(error)
        }
    }

    static func keyshardError(_ error: any Error) -> KeyshardError {
        switch error {
        case let error as KeyshardError: error
        case let error as AgentFailure: error.asKeyshardError
        case let error as KeyStoreError: KeyshardError(Self.code(for: error), error.description)
        case let error as BackendError: KeyshardError(.custodianFailure, "the custodian backend failed: \(error)")
        case let error as CoordinatorError: KeyshardError(.custodianFailure, "\(error)")
        case is CancellationError: KeyshardError(.internalError, "the operation was cancelled (keyshardd is stopping)")
        default: KeyshardError(.internalError, "\(error)")
        }
    }

    static func code(for error: KeyStoreError) -> KeyshardError.Code {
        switch error.code {
        case .exists: .exists
        case .notFound: .notFound
        case .busy: .busy
        case .invalid: .badRequest
        default: .internalError
        }
    }

    /// Writes an audit record or refuses.
    func audited(_ event: String, _ fields: [String: String]) async throws(KeyshardError) {
        do {
            try await audit.record(event, fields)
        } catch {
            logger.error("audit record not written; refusing", metadata: ["event": "\(event)", "error": "\(error)"])
            throw KeyshardError(.auditUnavailable, "the audit log cannot be written (\(error)), so the operation was refused")
        }
    }

    /// Writes an audit record of something that already happened; a failure is logged loudly.
    func note(_ event: String, _ fields: [String: String]) async {
        do { try await audit.record(event, fields) } catch {
            logger.critical("audit record lost", metadata: ["event": "\(event)", "error": "\(error)"])
        }
    }
}

/// Startup gate: API calls wait until the engine reconciled its custodians, and the run loop
/// waits for shutdown.
final class Readiness: Sendable {
    private struct State {
        var open = false
        var failure: KeyshardError?
        var waiters: [CheckedContinuation<Void, Never>] = []
        var shutdown = false
        var onShutdown: [@Sendable () -> Void] = []
    }

    private let state = Mutex(State())

    func wait() async throws(KeyshardError) {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { state -> Bool in
                if state.open || state.failure != nil || state.shutdown { return true }
                state.waiters.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
        if let failure = state.withLock({ $0.failure }) { throw failure }
        if state.withLock({ $0.shutdown }) { throw KeyshardError(.internalError, "keyshardd is stopping") }
    }

    func open() { release { $0.open = true } }
    func fail(_ error: KeyshardError) { release { $0.failure = error } }

    func shutdown() {
        let callbacks = state.withLock { state -> [@Sendable () -> Void] in
            state.shutdown = true
            defer { state.onShutdown = [] }
            return state.onShutdown
        }
        release { _ in }
        for callback in callbacks { callback() }
    }

    func onShutdown(_ callback: @escaping @Sendable () -> Void) {
        let now = state.withLock { state -> Bool in
            if state.shutdown { return true }
            state.onShutdown.append(callback)
            return false
        }
        if now { callback() }
    }

    var isShuttingDown: Bool { state.withLock { $0.shutdown } }

    private func release(_ change: (inout State) -> Void) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            change(&state)
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
