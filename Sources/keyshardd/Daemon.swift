import AuditLog
import CustodianBackend
import Engine
import Foundation
#if canImport(Glibc)
    import Glibc
#endif
import KeyStore
import KeyshardAPI
import KeyshardConfig
import KeyshardServer
import LibvirtBackend
import Logging
import ProcessBackend
import ServiceLifecycle
import UnixSignals

/// keyshardd's parts, opened from a configuration: state directory, identity, store, audit log,
/// backend, engine, server, and the SIGHUP handler, run together in one ServiceGroup.
struct Daemon {
    let engine: Engine
    let services: [any Service]
    let logger: Logger

    /// Opens everything the configuration names; refuses clearly when a part cannot be opened.
    static func open(_ configuration: KeyshardConfiguration, dev: Bool, logger: Logger) async throws -> Daemon {
        let state = configuration.stateDirectory
        try makePrivateDirectory(state)
        try lockStateDirectory(state)
        let identity = try EngineIdentity.loadOrCreate(path: state + "/coordinator.key")
        let store = try KeyStore(path: configuration.storePath)
        let auditDirectory = (configuration.auditPath as NSString).deletingLastPathComponent
        try makePrivateDirectory(auditDirectory)
        let audit = try AuditLog(path: configuration.auditPath)
        let recorder = AuditLogRecorder(audit)

        let backend: any CustodianBackend
        switch configuration.backend.kind {
        case .process:
            logger.warning(
                "backend: process — custodians are local processes with software TPMs; they isolate NOTHING (any local root reads their memory). For development and tests only.")
            backend = try ProcessBackend(
                stateDirectory: state, agentExecutable: configuration.backend.process.agent, logger: logger)
        case .libvirt:
            backend = try await makeLibvirtBackend(configuration.backend.libvirt, stateDirectory: state, logger: logger)
        }

        var engineConfiguration = EngineConfiguration()
        engineConfiguration.heartbeatInterval = configuration.heartbeat.interval
        engineConfiguration.freshnessWindow = configuration.heartbeat.freshnessWindow
        engineConfiguration.maximumCustodianAge = configuration.custodianMaximumAge
        engineConfiguration.defaultRing = .init(
            name: configuration.defaultRing.name, threshold: configuration.defaultRing.threshold,
            shares: configuration.defaultRing.shares)
        engineConfiguration.newKeyVersionOnQuarantine = configuration.newKeyVersionOn.contains(.quarantine)
        engineConfiguration.newKeyVersionOnPolicyChange = configuration.newKeyVersionOn.contains(.policyChange)
        // The libvirt backend derives each boot's policy from the image policy itself (PCR 9 covers
        // the pins on the command line); only the process backend takes a policy as it is.
        let policyPath = configuration.backend.kind == .process ? configuration.backend.process.policy : nil
        let engine = Engine(
            configuration: engineConfiguration, store: store, audit: recorder, backend: backend, identity: identity,
            policySource: { try policyPath.map { try PolicyFile.load($0) } }, version: keyshardVersion, logger: logger)

        let server = try makeServer(configuration, service: engine, audit: recorder, logger: logger)
        let hangup = HangupService(engine: engine, audit: audit, logger: logger)
        await recorder.note("daemon.started", ["backend": backend.kind, "dev": "\(dev)", "pid": "\(getpid())"])
        return Daemon(engine: engine, services: [engine, hangup, server], logger: logger)
    }

    /// Runs until SIGTERM or SIGINT; the server stops first, then the engine.
    func run() async throws {
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }

    /// The libvirt backend for the settings; hosts and image are checked now, not at the first launch.
    static func makeLibvirtBackend(
        _ settings: KeyshardConfiguration.LibvirtSettings, stateDirectory: String, logger: Logger
    ) async throws -> LibvirtBackend {
        var configuration = LibvirtBackendConfiguration(
            hosts: settings.hosts.map { host in
                LibvirtBackendConfiguration.Host(
                    uri: host.uri, maxCustodians: host.maxCustodians, endorsementRoots: host.endorsementRoots,
                    directory: host.directory, swtpmLogDirectory: host.swtpmLogs.map { .some($0) } ?? nil)
            },
            imageDirectory: settings.imageDirectory, imagePolicyPath: settings.policy,
            directory: settings.directory ?? stateDirectory + "/libvirt")
        configuration.stateDirectory = stateDirectory
        configuration.vcpus = settings.vcpus
        configuration.bootTimeout = settings.bootTimeout
        configuration.firmwareCodePath = settings.firmwareCode
        configuration.firmwareVariablesTemplatePath = settings.firmwareVariables
        configuration.virtualization =
            switch settings.virtualization {
            case .auto: .auto
            case .kvm: .kvm
            case .qemu: .qemu
            }
        configuration.transport =
            switch settings.transport {
            case .auto: .auto
            case .vsock: .vsock
            case .virtioSerial: .virtioSerial
            }
        do {
            return try await LibvirtBackend(configuration: configuration, logger: logger)
        } catch {
            throw DaemonError("the libvirt backend cannot start: \(error.reason)")
        }
    }

    /// Two daemons on one state directory would each think they own its custodians: the second
    /// one refuses to start. The lock is an flock held (by an open descriptor never closed) for
    /// the life of the process, so it goes away when the process does, however it ends.
    static func lockStateDirectory(_ path: String) throws {
        let lockPath = path + "/keyshardd.lock"
        let descriptor = Glibc.open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw DaemonError("cannot open \(lockPath): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw DaemonError("another keyshardd uses the state directory \(path) (\(lockPath) is locked)")
        }
        // Deliberately never closed.
    }

    static func makePrivateDirectory(_ path: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw DaemonError("\(path) exists and is not a directory") }
            return
        }
        do {
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw DaemonError("cannot create \(path): \(error.localizedDescription)")
        }
    }
}

/// keyshardd's version, for `/v1/sys/health`.
let keyshardVersion = "0.9.0"

/// A startup failure with a sentence for the operator.
struct DaemonError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// SIGHUP: reload the attestation policy (re-attesting every custodian at once, replacing those
/// that now fail) and reopen the audit log (after logrotate moved it).
struct HangupService: Service {
    let engine: Engine
    let audit: AuditLog
    let logger: Logger

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            logger.notice("SIGHUP: reopening the audit log and reloading the attestation policy")
            do { try await audit.reopen() } catch { logger.error("audit log reopen failed", metadata: ["error": "\(error)"]) }
            do {
                let result = try await engine.reloadPolicy()
                logger.notice(
                    "policy reloaded", metadata: ["accepted": "\(result.accepted)", "replaced": "\(result.replaced.count)"])
            } catch {
                logger.error("policy reload failed; the previous policy stays", metadata: ["error": "\(error)"])
            }
        }
    }
}

extension AuditLogRecorder {
    /// Records and logs a failure instead of throwing (for records of what already happened).
    func note(_ event: String, _ fields: [String: String]) async {
        try? await record(event, fields)
    }
}
