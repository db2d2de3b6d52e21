import Engine
import KeyshardAPI
import KeyshardConfig
import KeyshardServer
import Logging
import Metrics
import Prometheus

extension AuditLogRecorder: AuditSink {}

extension Daemon {
    /// The API server the configuration describes.
    static func makeServer(
        _ configuration: KeyshardConfiguration, service: any KeyshardService, audit: AuditLogRecorder, logger: Logger
    ) throws -> KeyshardServer {
        let tls = configuration.tcp.map {
            ServerConfiguration.TLSListener(
                host: $0.host, port: $0.port, certificatePath: $0.certificate, privateKeyPath: $0.key, clientCAPath: $0.clientCA)
        }
        let server = ServerConfiguration(
            socketPath: configuration.socket.path, socketMode: UInt16(configuration.socket.mode & 0o7777),
            socketGroup: configuration.socket.group.map { String($0.gid) }, tls: tls)
        // One registry for the engine's swift-metrics and the server's own: /metrics shows both.
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return KeyshardServer(
            service: service, roles: configuration.roles, audit: audit, configuration: server, logger: logger,
            metrics: registry,
            onListening: {
                logger.notice("keyshardd listening", metadata: ["socket": "\(configuration.socket.path)"])
            })
    }
}
