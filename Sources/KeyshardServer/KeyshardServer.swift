import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import KeyshardAPI
import Logging
import NIOCore
import NIOSSL
import Prometheus
import ServiceLifecycle
import Synchronization

/// keyshardd's HTTP API: Vault's transit engine (and keyshard's own endpoints) over a Unix
/// socket, and optionally over TCP with mandatory mutual TLS, in front of a ``KeyshardService``.
///
/// Run it in the daemon's `ServiceGroup`; a graceful shutdown stops accepting connections,
/// lets requests in flight finish, and removes the socket file. Each request passes, in order:
/// metrics, caller identity (SO_PEERCRED or the client certificate), the `api.call` audit record
/// (no record, no operation), the role check, then the operation; `api.result` follows.
public struct KeyshardServer: Service {
    private let service: any KeyshardService
    private let roles: any RoleResolver
    private let audit: any AuditSink
    private let configuration: ServerConfiguration
    private let logger: Logger
    private let registry: PrometheusCollectorRegistry
    private let onListening: (@Sendable () async -> Void)?

    /// Creates the server; nothing listens until ``run()``.
    /// - Parameters:
    ///   - service: the engine.
    ///   - roles: maps callers to roles (the configuration's `roles:`).
    ///   - audit: where `api.call` and `api.result` go.
    ///   - configuration: socket, TLS listener and limits.
    ///   - logger: for the server's own events (never request bodies).
    ///   - metrics: the registry `/metrics` exposes; pass the daemon's to show the engine's
    ///     metrics beside the API's.
    ///   - onListening: called once every listener is bound and the socket has its mode, e.g.
    ///     to tell systemd the daemon is ready.
    public init(
        service: any KeyshardService, roles: any RoleResolver, audit: any AuditSink,
        configuration: ServerConfiguration, logger: Logger,
        metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        onListening: (@Sendable () async -> Void)? = nil
    ) {
        self.service = service
        self.roles = roles
        self.audit = audit
        self.configuration = configuration
        self.logger = logger
        self.registry = metrics
        self.onListening = onListening
    }

    /// Binds the listeners and serves until graceful shutdown or cancellation.
    /// - Throws: ``KeyshardServerError`` when the socket path is taken by a live daemon or is not
    ///   a socket, its mode or group cannot be set, or the TLS files cannot be loaded; NIO's
    ///   errors when binding fails.
    public func run() async throws {
        do {
            try UnixSocketFile.prepare(configuration.socketPath)
        } catch {
            throw KeyshardServerError(error.description)
        }
        let tlsConfiguration = try configuration.tls.map(Self.tlsConfiguration)
        let routes = Routes(service: service, configuration: configuration, registry: registry)
        let responder = routes.router(roles: roles, audit: audit, metrics: APIMetrics(registry: registry))
            .buildResponder()
        let readiness = Readiness(listeners: tlsConfiguration == nil ? 1 : 2, onListening: onListening)
        let socket = SocketState()
        let path = configuration.socketPath
        let unixApplication = Application(
            responder: responder, server: .vaultHTTP1(configuration: configuration),
            configuration: ApplicationConfiguration(address: .unixDomainSocket(path: path)),
            onServerRunning: { [configuration, logger] channel in
                socket.bound(UnixSocketFile.identity(path))
                do {
                    try UnixSocketFile.applyPermissions(
                        path, mode: configuration.socketMode, group: configuration.socketGroup)
                } catch {
                    // Serving with the wrong permissions is worse than not serving.
                    socket.failed(KeyshardServerError("\(error)"))
                    try? await channel.close()
                    return
                }
                logger.info(
                    "listening",
                    metadata: ["socket": .string(path), "mode": .string(String(configuration.socketMode, radix: 8))])
                await readiness.oneListening()
            },
            logger: logger)
        defer { UnixSocketFile.remove(path, ifStill: socket.identity) }

        try await withThrowingDiscardingTaskGroup { group in
            group.addTask {
                try await unixApplication.run()
                if let failure = socket.failure { throw failure }
            }
            if let tlsConfiguration, let listener = configuration.tls {
                let tlsApplication = Application(
                    responder: responder,
                    server: try .tls(.vaultHTTP1(configuration: configuration), tlsConfiguration: tlsConfiguration),
                    configuration: ApplicationConfiguration(address: .hostname(listener.host, port: listener.port)),
                    onServerRunning: { [logger] channel in
                        logger.info(
                            "listening with mutual TLS",
                            metadata: ["address": .string("\(channel.localAddress.map { "\($0)" } ?? listener.host)")])
                        await readiness.oneListening()
                    },
                    logger: logger)
                group.addTask { try await tlsApplication.run() }
            }
        }
    }

    /// Server certificate and key from the listener's files; clients must present a
    /// certificate that chains to the client CA (no certificate, no connection).
    private static func tlsConfiguration(
        _ listener: ServerConfiguration.TLSListener
    ) throws(KeyshardServerError)
        -> TLSConfiguration
    {
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(listener.certificatePath).map {
                NIOSSLCertificateSource.certificate($0)
            }
            let key = try NIOSSLPrivateKey(file: listener.privateKeyPath, format: .pem)
            let clientCAs = try NIOSSLCertificate.fromPEMFile(listener.clientCAPath)
            guard !chain.isEmpty else { throw KeyshardServerError("\(listener.certificatePath) holds no certificate") }
            guard !clientCAs.isEmpty else { throw KeyshardServerError("\(listener.clientCAPath) holds no certificate") }
            var configuration = TLSConfiguration.makeServerConfigurationWithMTLS(
                certificateChain: chain, privateKey: .privateKey(key), trustRoots: .certificates(clientCAs))
            configuration.minimumTLSVersion = .tlsv12
            return configuration
        } catch let error as KeyshardServerError {
            throw error
        } catch {
            throw KeyshardServerError(
                "cannot load the TLS listener's certificate, key or client CA "
                    + "(\(listener.certificatePath), \(listener.privateKeyPath), \(listener.clientCAPath)): \(error)")
        }
    }
}

/// Why the server could not start or keep serving.
public struct KeyshardServerError: Error, CustomStringConvertible, Sendable {
    /// What is wrong and with which file, for the admin.
    public let description: String

    init(_ description: String) { self.description = description }
}

/// The socket file this server bound, and why serving stopped, shared with the bind callback.
private final class SocketState: Sendable {
    private let state = Mutex<(identity: UnixSocketFile.Identity?, failure: KeyshardServerError?)>((nil, nil))

    func bound(_ identity: UnixSocketFile.Identity?) { state.withLock { $0.identity = identity } }
    func failed(_ failure: KeyshardServerError) { state.withLock { $0.failure = failure } }
    var identity: UnixSocketFile.Identity? { state.withLock { $0.identity } }
    var failure: KeyshardServerError? { state.withLock { $0.failure } }
}

/// Calls `onListening` once, when the last listener is up.
private actor Readiness {
    private var waiting: Int
    private let onListening: (@Sendable () async -> Void)?

    init(listeners: Int, onListening: (@Sendable () async -> Void)?) {
        self.waiting = listeners
        self.onListening = onListening
    }

    func oneListening() async {
        waiting -= 1
        if waiting == 0 { await onListening?() }
    }
}
