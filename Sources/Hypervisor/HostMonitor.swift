import Logging
import ServiceLifecycle

/// Something a `HostMonitor` observed on its host.
public enum HostEvent: Sendable {
    /// A connection was (re)opened and lifecycle events are subscribed on it. After a
    /// generation greater than 1, custodians may have died unseen: rediscover them.
    case connected(uri: String, generation: Int)
    /// A domain lifecycle event.
    case lifecycle(DomainLifecycleEvent)
    /// The connection was lost or could not be opened; the monitor keeps retrying.
    case connectionLost(uri: String, error: LibvirtError?)
}

/// Watches one host for as long as it runs: keeps a connection (reopening it after libvirtd
/// restarts), keeps a lifecycle subscription on the current connection, and reports both
/// through `events`. Needs a running `LibvirtEventLoop` (put both in one `ServiceGroup`).
public final class HostMonitor: Service, Sendable {
    /// The host's URI.
    public let uri: String
    /// Everything observed, in order. Finishes when `run()` returns.
    public let events: AsyncStream<HostEvent>

    private let continuation: AsyncStream<HostEvent>.Continuation
    private let holder: ReconnectingConnection
    private let retryInterval: Duration
    private let logger: Logger

    /// A monitor for `uri`.
    ///
    /// - Parameters:
    ///   - uri: the host's libvirt URI.
    ///   - retryInterval: how long to wait between reconnection attempts, and how often the
    ///     connection's liveness is checked (keepalive closes a dead one sooner on remote URIs).
    ///   - logger: where connection changes are logged.
    public init(
        uri: String, retryInterval: Duration = .seconds(1),
        logger: Logger = Logger(label: "keyshard.hypervisor.host-monitor")
    ) {
        self.uri = uri
        self.retryInterval = retryInterval
        self.logger = logger
        self.holder = ReconnectingConnection(uri: uri)
        (events, continuation) = AsyncStream.makeStream(of: HostEvent.self, bufferingPolicy: .unbounded)
    }

    /// Watches until graceful shutdown or cancellation, then finishes `events`.
    public func run() async throws {
        defer { continuation.finish() }
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.watchOneConnection()
                try? await Task.sleep(for: self.retryInterval)
            }
        }
    }

    /// Opens (or reuses) a connection, subscribes, forwards events until the connection dies.
    private func watchOneConnection() async {
        let connection: Connection
        let lifecycle: AsyncStream<DomainLifecycleEvent>
        do {
            let holder = self.holder
            (connection, lifecycle) = try await offCooperativePool {
                let connection = try holder.connection()
                return (connection, try connection.lifecycleEvents())
            }
        } catch {
            holder.invalidate()
            logger.info("host unreachable", metadata: ["uri": "\(uri)", "error": "\(error)"])
            continuation.yield(.connectionLost(uri: uri, error: error as? LibvirtError))
            return
        }
        let generation = holder.generation
        logger.info("host connected", metadata: ["uri": "\(uri)", "generation": "\(generation)"])
        continuation.yield(.connected(uri: uri, generation: generation))

        let continuation = self.continuation
        let retryInterval = self.retryInterval
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await event in lifecycle { continuation.yield(.lifecycle(event)) }
            }
            group.addTask {
                while !Task.isCancelled && connection.isAlive {
                    try? await Task.sleep(for: retryInterval)
                }
            }
            // The liveness watcher ends first: on a dead connection, or on cancellation.
            await group.next()
            group.cancelAll()
        }
        if !Task.isCancelled {
            holder.invalidate()
            logger.info("host connection lost", metadata: ["uri": "\(uri)"])
            continuation.yield(.connectionLost(uri: uri, error: nil))
        }
    }
}
